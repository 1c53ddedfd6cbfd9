// The cross-attention matrix: target rows × source columns on one <canvas> (one pixel per cell,
// scaled up without smoothing), the words as buttons along the edges, an overlay canvas for
// what the pointer or the keyboard focuses. Colours: viridis from 0 to the map's largest weight.

import { VIRIDIS, viridisGradient, viridisIndex } from "./viridis.js";
import { argmax, columnOf, maxOf, rowOf } from "./units.js";

const MIN_CELL = 14; // px: below this the labels stop being readable, so the matrix scrolls instead
const MAX_CELL = 34;
const GAP_COLOUR = "#ffffff";

/** A matrix view inside `root`; `callbacks.onSelectSource(c)` / `onSelectTarget(r)` fire on click or Enter. */
export function createMatrixView(root, callbacks) {
  root.replaceChildren(matrixSkeleton());
  const parts = {
    root,
    scroll: root.querySelector(".matrix-scroll"),
    columns: root.querySelector(".column-labels"),
    rows: root.querySelector(".row-labels"),
    canvas: root.querySelector(".matrix-canvas"),
    overlay: root.querySelector(".matrix-overlay"),
    readout: root.querySelector(".matrix-readout"),
    pixels: document.createElement("canvas"),
  };
  const view = { parts, callbacks, state: null, focus: null, cursor: { r: 0, c: 0 } };
  listenToCells(view);
  return {
    draw: (state) => drawMatrix(view, state),
    canvas: parts.canvas,
  };
}

function matrixSkeleton() {
  const fragment = document.createElement("div");
  fragment.className = "matrix-frame";
  fragment.innerHTML = `
    <div class="matrix-scroll" data-testid="matrix-scroll">
      <div class="matrix-grid">
        <div class="matrix-corner" aria-hidden="true"><span>source →</span><span>target ↓</span></div>
        <div class="column-labels" data-testid="source-labels" aria-label="source words"></div>
        <div class="row-labels" data-testid="target-labels" aria-label="target words"></div>
        <div class="matrix-cells">
          <canvas class="matrix-canvas" data-testid="matrix-canvas" tabindex="0"
                  aria-label="attention matrix: arrow keys move between cells"></canvas>
          <canvas class="matrix-overlay" aria-hidden="true"></canvas>
        </div>
      </div>
    </div>
    <p class="matrix-readout" data-testid="cell-readout" aria-live="polite"></p>`;
  return fragment;
}

/** Draw `state` = {grid, rowUnits, colUnits, selectedSource, selectedTarget}; labels are rebuilt only when the units change. */
function drawMatrix(view, state) {
  const previous = view.state;
  const cell = cellSize(view.parts.root, state.grid.cols);
  view.state = { ...state, cell, max: maxOf(state.grid.data) || 1 };
  const { parts } = view;
  if (!previous || previous.rowUnits !== state.rowUnits || previous.colUnits !== state.colUnits || previous.cell !== cell) {
    drawColumnLabels(view, state.colUnits, cell);
    drawRowLabels(view, state.rowUnits, cell);
    view.focus = null;
  }
  markSelection(parts.columns, state.selectedSource);
  markSelection(parts.rows, state.selectedTarget);
  drawCells(parts, state.grid, cell, view.state.max);
  parts.root.dataset.rows = String(state.grid.rows);
  parts.root.dataset.cols = String(state.grid.cols);
  parts.root.style.setProperty("--cell", `${cell}px`);
  refocus(view);
}

function cellSize(root, cols) {
  const width = Math.max(root.clientWidth - 160, 200); // room beside the row labels
  return Math.max(MIN_CELL, Math.min(MAX_CELL, Math.floor(width / Math.max(cols, 1))));
}

function drawColumnLabels(view, units, cell) {
  drawLabels(view, view.parts.columns, units, { testid: "source-label", width: `${cell}px` },
    (c) => focusSource(view, c), (c) => view.callbacks.onSelectSource(c));
}

function drawRowLabels(view, units, cell) {
  drawLabels(view, view.parts.rows, units, { testid: "target-label", height: `${cell}px` },
    (r) => focusTarget(view, r), (r) => view.callbacks.onSelectTarget(r));
}

// One button per unit: hovering or focusing it highlights its row or column, clicking selects it.
function drawLabels(view, container, units, { testid, width, height }, focus, select) {
  container.replaceChildren(...units.map((unit, index) => {
    const button = labelButton(unit, index, testid);
    if (width) button.style.width = width;
    if (height) button.style.height = height;
    button.addEventListener("mouseenter", () => focus(index));
    button.addEventListener("focus", () => focus(index));
    button.addEventListener("mouseleave", () => clearFocus(view));
    button.addEventListener("blur", () => clearFocus(view));
    button.addEventListener("click", () => select(index));
    return button;
  }));
}

