"""Attention heatmaps and learning curves, drawn off-screen.

Figures are built with `matplotlib.figure.Figure` and saved through the Agg
canvas, never through pyplot: nothing needs a display, and no global figure
state leaks between calls (or between test runs). `save_figure` grows a figure
whose labels need more room than its size gives them, so no label is cut.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from nmt.errors import NMTError

log = logging.getLogger(__name__)

CELL_INCHES = 0.28  # size of one heatmap cell, so labels stay readable for long sentences
MIN_PANEL_INCHES = 2.5
FIT_ROUNDS = 3  # times a figure may grow to fit its labels (one is usually enough: see save_figure)
FIT_MARGIN_INCHES = 0.05  # room left around the contents of a grown figure


def check_image_path(path: str, *, key: str) -> None:
    """Raise NMTError unless `path` can name an image: a format matplotlib writes, or no suffix (then PNG)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    formats = FigureCanvasAgg(Figure()).get_supported_filetypes()
    if suffix and suffix not in formats:
        raise NMTError(f"{key}={path} is not an image file matplotlib can write; end it in .png, .pdf or .svg "
                       f"(formats: {', '.join(sorted(formats))}).")
    if Path(path).is_dir():
        raise NMTError(f"{key}={path} is a directory; name an image file in it, "
                       f"e.g. {key}={Path(path) / 'attention.png'}.")


def plot_attention(
    attention: Tensor,
    *,
    src_pieces: Sequence[str],
    tgt_pieces: Sequence[str],
    path: str | Path,
    layer: int = -1,
    title: str | None = None,
) -> Path:
    """Save the heatmap of one translation's attention (`attention_figure`) to `path`; returns the file written."""
    return _save(attention_figure(attention, src_pieces=src_pieces, tgt_pieces=tgt_pieces, layer=layer, title=title),
                 path)


def attention_figure(
    attention: Tensor,
    *,
    src_pieces: Sequence[str],
    tgt_pieces: Sequence[str],
    layer: int = -1,
    title: str | None = None,
) -> Figure:
    """The heatmap of one translation's attention: source pieces on x, target pieces on y.

    attention (L, H, T, S). With one head (the RNN models) a single panel; with
    several (the Transformer) one panel per head of `layer` plus their average.
    """
    num_layers, num_heads, tgt_len, src_len = attention.shape
    if not -num_layers <= layer < num_layers:
        raise NMTError(
            f"plot_layer={layer} is out of range: the model has {num_layers} decoder attention layer(s); "
            f"use 0..{num_layers - 1}, or -1 for the last."
        )
    if (len(tgt_pieces), len(src_pieces)) != (tgt_len, src_len):
        raise ValueError(f"{len(tgt_pieces)}x{len(src_pieces)} labels for attention of shape {tuple(attention.shape)}")
    weights = attention[layer].float().cpu()                                     # (H, T, S)
    layer_name = f"layer {layer % num_layers + 1}"
    if num_heads == 1:
        panels = [(layer_name if num_layers > 1 else "", weights[0])]
    else:
        panels = [(f"{layer_name}, head {h + 1}", weights[h]) for h in range(num_heads)]
        panels.append((f"{layer_name}, average of heads", weights.mean(dim=0)))

    num_cols = math.ceil(math.sqrt(len(panels)))
    num_rows = math.ceil(len(panels) / num_cols)
    panel_width = max(MIN_PANEL_INCHES, CELL_INCHES * src_len + 1.0)
    panel_height = max(MIN_PANEL_INCHES, CELL_INCHES * tgt_len + 1.0)
    figure = Figure(figsize=(panel_width * num_cols, panel_height * num_rows), layout="constrained")
    axes = figure.subplots(num_rows, num_cols, squeeze=False).flatten()
    image = None
    for ax, (name, panel) in zip(axes, panels):
        image = ax.imshow(panel.numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(src_len), labels=list(src_pieces), rotation=90, fontsize=8)
        ax.set_yticks(range(tgt_len), labels=list(tgt_pieces), fontsize=8)
        ax.set_xlabel("source")
        ax.set_ylabel("target")
        if name:
            ax.set_title(name, fontsize=9)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    figure.colorbar(image, ax=list(axes[: len(panels)]), shrink=0.8, label="attention weight")
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The validation records of a run's metrics.jsonl, one dict per line."""
    path = Path(path)
    if not path.is_file():
        raise NMTError(f"{path} does not exist; pass the metrics.jsonl that nmt-train wrote in its run directory.")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise NMTError(
                f"{path}:{number} is not a JSON line ({error.msg}); the file was not written by nmt-train."
            ) from None
    if not records:
        raise NMTError(f"{path} holds no validation records yet; plot it after the first validation.")
    return records


