// The attention explorer: one page state, the form, and the views drawn from it (result.js,
// confidence.js, matrix.js, selfattention.js; export.js keeps them). The URL's hash mirrors the
// state (permalink.js); a saved standalone copy carries the state in a JSON script element
// instead of asking the server.

import { fetchModels, translateSentence } from "./api.js";
import { drawConfidence } from "./confidence.js";
import {
  crossMatrix, crossModule, matrixTitle, missingAttention, sourceSide, targetSide, unitsFor,
} from "./explanation.js";
import { downloadBlob, drawMatrixFigure, pngOf, standaloneHtml } from "./export.js";
import {
  defaultNbest, fillForm, lockForm, readForm, showError, showModels, showModelSummary,
} from "./form.js";
import { createMatrixView, drawLegend } from "./matrix.js";
import { hashOfView, requestOfHash, viewFromHash, viewOptionsOf } from "./permalink.js";
import { drawResult } from "./result.js";
import { drawSelfAttention } from "./selfattention.js";
import { detokenize, nestedOf } from "./units.js";

const byTestId = (testid) => document.querySelector(`[data-testid="${testid}"]`);

const page = {
  info: null, // GET /v1/models
  offline: false, // a saved standalone copy: no server
  request: null, // {model, text, beamSize, nbest, prefix}
  translation: null, // the answer's one translation: {source, source_pieces, hypotheses, warnings}
  view: { hyp: 0, layer: null, head: "avg", units: "words", src: null, tgt: null, pos: 0 },
  asked: 0, // translations asked for; an answer to an older one is dropped
};
const timing = { lastRenderMs: null, lastLayoutMs: null, lastSelfRenderMs: null, renders: 0 };
let matrixView;

function modelInfo() {
  const models = page.info?.models ?? [];
  return models.find((model) => model.name === page.request?.model) ?? models[0];
}

function hypothesis() {
  return page.translation?.hypotheses[page.view.hyp] ?? null;
}

function shownMatrix() {
  return crossMatrix(page.translation, hypothesis(), page.view);
}

// ---- drawing -----------------------------------------------------------------------------

function drawEverything() {
  showModelSummary(page.info, page.request.model);
  byTestId("result").hidden = false;
  drawResult({
    translation: byTestId("translation"), warnings: byTestId("warnings"), steerBanner: byTestId("steer-banner"),
    steerText: byTestId("steer-text"), nbest: byTestId("nbest-list"),
  }, {
    hypotheses: page.translation.hypotheses, chosen: page.view.hyp, warnings: page.translation.warnings,
    prefix: page.request.prefix, language: modelInfo().target,
  }, { onChooseHypothesis: chooseHypothesis });
  byTestId("reset-steer").disabled = page.offline;
  drawConfidencePanel();
  drawAttention();
  drawSelfPanels();
  writeUrl();
}

function drawConfidencePanel() {
  const root = byTestId("confidence");
  const confidence = hypothesis().confidence;
  if (!confidence) {
    root.textContent = modelInfo().explains ? "No token probabilities in this answer."
      : "This model (a CTranslate2 export) gives no token probabilities.";
    return;
  }
  page.view.pos = Math.min(page.view.pos, confidence.probabilities.length - 1);
  drawConfidence(root, {
    pieces: hypothesis().target_pieces, probabilities: confidence.probabilities,
    alternatives: confidence.alternatives, position: page.view.pos, steerable: !page.offline,
  }, { onChoosePosition: choosePosition, onSteer: steer });
}

