// The view in the URL's hash, so a link (or a bookmark, or the saved HTML) reproduces it:
// #text=...&model=...&beam=5&nbest=3&prefix=...&hyp=1&layer=2&head=avg&units=words&src=3&tgt=1&pos=4
// Layers, heads, hypotheses and positions are counted from 1 in the URL, from 0 in the page.

const VIEW_KEYS = ["hyp", "layer", "head", "units", "src", "tgt", "pos"];

const COUNTED = ["hyp", "layer", "head", "src", "tgt", "pos"];

/** The view a hash describes; absent keys are left out. */
export function viewFromHash(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const view = {};
  for (const key of ["text", "model", "prefix", "units"]) {
    if (params.has(key)) view[key] = params.get(key);
  }
  for (const key of ["beam", "nbest"]) {
    const number = parseInt(params.get(key), 10);
    if (number > 0) view[key] = number;
  }
  for (const key of COUNTED) {
    if (key === "head" && params.get(key) === "avg") view.head = "avg";
    else {
      const number = parseInt(params.get(key), 10);
      if (number > 0) view[key] = number - 1;
    }
  }
  if (view.units !== "pieces" && view.units !== "words") delete view.units;
  return view;
}

/** The hash of `view` (its null and undefined keys are left out). */
export function hashOfView(view) {
  const params = new URLSearchParams();
  for (const key of ["text", "model", "beam", "nbest", "prefix", "hyp", "layer", "head", "units", "src", "tgt", "pos"]) {
    const value = view[key];
    if (value === null || value === undefined || value === "") continue;
    const counted = COUNTED.includes(key) && value !== "avg";
    params.set(key, String(counted ? value + 1 : value));
  }
  return `#${params.toString()}`;
}

/** The translation request a hash asks for, the server's defaults (`info`, GET /v1/models) filling the gaps. */
export function requestOfHash(hashView, info, nbest) {
  const { models, defaults } = info;
  return {
    model: models.some((m) => m.name === hashView.model) ? hashView.model : models[0].name,
    text: hashView.text,
    beamSize: hashView.beam ?? defaults.beam_size,
    nbest: hashView.nbest ?? nbest,
    prefix: hashView.prefix ?? null,
  };
}

/** The view options of a hash: hypothesis, layer, head, units, chosen words and position. */
export function viewOptionsOf(hashView) {
  return Object.fromEntries(VIEW_KEYS.filter((key) => key in hashView).map((key) => [key, hashView[key]]));
}
