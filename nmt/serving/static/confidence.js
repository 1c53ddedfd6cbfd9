// Confidence and alternatives: every target piece shaded (viridis) by the probability the model
// gave it, and at a chosen position the model's 5 most probable pieces there; choosing one
// steers the translation (the page re-translates with that piece forced after the earlier ones).

import { textColourOn, viridisCss } from "./viridis.js";
import { WORD_START, isSpecial } from "./units.js";

/**
 * Draw into `root`: `state` = {pieces, probabilities, alternatives, position, steerable};
 * `callbacks.onChoosePosition(t)` pins a position, `callbacks.onSteer(t, alternative)` steers.
 */
export function drawConfidence(root, state, callbacks) {
  const tokens = document.createElement("div");
  tokens.className = "confidence-tokens";
  tokens.dataset.testid = "confidence-tokens";
  tokens.setAttribute("role", "group");
  tokens.setAttribute("aria-label", "target pieces shaded by their probability; choose one for its alternatives");
  const panel = document.createElement("div");
  panel.className = "alternatives";
  panel.dataset.testid = "alternatives";
  panel.setAttribute("aria-live", "polite");
  const show = (t) => drawAlternatives(panel, state, t, callbacks);
  tokens.append(...state.pieces.map((piece, t) => tokenButton(piece, t, state, show, callbacks)));
  tokens.addEventListener("mouseleave", () => show(state.position));
  root.replaceChildren(tokens, panel);
  show(state.position);
}

/** A piece as people read it: "▁" dropped (it marks a word start, drawn as a gap). */
export function readablePiece(piece) {
  return piece.replaceAll(WORD_START, "") || WORD_START;
}

function tokenButton(piece, t, state, show, callbacks) {
  const probability = state.probabilities[t];
  const button = document.createElement("button");
  button.type = "button";
  button.className = piece.startsWith(WORD_START) ? "token word-start" : "token";
  button.dataset.testid = "target-token";
  button.dataset.index = String(t);
  button.dataset.piece = piece;
  button.dataset.probability = String(probability);
  button.textContent = readablePiece(piece);
  button.title = `P(${piece}) = ${probability.toFixed(4)}`;
  button.style.background = viridisCss(probability);
  button.style.color = textColourOn(probability);
  button.classList.toggle("chosen", t === state.position);
  button.setAttribute("aria-pressed", String(t === state.position));
  button.addEventListener("mouseenter", () => show(t));
  button.addEventListener("focus", () => show(t));
  button.addEventListener("click", () => callbacks.onChoosePosition(t));
  return button;
}

/** The top 5 at position t: each with its probability as a bar; a click on one steers. */
function drawAlternatives(panel, state, t, callbacks) {
  const written = state.pieces[t];
  const intro = document.createElement("p");
  intro.className = "alternatives-intro";
  intro.textContent = `Position ${t + 1}: the model wrote “${readablePiece(written)}” `
    + `(${state.probabilities[t].toFixed(3)}). Its top ${state.alternatives[t].length} there`
    + (state.steerable ? " — choose one to steer the translation:" : ":");
  const list = document.createElement("ol");
  list.className = "alternatives-list";
  list.append(...state.alternatives[t].map((alternative) => {
    const item = document.createElement("li");
    item.append(alternativeButton(alternative, t, written, state.steerable, callbacks));
    return item;
  }));
  panel.dataset.position = String(t);
  panel.replaceChildren(intro, list);
}

function alternativeButton(alternative, t, written, steerable, callbacks) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "alternative";
  button.dataset.testid = "alternative";
  button.dataset.piece = alternative.piece;
  button.dataset.probability = String(alternative.probability);
  const forcible = steerable && !isSpecial(alternative.piece);
  button.disabled = !forcible;
  button.title = forcible ? `translate again with “${readablePiece(alternative.piece)}” at position ${t + 1}`
    : (steerable ? "a special token cannot be forced into the translation" : "steering needs the server");
  const piece = document.createElement("span");
  piece.className = "alternative-piece";
  piece.textContent = readablePiece(alternative.piece) + (alternative.piece === written ? " (written)" : "");
  const bar = document.createElement("span");
  bar.className = "alternative-bar";
  bar.style.setProperty("--probability", String(alternative.probability));
  const value = document.createElement("span");
  value.className = "alternative-probability";
  value.textContent = alternative.probability.toFixed(3);
  button.append(piece, bar, value);
  button.addEventListener("click", () => callbacks.onSteer(t, alternative));
  return button;
}