/** The matrix, its title, choices and legend; times itself (window.nmtExplorer.lastRenderMs). */
function drawAttention() {
  byTestId("attention").hidden = false;
  const missing = missingAttention(modelInfo(), hypothesis());
  const message = byTestId("attention-message");
  message.hidden = !missing;
  message.textContent = missing ?? "";
  for (const testid of ["matrix", "matrix-legend", "download-png", "layer-field", "head-field", "units-field"]) {
    byTestId(testid).hidden = Boolean(missing);
  }
  if (missing) {
    byTestId("matrix-title").textContent = "Cross-attention";
    return;
  }
  const started = performance.now();
  drawLayerAndHeadChoices();
  const shown = shownMatrix();
  byTestId("matrix-title").textContent = matrixTitle(modelInfo(), hypothesis(), page.view);
  matrixView.draw({ ...shown, selectedSource: page.view.src, selectedTarget: page.view.tgt });
  drawLegend(byTestId("matrix-legend"), shown.grid, page.view.units);
  timing.lastRenderMs = performance.now() - started;
  timing.renders += 1;
  const matrix = byTestId("matrix");
  matrix.dataset.renderMs = timing.lastRenderMs.toFixed(3);
  matrix.dataset.renders = String(timing.renders);
  void matrix.offsetHeight; // style and layout now (the next frame would do them anyway), to time them too
  timing.lastLayoutMs = performance.now() - started;
}

function drawLayerAndHeadChoices() {
  const modules = hypothesis().attention.cross;
  const several = modelInfo().family === "transformer";
  byTestId("layer-field").hidden = !several;
  byTestId("head-field").hidden = !several;
  const module = crossModule(hypothesis(), page.view.layer);
  fillSelect(byTestId("layer-select"), modules.map((m, i) => [String(i), `layer ${m.layer + 1}`]),
    String(modules.indexOf(module)));
  fillSelect(byTestId("head-select"),
    [["avg", "average of heads"], ...module.weights.map((_, h) => [String(h), `head ${h + 1}`])],
    String(page.view.head));
  byTestId("units-select").value = page.view.units;
}

function fillSelect(select, options, value) {
  const same = select.options.length === options.length
    && options.every(([optionValue, label], i) => select.options[i].value === optionValue
      && select.options[i].textContent === label);
  if (!same) select.replaceChildren(...options.map(([optionValue, label]) => new Option(label, optionValue)));
  select.value = value;
}

function drawSelfPanels() {
  const started = performance.now();
  const hidden = Boolean(missingAttention(modelInfo(), hypothesis()));
  byTestId("self-attention").hidden = hidden;
  if (!hidden) {
    drawSelfAttention(byTestId("self-source"), sourceSide(modelInfo(), page.translation, hypothesis(), page.view));
    drawSelfAttention(byTestId("self-target"), targetSide(modelInfo(), hypothesis(), page.view));
  }
  timing.lastSelfRenderMs = performance.now() - started;
}

// ---- what a person does ------------------------------------------------------------------

function chooseHypothesis(i) {
  page.view = { ...page.view, hyp: i, tgt: null, pos: 0 };
  drawEverything();
}

function choosePosition(t) {
  page.view.pos = t;
  drawConfidencePanel();
  writeUrl();
}

function chooseSource(c) {
  setView({ src: page.view.src === c ? null : c });
}

function chooseTarget(r) {
  setView({ tgt: page.view.tgt === r ? null : r });
}

/** Re-translate with the pieces before position t and `alternative` forced as the translation's beginning. */
function steer(t, alternative) {
  const prefix = detokenize([...hypothesis().target_pieces.slice(0, t), alternative.piece]);
  page.view = { ...page.view, hyp: 0, tgt: null, pos: t };
  translate({ ...page.request, prefix });
}

/** Switch words <-> pieces, keeping the chosen source and target words (by their first piece). */
function chooseUnits(mode) {
  const sources = (units) => unitsFor(page.translation.source_pieces, units);
  const targets = (units) => unitsFor(hypothesis().target_pieces, units);
  const { src, tgt, units } = page.view;
  const find = (list, unit) => (unit ? list.findIndex((u) => u.pieces.includes(unit.pieces[0])) : null);
  setView({
    units: mode,
    src: find(sources(mode), src === null ? null : sources(units)[src]),
    tgt: find(targets(mode), tgt === null ? null : targets(units)[tgt]),
  });
}

