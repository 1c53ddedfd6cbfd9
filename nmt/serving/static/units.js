// What the views show as rows and columns: SentencePiece pieces or whole words, and attention
// maps as flat row-major grids {rows, cols, data: Float64Array(rows * cols)}.

export const WORD_START = "\u2581"; // SentencePiece marks a word's first piece with "▁"
const SPECIAL = /^<\/?[a-z]+>$/; // </s>, <s>, <unk>, <pad>

export function isSpecial(piece) {
  return SPECIAL.test(piece);
}

/** Target text of `pieces`: joined, "▁" read as a space, trimmed. */
export function detokenize(pieces) {
  return pieces.join("").replaceAll(WORD_START, " ").trim();
}

/** One unit per piece: [{label, pieces: [index], special}]. */
export function pieceUnits(pieces) {
  return pieces.map((piece, index) => ({ label: piece, pieces: [index], special: isSpecial(piece) }));
}

/** Whole words: a piece starting with "▁" begins a word, the others continue it; special tokens stand alone. */
export function wordUnits(pieces) {
  const units = [];
  pieces.forEach((piece, index) => {
    const last = units[units.length - 1];
    const special = isSpecial(piece);
    if (special || !last || last.special || piece.startsWith(WORD_START)) {
      units.push({ label: "", pieces: [index], special });
    } else {
      last.pieces.push(index);
    }
  });
  for (const unit of units) {
    const text = unit.pieces.map((i) => pieces[i]);
    unit.label = unit.special ? text[0] : detokenize(text) || WORD_START;
  }
  return units;
}

/** `pieces` as units of `mode`: "words" or "pieces". */
export function unitsOf(pieces, mode) {
  return mode === "words" ? wordUnits(pieces) : pieceUnits(pieces);
}

/** A grid from nested [row][col] weights. */
export function gridOf(nested) {
  const rows = nested.length;
  const cols = rows ? nested[0].length : 0;
  const data = new Float64Array(rows * cols);
  nested.forEach((row, r) => data.set(row, r * cols));
  return { rows, cols, data };
}

/** The mean of same-shaped grids (the average of heads). */
export function meanOf(grids) {
  const { rows, cols } = grids[0];
  const data = new Float64Array(rows * cols);
  for (const grid of grids) {
    for (let i = 0; i < data.length; i++) data[i] += grid.data[i];
  }
  for (let i = 0; i < data.length; i++) data[i] /= grids.length;
  return { rows, cols, data };
}

/** Rows averaged over each row unit's pieces, columns summed over each column unit's pieces: rows stay distributions. */
export function aggregate(grid, rowUnits, colUnits) {
  const cols = colUnits.length;
  const data = new Float64Array(rowUnits.length * cols);
  rowUnits.forEach((rowUnit, r) => data.set(unitRow(grid, rowUnit, colUnits), r * cols));
  return { rows: rowUnits.length, cols, data };
}

/** One row unit of `grid` over `colUnits`: averaged over the unit's rows, summed within each column unit. */
export function unitRow(grid, rowUnit, colUnits) {
  const row = new Float64Array(colUnits.length);
  const share = 1 / rowUnit.pieces.length;
  for (const sourceRow of rowUnit.pieces) {
    const offset = sourceRow * grid.cols;
    colUnits.forEach((colUnit, c) => {
      let sum = 0;
      for (const sourceCol of colUnit.pieces) sum += grid.data[offset + sourceCol];
      row[c] += sum * share;
    });
  }
  return row;
}

/** Row r of `grid` as a Float64Array view. */
export function rowOf(grid, r) {
  return grid.data.subarray(r * grid.cols, (r + 1) * grid.cols);
}

/** Column c of `grid` as a new array. */
export function columnOf(grid, c) {
  return Array.from({ length: grid.rows }, (_, r) => grid.data[r * grid.cols + c]);
}

/** Index of the largest value (the first, on ties). */
export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** The largest value of `values`, or 0 for none. */
export function maxOf(values) {
  let best = 0;
  for (let i = 0; i < values.length; i++) if (values[i] > best) best = values[i];
  return best;
}

/** Nested [row][col] arrays of `grid` (for the page's exported state). */
export function nestedOf(grid) {
  return Array.from({ length: grid.rows }, (_, r) => Array.from(rowOf(grid, r)));
}
