"""The study's figure shapes: grouped bars and lines over categories, each a mean with its min-max range over seeds.

Figures are `matplotlib.figure.Figure` objects, never pyplot (nothing global, no display), saved
as PNG and SVG by `save`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from study.results import Spread

FORMATS = ("png", "svg")


def new_figure(width: float = 6.4, height: float = 3.8, *, panels: int = 1) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    return figure, list(axes)


def _error(values: Sequence[Spread | None]) -> tuple[list[float], list[list[float]]]:
    """Means (NaN where missing) and the (below, above) distances to min and max that errorbar wants."""
    means = [value.mean if value else float("nan") for value in values]
    below = [value.mean - value.low if value else 0.0 for value in values]
    above = [value.high - value.mean if value else 0.0 for value in values]
    return means, [below, above]


def grouped_bars(axes: Axes, groups: Sequence[str], series: dict[str, Sequence[Spread | None]], *,
                 ylabel: str) -> None:
    """One group of bars per category, one bar per series; whiskers span min to max over seeds."""
    width = 0.8 / max(len(series), 1)
    for index, (name, values) in enumerate(series.items()):
        means, error = _error(values)
        positions = [group + (index - (len(series) - 1) / 2) * width for group in range(len(groups))]
        axes.bar(positions, means, width=width, yerr=error, capsize=3, label=name)
    axes.set_xticks(range(len(groups)), list(groups))
    axes.set_ylabel(ylabel)
    axes.legend(fontsize="small")
    axes.grid(axis="y", alpha=0.3)


def lines(axes: Axes, x: Sequence[float], series: dict[str, Sequence[Spread | None]], *, xlabel: str,
          ylabel: str, tick_labels: Sequence[str] | None = None, log: bool = False) -> None:
    """One line of means per series over x, with a shaded min-max band."""
    for name, values in series.items():
        means, _ = _error(values)
        line = axes.plot(x, means, marker="o", label=name)[0]
        lows = [value.low if value else float("nan") for value in values]
        highs = [value.high if value else float("nan") for value in values]
        axes.fill_between(x, lows, highs, color=line.get_color(), alpha=0.2, linewidth=0)
    if log:
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
    if tick_labels is not None:
        axes.set_xticks(list(x), list(tick_labels))
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3)


def save(figure: Figure, directory: Path, stem: str) -> list[Path]:
    """Write `stem`.png and `stem`.svg into `directory`; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{stem}.{suffix}" for suffix in FORMATS]
    with rc_context({"svg.hashsalt": "attention-study"}):  # fixed ids and no date: the same numbers, the same file
        for path in paths:
            figure.savefig(path, dpi=120, metadata={"Date": None} if path.suffix == ".svg" else None)
    return paths