function labelButton(unit, index, testid) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = unit.special ? "label special" : "label";
  button.textContent = unit.label;
  button.title = unit.label;
  button.dataset.testid = testid;
  button.dataset.index = String(index);
  return button;
}

function markSelection(container, index) {
  for (const button of container.children) {
    const selected = Number(button.dataset.index) === index;
    button.classList.toggle("selected", selected);
    button.setAttribute("aria-pressed", String(selected));
  }
}

/** Every cell on the canvas: one pixel per cell in an offscreen canvas, scaled up, then white gaps between cells. */
function drawCells(parts, grid, cell, max) {
  const { canvas, overlay, pixels } = parts;
  const ratio = window.devicePixelRatio || 1;
  const width = grid.cols * cell;
  const height = grid.rows * cell;
  for (const target of [canvas, overlay]) {
    if (target.width !== Math.round(width * ratio) || target.height !== Math.round(height * ratio)) {
      target.width = Math.round(width * ratio);
      target.height = Math.round(height * ratio);
      target.style.width = `${width}px`;
      target.style.height = `${height}px`;
    }
  }
  pixels.width = grid.cols;
  pixels.height = grid.rows;
  const small = pixels.getContext("2d");
  const image = small.createImageData(grid.cols, grid.rows);
  for (let i = 0; i < grid.data.length; i++) {
    const colour = viridisIndex(grid.data[i] / max) * 3;
    image.data[i * 4] = VIRIDIS[colour];
    image.data[i * 4 + 1] = VIRIDIS[colour + 1];
    image.data[i * 4 + 2] = VIRIDIS[colour + 2];
    image.data[i * 4 + 3] = 255;
  }
  small.putImageData(image, 0, 0);
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.drawImage(pixels, 0, 0, canvas.width, canvas.height);
  drawGaps(context, grid, cell * ratio, ratio);
}

function drawGaps(context, grid, step, ratio) {
  context.fillStyle = GAP_COLOUR;
  const gap = Math.max(1, Math.round(ratio));
  for (let c = 1; c < grid.cols; c++) context.fillRect(Math.round(c * step), 0, gap, grid.rows * step);
  for (let r = 1; r < grid.rows; r++) context.fillRect(0, Math.round(r * step), grid.cols * step, gap);
}

/** A target word is focused: the source words it attends to are shaded, the strongest marked `highlight`. */
function focusTarget(view, r) {
  const { grid } = view.state;
  const weights = rowOf(grid, r);
  const strongest = argmax(weights);
  view.focus = { kind: "target", index: r };
  clearMarks(view);
  view.parts.rows.children[r]?.classList.add("active");
  shadeLabels(view.parts.columns, weights, [strongest]);
  drawOverlay(view, { row: r, cell: { r, c: strongest } });
  showReadout(view, r, strongest, `strongest source word of “${view.state.rowUnits[r].label}”`);
}

/** A source word is focused: the target words that attend to it are shaded; marked `highlight`: the target
 *  word giving it the most weight and every target word whose strongest source word it is. */
function focusSource(view, c) {
  const { grid } = view.state;
  const weights = columnOf(grid, c);
  const strongest = argmax(weights);
  const attending = [];
  for (let r = 0; r < grid.rows; r++) if (argmax(rowOf(grid, r)) === c) attending.push(r);
  view.focus = { kind: "source", index: c };
  clearMarks(view);
  view.parts.columns.children[c]?.classList.add("active");
  shadeLabels(view.parts.rows, weights, [strongest, ...attending]);
  drawOverlay(view, { col: c, cell: { r: strongest, c } });
  showReadout(view, strongest, c, `target word attending most to “${view.state.colUnits[c].label}”`);
}

function refocus(view) {
  const { focus } = view;
  if (focus?.kind === "target" && focus.index < view.state.grid.rows) focusTarget(view, focus.index);
  else if (focus?.kind === "source" && focus.index < view.state.grid.cols) focusSource(view, focus.index);
  else clearFocus(view);
}

function clearFocus(view) {
  view.focus = null;
  clearMarks(view);
  drawOverlay(view, {});
  view.parts.readout.textContent = "Hover a cell for its weight, or a word (or Tab to it) to see what it attends to; "
    + "click a word for its self-attention.";
}

