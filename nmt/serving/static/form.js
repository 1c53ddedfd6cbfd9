// The form: the sentence, the model (a select when several are served), beam size and n-best,
// the model's one-line summary, and the error sentence of the last request.

const DEFAULT_NBEST = 3;
const byTestId = (testid) => document.querySelector(`[data-testid="${testid}"]`);

/** Fill the model choice and the search fields from GET /v1/models. */
export function showModels(info) {
  const { models, defaults, limits } = info;
  byTestId("model-select").replaceChildren(...models.map((model) => new Option(`${model.name} — ${model.summary}`,
    model.name)));
  byTestId("model-field").hidden = models.length < 2;
  const name = byTestId("model-name");
  name.hidden = models.length > 1;
  name.textContent = `Model: ${models[0].name}`;
  byTestId("beam-size").max = String(limits?.max_beam_size ?? 16);
  byTestId("beam-size").value = String(defaults.beam_size);
  byTestId("nbest").max = String(limits?.max_nbest ?? 16);
  byTestId("nbest").value = String(defaultNbest(info));
  showModelSummary(info, models[0].name);
}

export function defaultNbest(info) {
  return Math.min(DEFAULT_NBEST, info.defaults.beam_size);
}

/** "name: en → fr, Transformer, 6+6 layers, ..." beside the page's title. */
export function showModelSummary(info, name) {
  const model = info.models.find((m) => m.name === name) ?? info.models[0];
  byTestId("model-summary").textContent = `${model.name}: ${model.source} → ${model.target}, ${model.summary}`;
}

/** What the form asks for: {model, text, beamSize, nbest} (one line of text, spaces collapsed). */
export function readForm(info) {
  return {
    model: byTestId("model-select").value || info.models[0].name,
    text: byTestId("sentence").value.replace(/\s+/g, " ").trim(),
    beamSize: parseInt(byTestId("beam-size").value, 10) || info.defaults.beam_size,
    nbest: parseInt(byTestId("nbest").value, 10) || 1,
  };
}

export function fillForm(info, request) {
  byTestId("sentence").value = request.text;
  byTestId("model-select").value = request.model;
  byTestId("beam-size").value = String(request.beamSize);
  byTestId("nbest").value = String(request.nbest);
  showModelSummary(info, request.model);
}

/** A saved copy cannot translate: the form stays visible but cannot be used. */
export function lockForm() {
  for (const testid of ["sentence", "model-select", "beam-size", "nbest", "translate"]) byTestId(testid).disabled = true;
}

/** The sentence of the last failure, or nothing (null). */
export function showError(message) {
  const error = byTestId("error");
  error.hidden = !message;
  error.textContent = message ?? "";
}