/**
 * Change the view ({layer, head, units} redraw the matrix; {src, tgt} also the self-attention panels)
 * and resolve once the browser has painted it, with the times measured by performance.now():
 * renderMs (building and drawing the matrix), layoutMs (the same plus the page's style and layout),
 * selfMs (the self-attention panels, when redrawn).
 */
function setView(changes) {
  Object.assign(page.view, changes);
  drawAttention();
  if ("src" in changes || "tgt" in changes) drawSelfPanels();
  writeUrl();
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(() => resolve({
    renderMs: timing.lastRenderMs, layoutMs: timing.lastLayoutMs, selfMs: timing.lastSelfRenderMs,
  }), 0)));
}

/** The form's sentence: a new sentence or model forgets the chosen words; any new search shows its best first. */
function translateFromForm() {
  const wanted = readForm(page.info);
  const sameSentence = page.request?.text === wanted.text && page.request?.model === wanted.model;
  page.view = { ...page.view, hyp: 0, pos: 0, ...(sameSentence ? {} : { src: null, tgt: null }) };
  translate({ ...wanted, prefix: sameSentence ? page.request.prefix : null });
}

async function translate(request) {
  if (!request.text) {
    showError("Type a sentence to translate first.");
    return;
  }
  const asked = ++page.asked;
  fillForm(page.info, request);
  showError(null);
  byTestId("translate").disabled = true;
  document.body.dataset.state = "translating";
  byTestId("status").textContent = "Translating…";
  const started = performance.now();
  try {
    const explain = page.info.models.find((model) => model.name === request.model)?.explains ?? true;
    const translation = await translateSentence({ ...request, explain });
    if (asked !== page.asked) return;
    page.request = request;
    page.translation = translation;
    clampView();
    drawEverything();
    byTestId("status").textContent = `Translated in ${Math.round(performance.now() - started)} ms.`;
    document.body.dataset.translations = String(Number(document.body.dataset.translations || 0) + 1);
    document.body.dataset.state = "ready";
  } catch (error) {
    if (asked !== page.asked) return;
    showError(error.message);
    byTestId("status").textContent = "";
    document.body.dataset.state = "error";
  } finally {
    if (asked === page.asked) byTestId("translate").disabled = page.offline;
  }
}

/** Keep the view's indices inside the translation shown. */
function clampView() {
  const view = page.view;
  view.hyp = Math.min(view.hyp, page.translation.hypotheses.length - 1);
  const cross = hypothesis().attention?.cross ?? [];
  if (view.layer !== null && view.layer >= cross.length) view.layer = null;
  if (view.head !== "avg" && view.head >= (cross[0]?.weights.length ?? 1)) view.head = "avg";
  if (view.src !== null && view.src >= unitsFor(page.translation.source_pieces, view.units).length) view.src = null;
  if (view.tgt !== null && view.tgt >= unitsFor(hypothesis().target_pieces, view.units).length) view.tgt = null;
}

// ---- the URL and the saved copy ----------------------------------------------------------

function writeUrl() {
  const { request, view } = page;
  const hash = hashOfView({
    text: request.text, model: request.model, beam: request.beamSize, nbest: request.nbest, prefix: request.prefix,
    hyp: view.hyp, layer: view.layer, head: view.head, units: view.units, src: view.src, tgt: view.tgt, pos: view.pos,
  });
  if (hash !== window.location.hash) history.replaceState(null, "", hash);
  byTestId("permalink").href = hash;
}

function snapshot() {
  return {
    savedAt: new Date().toISOString(), info: { ...page.info, models: [modelInfo()] },
    request: page.request, translation: page.translation, view: page.view,
  };
}

async function saveHtml() {
  try {
    const html = await standaloneHtml(snapshot());
    downloadBlob(new Blob([html], { type: "text/html" }), `attention-${page.request.model}.html`);
  } catch (error) {
    showError(`The HTML file could not be made: ${error.message}.`);
  }
}

