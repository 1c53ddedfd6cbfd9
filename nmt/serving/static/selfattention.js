// Self-attention of one chosen word: for every layer and head, a strip of cells (one per word
// of the same side, viridis from 0 to the largest weight of the panel) and the word it attends to most.

import { VIRIDIS, viridisIndex } from "./viridis.js";
import { argmax, maxOf } from "./units.js";

const STRIP_HEIGHT = 16; // px
const STRIP_WIDTH = 200; // px the strips aim for; cells are 2 to 18 px wide
const LABELLED_CELL = 12; // px: from this cell width on, the words are written above the strips

function stripCell(count) {
  return Math.max(2, Math.min(18, Math.floor(STRIP_WIDTH / count)));
}

/**
 * Draw one side's panel into `root`: `side` = {title, note, labels, layers: [{layer, heads: [weights]}]},
 * or {message} when there is nothing to show (no word chosen, or no self-attention in this model).
 */
export function drawSelfAttention(root, side) {
  if (side.message !== undefined) {
    root.replaceChildren(...(side.message ? [paragraph(side.message, "self-message")] : []));
    return;
  }
  const max = Math.max(...side.layers.flatMap((layer) => layer.heads.map(maxOf))) || 1;
  const heading = document.createElement("h3");
  heading.textContent = side.title;
  heading.dataset.testid = "self-title";
  const cell = stripCell(side.labels.length);
  root.replaceChildren(heading, paragraph(side.note, "self-note"),
    ...(cell >= LABELLED_CELL ? [stripLabels(side.labels, cell)] : []),
    ...side.layers.map((layer) => layerBlock(layer, side.labels, max)));
}

/** The words above the strips, one per cell, written upwards. */
function stripLabels(labels, cell) {
  const row = document.createElement("div");
  row.className = "self-head self-labels";
  row.setAttribute("aria-hidden", "true");
  const words = document.createElement("div");
  words.className = "self-label-row";
  words.append(...labels.map((label) => {
    const word = document.createElement("span");
    word.textContent = label;
    word.title = label;
    word.style.width = `${cell}px`;
    return word;
  }));
  row.append(document.createElement("span"), words, document.createElement("span"));
  return row;
}

function paragraph(text, testid) {
  const element = document.createElement("p");
  element.className = testid;
  element.dataset.testid = testid;
  element.textContent = text;
  return element;
}

function layerBlock({ layer, heads }, labels, max) {
  const block = document.createElement("div");
  block.className = "self-layer";
  const name = document.createElement("div");
  name.className = "self-layer-name";
  name.textContent = `Layer ${layer + 1}`;
  block.append(name, ...heads.map((weights, head) => headRow(layer, head, weights, labels, max)));
  return block;
}

function headRow(layer, head, weights, labels, max) {
  const row = document.createElement("div");
  row.className = "self-head";
  row.dataset.testid = "self-head";
  row.dataset.layer = String(layer);
  row.dataset.head = String(head);
  const top = argmax(weights);
  row.dataset.top = labels[top];
  row.dataset.topIndex = String(top);
  row.title = topWords(weights, labels, 3);
  const name = document.createElement("span");
  name.className = "self-head-name";
  name.textContent = `head ${head + 1}`;
  const word = document.createElement("span");
  word.className = "self-top-word";
  word.textContent = `${labels[top]} `;
  const weight = document.createElement("small");
  weight.textContent = weights[top].toFixed(2);
  word.append(weight);
  row.append(name, drawStrip(weights, labels, max), word);
  return row;
}

function topWords(weights, labels, count) {
  return Array.from(weights.keys()).sort((a, b) => weights[b] - weights[a]).slice(0, count)
    .map((i) => `${labels[i]} ${weights[i].toFixed(3)}`).join(" · ");
}

/** One head's weights as a row of cells; hovering a cell names its word and weight. */
function drawStrip(weights, labels, max) {
  const canvas = document.createElement("canvas");
  const cell = stripCell(weights.length);
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(weights.length * cell * ratio);
  canvas.height = Math.round(STRIP_HEIGHT * ratio);
  canvas.style.width = `${weights.length * cell}px`;
  canvas.style.height = `${STRIP_HEIGHT}px`;
  canvas.className = "self-strip";
  const context = canvas.getContext("2d");
  weights.forEach((weight, i) => {
    const colour = viridisIndex(weight / max) * 3;
    context.fillStyle = `rgb(${VIRIDIS[colour]}, ${VIRIDIS[colour + 1]}, ${VIRIDIS[colour + 2]})`;
    context.fillRect(Math.round(i * cell * ratio), 0, Math.ceil(cell * ratio), canvas.height);
  });
  canvas.addEventListener("mousemove", (event) => {
    const i = Math.floor((event.clientX - canvas.getBoundingClientRect().left) / cell);
    if (i >= 0 && i < weights.length) canvas.title = `${labels[i]}: ${weights[i].toFixed(4)}`;
  });
  return canvas;
}