function clearMarks(view) {
  for (const container of [view.parts.rows, view.parts.columns]) {
    for (const button of container.children) {
      button.classList.remove("active", "highlight");
      button.style.removeProperty("--weight");
    }
  }
}

function shadeLabels(container, weights, highlighted) {
  const max = maxOf(weights) || 1;
  Array.from(container.children).forEach((button, i) => {
    button.style.setProperty("--weight", (weights[i] / max).toFixed(3));
  });
  for (const i of highlighted) container.children[i]?.classList.add("highlight");
}

function showReadout(view, r, c, what) {
  const { rowUnits, colUnits, grid } = view.state;
  const weight = grid.data[r * grid.cols + c];
  view.parts.readout.textContent = `${what}: “${rowUnits[r].label}” → “${colUnits[c].label}” ${weight.toFixed(4)}`;
}

/** Outlines on the overlay: a focused row or column band and one cell. */
function drawOverlay(view, { row, col, cell }) {
  const { overlay } = view.parts;
  const context = overlay.getContext("2d");
  context.clearRect(0, 0, overlay.width, overlay.height);
  if (!view.state) return;
  const step = view.state.cell * (window.devicePixelRatio || 1);
  const { rows, cols } = view.state.grid;
  context.lineWidth = 2 * (window.devicePixelRatio || 1);
  context.strokeStyle = "rgba(255, 255, 255, 0.9)";
  if (row !== undefined) context.strokeRect(1, row * step + 1, cols * step - 2, step - 2);
  if (col !== undefined) context.strokeRect(col * step + 1, 1, step - 2, rows * step - 2);
  if (cell) {
    context.strokeStyle = "#e4572e";
    context.lineWidth = 3 * (window.devicePixelRatio || 1);
    context.strokeRect(cell.c * step + 2, cell.r * step + 2, step - 4, step - 4);
  }
}

/** Pointer and keyboard over the cells: the weight under them in the readout and the canvas's title. */
function listenToCells(view) {
  const { canvas } = view.parts;
  canvas.addEventListener("mousemove", (event) => {
    if (!view.state) return;
    const box = canvas.getBoundingClientRect();
    const c = Math.floor((event.clientX - box.left) / view.state.cell);
    const r = Math.floor((event.clientY - box.top) / view.state.cell);
    if (r < 0 || c < 0 || r >= view.state.grid.rows || c >= view.state.grid.cols) return;
    pointAtCell(view, r, c);
  });
  canvas.addEventListener("mouseleave", () => clearFocus(view));
  canvas.addEventListener("focus", () => view.state && pointAtCell(view, view.cursor.r, view.cursor.c));
  canvas.addEventListener("blur", () => clearFocus(view));
  canvas.addEventListener("keydown", (event) => {
    if (!view.state) return;
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (event.key === "Enter") {
      view.callbacks.onSelectSource(view.cursor.c);
      return;
    }
    if (!(event.key in moves)) return;
    event.preventDefault();
    const [dr, dc] = moves[event.key];
    const r = Math.max(0, Math.min(view.state.grid.rows - 1, view.cursor.r + dr));
    const c = Math.max(0, Math.min(view.state.grid.cols - 1, view.cursor.c + dc));
    pointAtCell(view, r, c);
  });
}

function pointAtCell(view, r, c) {
  view.cursor = { r, c };
  clearMarks(view);
  view.parts.rows.children[r]?.classList.add("active");
  view.parts.columns.children[c]?.classList.add("active");
  drawOverlay(view, { row: r, col: c, cell: { r, c } });
  showReadout(view, r, c, "weight");
  view.parts.canvas.title = view.parts.readout.textContent;
}

/** The colour bar (0 to the largest weight of `grid`) and what the rows and columns are. */
export function drawLegend(legend, grid, units) {
  legend.querySelector(".colour-bar").style.background = viridisGradient();
  legend.querySelector(".legend-low").textContent = "0";
  legend.querySelector(".legend-high").textContent = maxOf(grid.data).toFixed(3);
  legend.querySelector(".legend-text").textContent = units === "words"
    ? "Whole words: a cell sums the weights of the source word's pieces (columns) and averages over the target "
      + "word's pieces (rows), so every row still sums to 1. </s> (end of sentence) is kept apart as its own row "
      + "and column. Colour: viridis from 0 to the largest weight shown."
    : "SentencePiece pieces: “▁” begins a word; </s> is the end of sentence. Row t is the step that wrote piece t; "
      + "every row sums to 1. Colour: viridis from 0 to the largest weight shown.";
}
