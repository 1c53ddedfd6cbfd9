// Keep a view: the matrix as a PNG figure, or the whole page as ONE standalone HTML file
// (CSS, JavaScript and the translation's data inlined) that opens from disk with no server.
//
// The standalone file's script is these ES modules joined by `bundleModules`: each becomes a
// function returning its exports, and each `import { a, b } from "./x.js";` reads them back.
// That relies on two conventions the modules keep: imports are `import { ... } from "./x.js";`
// and exports are `export function|const|class name`; anything else fails loudly here.

import { VIRIDIS, viridisIndex } from "./viridis.js";

/** Every module of the page, each after the modules it imports. */
export const MODULES = [
  "viridis.js", "units.js", "explanation.js", "api.js", "permalink.js", "form.js", "matrix.js", "selfattention.js",
  "confidence.js", "result.js", "export.js", "app.js",
];
const END_SCRIPT = "<" + "/script>";

/** Save `blob` as `filename` through the browser's download. */
export function downloadBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A PNG of `canvas`. */
export function pngOf(canvas) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the canvas could not be encoded as PNG"))),
      "image/png");
  });
}

/** The matrix as a figure on a new canvas: title, source words along the top, target words down the left, colour bar. */
export function drawMatrixFigure({ title, subtitle, grid, rowUnits, colUnits }) {
  const cell = 18;
  const font = "12px system-ui, sans-serif";
  const measure = document.createElement("canvas").getContext("2d");
  measure.font = font;
  const shorten = (text) => (text.length > 24 ? `${text.slice(0, 23)}…` : text);
  const widest = (units) => Math.max(0, ...units.map((unit) => measure.measureText(shorten(unit.label)).width));
  const heading = subtitle.length > 100 ? `${subtitle.slice(0, 99)}…` : subtitle;
  const left = Math.ceil(widest(rowUnits)) + 16;
  const top = 56 + Math.ceil(widest(colUnits)) + 10;
  measure.font = "bold 14px system-ui, sans-serif";
  const titleWidth = Math.max(measure.measureText(title).width, measure.measureText(heading).width);
  const width = Math.ceil(Math.max(left + grid.cols * cell + 20, titleWidth + 20, 360));
  const height = top + grid.rows * cell + 60;
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, width, height);
  context.fillStyle = "#111";
  context.font = "bold 14px system-ui, sans-serif";
  context.fillText(title, 10, 22);
  context.font = font;
  context.fillStyle = "#555";
  context.fillText(heading, 10, 42);
  context.fillStyle = "#111";
  drawFigureLabels(context, { rowUnits, colUnits, left, top, cell, shorten });
  const max = drawFigureCells(context, grid, left, top, cell);
  drawColourBar(context, { x: left, y: top + grid.rows * cell + 20, width: Math.min(240, width - left - 20), max });
  return canvas;
}

function drawFigureLabels(context, { rowUnits, colUnits, left, top, cell, shorten }) {
  context.textBaseline = "middle";
  context.textAlign = "right";
  rowUnits.forEach((unit, r) => context.fillText(shorten(unit.label), left - 6, top + r * cell + cell / 2));
  context.textAlign = "left";
  colUnits.forEach((unit, c) => {
    context.save();
    context.translate(left + c * cell + cell / 2, top - 6);
    context.rotate(-Math.PI / 2);
    context.fillText(shorten(unit.label), 0, 0);
    context.restore();
  });
}

function drawFigureCells(context, grid, left, top, cell) {
  let max = 0;
  for (const value of grid.data) max = Math.max(max, value);
  max = max || 1;
  for (let r = 0; r < grid.rows; r++) {
    for (let c = 0; c < grid.cols; c++) {
      const colour = viridisIndex(grid.data[r * grid.cols + c] / max) * 3;
      context.fillStyle = `rgb(${VIRIDIS[colour]}, ${VIRIDIS[colour + 1]}, ${VIRIDIS[colour + 2]})`;
      context.fillRect(left + c * cell, top + r * cell, cell - 1, cell - 1);
    }
  }
  return max;
}

function drawColourBar(context, { x, y, width, max }) {
  for (let i = 0; i < width; i++) {
    const colour = viridisIndex(i / (width - 1)) * 3;
    context.fillStyle = `rgb(${VIRIDIS[colour]}, ${VIRIDIS[colour + 1]}, ${VIRIDIS[colour + 2]})`;
    context.fillRect(x + i, y, 1, 12);
  }
  context.fillStyle = "#111";
  context.textBaseline = "top";
  context.textAlign = "left";
  context.fillText("0", x, y + 16);
  context.textAlign = "right";
  context.fillText(max.toFixed(3), x + width, y + 16);
}

/** The page as one HTML file holding `snapshot` (what app.js needs to draw the view without a server). */
export async function standaloneHtml(snapshot) {
  const base = new URL(".", import.meta.url);
  const text = async (name) => {
    const response = await fetch(new URL(name, base));
    if (!response.ok) throw new Error(`${name} could not be read from the server (${response.status})`);
    return response.text();
  };
  const [page, css, ...sources] = await Promise.all(["index.html", "style.css", ...MODULES].map(text));
  const script = bundleModules(MODULES.map((name, i) => ({ name, code: sources[i] })));
  const data = JSON.stringify(snapshot).replaceAll("<", "\\u003c");
  return replaceOnce(replaceOnce(page,
    /<link rel="stylesheet" href="[^"]*style\.css">/, `<style>\n${css.replaceAll("</", "<\\/")}\n</style>`),
  /<script type="module" src="[^"]*app\.js"><\/script>/,
  `<script type="application/json" id="nmt-snapshot">${data}${END_SCRIPT}\n`
    + `<script type="module">\n${script}\n${END_SCRIPT}`);
}

function replaceOnce(text, pattern, replacement) {
  if (!pattern.test(text)) throw new Error(`index.html has no ${pattern.source}; the standalone file cannot be built`);
  return text.replace(pattern, () => replacement);
}

/** ES modules [{name, code}] (dependencies first) as one script. */
export function bundleModules(modules) {
  const seen = new Set();
  const parts = ["const modules = {};"];
  for (const { name, code } of modules) {
    const exported = [];
    let body = code.replace(/^import\s*\{([^}]*)\}\s*from\s*"\.\/([\w.]+)";?[ \t]*$/gm, (_, names, from) => {
      if (!seen.has(from)) throw new Error(`${name} imports ${from}, which is not bundled before it`);
      const bindings = names.split(",").map((binding) => binding.trim()).filter(Boolean)
        .map((binding) => binding.replace(/\s+as\s+/, ": "));
      return `const { ${bindings.join(", ")} } = modules["${from}"];`;
    });
    body = body.replace(/^export\s+(async\s+function|function|const|let|class)\s+(\w+)/gm, (_, kind, exportedName) => {
      exported.push(exportedName);
      return `${kind} ${exportedName}`;
    });
    if (/^\s*(import|export)\b/m.test(body)) throw new Error(`${name} has an import or export the bundler cannot read`);
    parts.push(`modules["${name}"] = (() => {\n${body}\nreturn { ${exported.join(", ")} };\n})();`);
    seen.add(name);
  }
  return parts.join("\n").replaceAll("</script", "<\\/script").replaceAll("<!--", "<\\!--");
}