def plot_learning_curves(metrics_path: str | Path, path: str | Path, *, title: str | None = None) -> Path:
    """Save train/val loss and val BLEU (and chrF when present) against the update step.

    Reads the records nmt-train appends to metrics.jsonl (keys step, train_loss,
    val_loss, val_bleu, val_chrf); a key missing from every record is skipped.
    """
    records = read_metrics(metrics_path)
    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, score_ax = figure.subplots(1, 2)
    for key, label in (("train_loss", "train loss"), ("val_loss", "val loss")):
        _plot_series(loss_ax, records, key, label)
    for key, label in (("val_bleu", "val BLEU"), ("val_chrf", "val chrF")):
        _plot_series(score_ax, records, key, label)
    loss_ax.set_ylabel("loss (nats per target token)")
    score_ax.set_ylabel("score (0-100)")
    for ax in (loss_ax, score_ax):
        ax.set_xlabel("update step")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def _plot_series(ax: Any, records: list[dict[str, Any]], key: str, label: str) -> None:
    points = [(r["step"], r[key]) for r in records if r.get(key) is not None and "step" in r]
    if points:
        steps, values = zip(*points)
        ax.plot(steps, values, marker="o", markersize=3, label=label)


def save_figure(figure: Figure, path: str | Path, *, dpi: float, **savefig_options: Any) -> None:
    """Save `figure` through the Agg canvas, grown first by as much as its contents reach past its edges.

    Figure sizes are chosen from cell counts, so a long (rotated) tick label can need more room than
    the figure has; constrained layout then gives up ("axes sizes collapsed") and the label is cut
    at the edge ("because" printed as "ecause"). After a save, how far the contents reach past each
    edge is measured (cheap next to drawing); if they do, the figure grows by that much, is laid out
    again and saved again.
    """
    FigureCanvasAgg(figure)
    for round_ in range(FIT_ROUNDS + 1):
        with warnings.catch_warnings():  # the collapse is what growing the figure mends
            warnings.filterwarnings("ignore", message="constrained_layout not applied")
            figure.savefig(path, dpi=dpi, **savefig_options)
        width, height = _overflow_inches(figure)
        if (width, height) == (0.0, 0.0):
            return
        if round_ == FIT_ROUNDS:
            log.warning("%s: some labels still reach past the figure's edges after growing it %d times",
                        path, FIT_ROUNDS)
            return
        figure.set_size_inches(figure.get_size_inches() + (width, height))


def _overflow_inches(figure: Figure) -> tuple[float, float]:
    """How far the drawn contents of `figure` reach past its left + right and bottom + top edges, in inches, with a
    margin added; (0, 0) when they lie inside it (to within a pixel)."""
    contents = figure.get_tightbbox(figure.canvas.get_renderer())  # inches, positions of the last draw
    edges = figure.bbox_inches
    width = max(0.0, edges.x0 - contents.x0) + max(0.0, contents.x1 - edges.x1)
    height = max(0.0, edges.y0 - contents.y0) + max(0.0, contents.y1 - edges.y1)
    pixel = 1.0 / figure.dpi
    return (width + FIT_MARGIN_INCHES if width > pixel else 0.0, height + FIT_MARGIN_INCHES if height > pixel else 0.0)


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path = path if path.suffix else path.with_suffix(".png")  # what savefig itself would write
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(figure, path, dpi=120)
    return path
