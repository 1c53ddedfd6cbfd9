"""One number per attention head, laid out as layer × head grids: one grid per attention type.

Module names follow `nmt.models.inspection`: `encoder.{i}.self`, `decoder.{i}.self`,
`decoder.{i}.cross` for the Transformer, `cross` for the RNN's one attention (layer 0).
Layers and heads are counted from 0, as in the module names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

ATTENTION_TYPES = {"encoder.self": "encoder self-attention", "decoder.self": "decoder self-attention",
                   "decoder.cross": "cross-attention"}
CELL_INCHES = 0.6
ANNOTATE_MAX_CELLS = 256  # write each value into its cell up to this grid size


def attention_type(name: str) -> tuple[str, int]:
    """(attention type, layer) of a module name: "decoder.1.cross" -> ("cross-attention", 1)."""
    parts = name.split(".")
    if len(parts) == 3 and f"{parts[0]}.{parts[2]}" in ATTENTION_TYPES:
        return ATTENTION_TYPES[f"{parts[0]}.{parts[2]}"], int(parts[1])
    if name == "cross":
        return "cross-attention", 0
    raise ValueError(f"not an attention module name: {name}")


def head_grids(values: Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
    """Per-head values by module name -> attention type -> (layers, heads) float64, NaN where a layer lacks a head."""
    by_type: dict[str, dict[int, Sequence[float]]] = {}
    for name, per_head in values.items():
        kind, layer = attention_type(name)
        by_type.setdefault(kind, {})[layer] = per_head
    grids = {}
    for kind, layers in by_type.items():
        grid = np.full((max(layers) + 1, max(len(v) for v in layers.values())), np.nan)  # (L, H)
        for layer, per_head in layers.items():
            grid[layer, : len(per_head)] = per_head
        grids[kind] = grid
    return grids


def plot_head_grids(grids: Mapping[str, np.ndarray], *, title: str, label: str, vmin: float, vmax: float,
                    cmap: str = "viridis") -> Figure:
    """One heatmap per attention type, side by side: rows = layers, columns = heads, the value in each cell."""
    width = sum(max(2.5, CELL_INCHES * grid.shape[1] + 1.5) for grid in grids.values()) + 1.0
    height = max(2.5, CELL_INCHES * max(grid.shape[0] for grid in grids.values()) + 1.5)
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(1, len(grids), squeeze=False)[0]
    image = None
    for ax, (kind, grid) in zip(axes, grids.items()):
        image = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(grid.shape[1]), labels=[f"head {h}" for h in range(grid.shape[1])], rotation=90)
        ax.set_yticks(range(grid.shape[0]), labels=[f"layer {layer}" for layer in range(grid.shape[0])])
        ax.set_title(kind, fontsize=10)
        if grid.size <= ANNOTATE_MAX_CELLS:
            for (layer, head), value in np.ndenumerate(grid):
                if not np.isnan(value):
                    ax.text(head, layer, f"{value:.2g}", ha="center", va="center", fontsize=7, color="black",
                            bbox={"facecolor": "white", "alpha": 0.6, "linewidth": 0, "pad": 1})
    figure.colorbar(image, ax=list(axes), shrink=0.8, label=label)
    figure.suptitle(title, fontsize=11)
    return figure