async function savePng() {
  const title = matrixTitle(modelInfo(), hypothesis(), page.view);
  const figure = drawMatrixFigure({ title, subtitle: `${page.request.model}: ${page.request.text}`, ...shownMatrix() });
  const head = page.view.head === "avg" ? "average" : `head${page.view.head + 1}`;
  const layer = crossModule(hypothesis(), page.view.layer).layer + 1;
  downloadBlob(await pngOf(figure), `attention-${page.request.model}-layer${layer}-${head}.png`);
}

// ---- start -------------------------------------------------------------------------------

function listen() {
  const form = byTestId("translate-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    translateFromForm();
  });
  byTestId("sentence").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  byTestId("model-select").addEventListener("change", () => {
    showModelSummary(page.info, byTestId("model-select").value);
    if (byTestId("sentence").value.trim()) translateFromForm();
  });
  byTestId("reset-steer").addEventListener("click", () => translate({ ...page.request, prefix: null }));
  byTestId("layer-select").addEventListener("change", (event) => setView({ layer: Number(event.target.value) }));
  byTestId("head-select").addEventListener("change", (event) => {
    setView({ head: event.target.value === "avg" ? "avg" : Number(event.target.value) });
  });
  byTestId("units-select").addEventListener("change", (event) => chooseUnits(event.target.value));
  byTestId("download-html").addEventListener("click", saveHtml);
  byTestId("download-png").addEventListener("click", savePng);
  let resizing;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => page.translation && drawAttention(), 150);
  });
}

function openSavedCopy(saved) {
  page.offline = true;
  page.info = saved.info;
  page.request = saved.request;
  page.translation = saved.translation;
  page.view = { ...saved.view, ...viewOptionsOf(viewFromHash(window.location.hash)) };
  showModels(page.info);
  fillForm(page.info, page.request);
  lockForm();
  byTestId("download-html").hidden = true;
  const note = byTestId("offline-note");
  note.hidden = false;
  note.textContent = `A saved copy (${saved.savedAt}): the translation and its attention as nmt-serve gave them. `
    + "Every view works offline; translating or steering again needs the server.";
  clampView();
  drawEverything();
  document.body.dataset.translations = "1";
  document.body.dataset.state = "ready";
}

/** window.nmtExplorer: the page's state and timings, for benchmarks, tests and the console. */
function exposeState() {
  window.nmtExplorer = {
    get lastRenderMs() { return timing.lastRenderMs; },
    get lastLayoutMs() { return timing.lastLayoutMs; },
    get lastSelfRenderMs() { return timing.lastSelfRenderMs; },
    get renders() { return timing.renders; },
    view: () => ({ ...page.view }),
    request: () => (page.request ? { ...page.request } : null),
    translation: () => page.translation,
    layers: () => (hypothesis()?.attention?.cross.length ?? 0),
    heads: () => (hypothesis()?.attention?.cross.length ? crossModule(hypothesis(), page.view.layer).weights.length : 0),
    matrix: () => {
      if (!page.translation || missingAttention(modelInfo(), hypothesis())) return null;
      const { grid, rowUnits, colUnits } = shownMatrix();
      return { title: matrixTitle(modelInfo(), hypothesis(), page.view), rows: rowUnits.map((u) => u.label),
        cols: colUnits.map((u) => u.label), weights: nestedOf(grid) };
    },
    setView,
    standaloneHtml: () => standaloneHtml(snapshot()),
  };
}

async function boot() {
  matrixView = createMatrixView(byTestId("matrix"), { onSelectSource: chooseSource, onSelectTarget: chooseTarget });
  exposeState();
  listen();
  const saved = document.getElementById("nmt-snapshot");
  if (saved) {
    openSavedCopy(JSON.parse(saved.textContent));
    return;
  }
  document.body.dataset.state = "loading-models";
  try {
    page.info = await fetchModels();
  } catch (error) {
    showError(error.message);
    document.body.dataset.state = "error";
    return;
  }
  showModels(page.info);
  document.body.dataset.state = "idle";
  const hashView = viewFromHash(window.location.hash);
  if (hashView.text) {
    Object.assign(page.view, viewOptionsOf(hashView));
    await translate(requestOfHash(hashView, page.info, defaultNbest(page.info)));
  }
}

boot();
