// The answer of POST /v1/translate shaped for the views: which map a view shows, its rows and
// columns (words or pieces), what a self-attention panel lists, and why a model has nothing to show.
// Nothing here draws; conversions are cached on the answer's own arrays, so a view can tell
// by identity whether its rows and columns changed.

import { aggregate, gridOf, meanOf, unitRow, unitsOf } from "./units.js";

const unitsCache = new WeakMap(); // pieces array -> {words, pieces}
const headsCache = new WeakMap(); // attention module -> {heads: [grid], mean: grid | null}

/** Units of `pieces` in `mode` ("words" | "pieces"), the same array each time. */
export function unitsFor(pieces, mode) {
  if (!unitsCache.has(pieces)) unitsCache.set(pieces, {});
  const cached = unitsCache.get(pieces);
  cached[mode] ??= unitsOf(pieces, mode);
  return cached[mode];
}

/** A module's weights as one grid per head, converted once. */
export function headGrids(module) {
  if (!headsCache.has(module)) headsCache.set(module, { heads: module.weights.map(gridOf), mean: null });
  return headsCache.get(module);
}

/** Head `head` of `module`, or the average of its heads for "avg". */
export function headGrid(module, head) {
  const grids = headGrids(module);
  if (head !== "avg") return grids.heads[Math.min(head, grids.heads.length - 1)];
  grids.mean ??= meanOf(grids.heads);
  return grids.mean;
}

/** The attention's name as /v1/models describes it: Bahdanau (additive), Luong (general), ... */
export function attentionName(model) {
  if (model.attention === "multi-head") return "multi-head attention";
  return { bahdanau: "Bahdanau (additive)", luong: `Luong (${model.score})`, none: "no attention" }[model.attention]
    ?? model.attention;
}

/** Why `hypothesis` has no cross-attention map to show, or null when it has one. */
export function missingAttention(model, hypothesis) {
  if (!model.explains) {
    return `${model.name} is served from a CTranslate2 export: it translates, but shows neither attention `
      + "nor token probabilities; serve its .pt checkpoint to explore them.";
  }
  if (!hypothesis?.attention || hypothesis.attention.cross.length === 0) {
    return `${model.name} has no attention (${model.summary}): its decoder sees the source only through the `
      + "encoder's final state, so there is no attention map to show.";
  }
  return null;
}

/** Why there is no self-attention to show, or null when there is. */
export function missingSelfAttention(model, hypothesis) {
  const missing = missingAttention(model, hypothesis);
  if (missing) return missing;
  if (hypothesis.attention.encoder_self.length === 0) {
    return `${model.name} is an RNN encoder-decoder (${attentionName(model)}): it has no self-attention; its `
      + "encoder and decoder read the sentence with recurrent layers, and its one attention map is the "
      + "cross-attention beside.";
  }
  return null;
}

/** The cross-attention module of `layer` (null: the last layer). */
export function crossModule(hypothesis, layer) {
  const modules = hypothesis.attention.cross;
  return modules[Math.min(layer ?? modules.length - 1, modules.length - 1)];
}

export function matrixTitle(model, hypothesis, view) {
  if (model.family !== "transformer") return `Cross-attention · ${attentionName(model)}`;
  const module = crossModule(hypothesis, view.layer);
  const heads = module.weights.length;
  const head = view.head === "avg" ? `average of ${heads} heads` : `head ${view.head + 1} of ${heads}`;
  return `Cross-attention · decoder layer ${module.layer + 1} of ${hypothesis.attention.cross.length} · ${head}`;
}

/** The matrix shown: target units × source units of the view's layer and head. */
export function crossMatrix(translation, hypothesis, view) {
  const rowUnits = unitsFor(hypothesis.target_pieces, view.units);
  const colUnits = unitsFor(translation.source_pieces, view.units);
  const grid = headGrid(crossModule(hypothesis, view.layer), view.head);
  return { grid: view.units === "words" ? aggregate(grid, rowUnits, colUnits) : grid, rowUnits, colUnits };
}

/** The encoder self-attention panel of the view's source word (drawSelfAttention's argument). */
export function sourceSide(model, translation, hypothesis, view) {
  const missing = missingSelfAttention(model, hypothesis);
  if (missing) return { message: missing };
  const units = unitsFor(translation.source_pieces, view.units);
  if (view.src === null || view.src >= units.length) {
    return { message: "Click a source word (a column label of the matrix) to see which source words it attends to, "
      + "in each encoder layer and head." };
  }
  const word = units[view.src];
  return {
    title: `Encoder self-attention of “${word.label}”`,
    note: "One strip per head over the source words (brighter = more weight); the word each head attends to most "
      + "is named. Hover a strip for each weight.",
    labels: units.map((unit) => unit.label),
    layers: selfLayers(hypothesis.attention.encoder_self, word, units, view.units),
  };
}

/** The decoder self-attention panel of the view's target word. */
export function targetSide(model, hypothesis, view) {
  if (missingSelfAttention(model, hypothesis)) return { message: "" };
  const units = unitsFor(hypothesis.target_pieces, view.units);
  if (view.tgt === null || view.tgt >= units.length) {
    return { message: "Click a target word (a row label) to see which earlier target words the decoder attends to "
      + "when it writes it." };
  }
  const word = units[view.tgt];
  // Row t sees the decoder inputs 0..t (<s> and the pieces before piece t): the later ones get no weight.
  const last = word.pieces[word.pieces.length - 1];
  const inputs = unitsFor(hypothesis.attention.decoder_inputs, view.units).filter((unit) => unit.pieces[0] <= last);
  return {
    title: `Decoder self-attention when writing “${word.label}”`,
    note: "One strip per head over the decoder's inputs it can see: <s> and what was written before it.",
    labels: inputs.map((unit) => unit.label),
    layers: selfLayers(hypothesis.attention.decoder_self, word, inputs, view.units),
  };
}

function selfLayers(modules, word, columns, mode) {
  return modules.map((module) => ({
    layer: module.layer,
    heads: headGrids(module).heads.map((grid) => (mode === "words" ? unitRow(grid, word, columns)
      : grid.data.slice(word.pieces[0] * grid.cols, (word.pieces[0] + 1) * grid.cols))),
  }));
}
