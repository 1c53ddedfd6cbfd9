// Viridis, the perceptually uniform colour map of matplotlib (van der Walt & Smith, CC0):
// 17 evenly spaced stops, linearly interpolated into a 256-entry table.

const STOPS = [
  "#440154", "#48186a", "#472d7b", "#424086", "#3b528b", "#33638d", "#2c728e", "#26828e", "#21918c",
  "#1fa088", "#28ae80", "#3fbc73", "#5ec962", "#84d44b", "#addc30", "#d8e219", "#fde725",
];

function rgbOf(hex) {
  return [1, 3, 5].map((start) => parseInt(hex.slice(start, start + 2), 16));
}

function interpolatedTable(size) {
  const stops = STOPS.map(rgbOf);
  const table = new Uint8ClampedArray(size * 3);
  for (let i = 0; i < size; i++) {
    const position = (i / (size - 1)) * (stops.length - 1);
    const low = Math.min(Math.floor(position), stops.length - 2);
    const fraction = position - low;
    for (let channel = 0; channel < 3; channel++) {
      table[i * 3 + channel] = stops[low][channel] * (1 - fraction) + stops[low + 1][channel] * fraction;
    }
  }
  return table;
}

/** (256 * 3) RGB bytes: entry i is the colour of value i / 255. */
export const VIRIDIS = interpolatedTable(256);

/** The table index of `value` in [0, 1] (values outside are clamped). */
export function viridisIndex(value) {
  return Math.max(0, Math.min(255, Math.round(value * 255))) || 0;
}

/** CSS colour of `value` in [0, 1]. */
export function viridisCss(value) {
  const i = viridisIndex(value) * 3;
  return `rgb(${VIRIDIS[i]}, ${VIRIDIS[i + 1]}, ${VIRIDIS[i + 2]})`;
}

/** Black or white, whichever reads better on viridisCss(value). */
export function textColourOn(value) {
  return value > 0.55 ? "#111" : "#fff";
}

/** A CSS linear-gradient of the whole map, left (0) to right (1). */
export function viridisGradient(direction = "to right") {
  return `linear-gradient(${direction}, ${STOPS.join(", ")})`;
}
