// The one module that talks to nmt-serve: GET /v1/models and POST /v1/translate.
// Every failure becomes an ApiError whose message is one sentence a person can read
// (the server's own {"error": "..."} sentence when it sent one).

export class ApiError extends Error {}

async function call(path, init) {
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(`The server cannot be reached (${error.message}); is nmt-serve still running?`);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status} ${response.statusText} without a JSON body.`);
  }
  if (!response.ok) {
    throw new ApiError(body && typeof body.error === "string" ? body.error : `The server answered ${response.status}.`);
  }
  return body;
}

/** The served models, the server's decoding defaults and its limits. */
export function fetchModels() {
  return call("/v1/models");
}

/**
 * Translate one sentence; `explain` asks for every attention map and the per-token confidence.
 * Returns the response's one translation: {source, source_pieces, hypotheses, warnings}.
 */
export async function translateSentence({ model, text, beamSize, nbest, prefix, explain }) {
  const body = {
    model, text: [text], beam_size: beamSize, nbest, prefix: prefix || null,
    return_attention: explain, return_scores: explain,
  };
  const answer = await call("/v1/translate", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  return answer.translations[0];
}
