"""What each attention head does, in numbers (Voita et al. 2019, "Analyzing Multi-Head Self-Attention").

Per head, under teacher forcing on the references: the mean entropy of its attention rows
(nats; low = focused), its confidence (mean largest weight, Voita's measure of a head's
importance), the share of its mass on the attention sink (source EOS for encoder self- and
cross-attention, BOS for decoder self-attention: where heads park attention when they have
nothing to do), and for self-attention the share of query positions whose largest weight
falls on a neighbour (encoder: offset -1 or +1, decoder: -1). A head is positional when that
share is at least 0.9, Voita's threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from nmt.analysis.core import AnalysisContext, SectionResult, Table
from nmt.analysis.head_grids import head_grids

POSITIONAL_THRESHOLD = 0.9  # share of queries attending a neighbour for a positional head (Voita et al. 2019)
MOST_CONFIDENT_ROWS = 10  # heads listed in the confidence table
TITLE = "Attention heads"
CELL_INCHES = 0.55  # one layer x head cell, wide enough for a two-decimal annotation


@dataclass(frozen=True)
class AttentionKind:
    """One kind of attention: where its sink is and which keys count as neighbours of a query."""

    name: str  # encoder_self | decoder_self | cross
    label: str
    sink_column: int  # 0 (BOS) or -1 (EOS)
    sink_label: str
    neighbour_offsets: tuple[int, ...]  # key - query offsets of a positional head; () for cross-attention
    causal: bool  # query q may attend keys 0..q only


KINDS = {
    "encoder_self": AttentionKind("encoder_self", "encoder self-attention", -1, "EOS", (-1, 1), False),
    "decoder_self": AttentionKind("decoder_self", "decoder self-attention", 0, "BOS", (-1,), True),
    "cross": AttentionKind("cross", "cross-attention", -1, "source EOS", (), False),
}


@dataclass(frozen=True)
class HeadStatistics:
    """One module's heads, each statistic (H,) and averaged over every query row of every example."""

    entropy: np.ndarray  # nats
    confidence: np.ndarray  # mean largest weight of a row
    sink_mass: np.ndarray  # mean weight on the sink column
    neighbour_share: np.ndarray | None  # share of queries whose argmax is a neighbour; None for cross-attention
    uniform_entropy: float  # what a uniform head would score: mean log(number of keys a row may attend)
    rows: int  # query rows averaged over

    @property
    def positional(self) -> np.ndarray | None:
        """(H,) bool: heads that attend a neighbour for at least POSITIONAL_THRESHOLD of the queries."""
        return None if self.neighbour_share is None else self.neighbour_share >= POSITIONAL_THRESHOLD


def kind_of(module_name: str) -> AttentionKind:
    """The kind of an attention module named as in `nmt.models.inspection` (`encoder.0.self`, `cross`, ...)."""
    if module_name.startswith("encoder."):
        return KINDS["encoder_self"]
    if module_name.endswith(".self"):
        return KINDS["decoder_self"]
    return KINDS["cross"]


def row_entropy(weights: np.ndarray) -> np.ndarray:
    """Entropy in nats of each distribution along the last axis, with 0 log 0 = 0: (..., K) -> (...)."""
    weights = weights.astype(np.float64)
    logs = np.log(np.where(weights > 0, weights, 1.0))
    return -(weights * logs).sum(axis=-1)


def neighbour_hits(weights: np.ndarray, offsets: Sequence[int]) -> tuple[np.ndarray, int]:
    """weights (H, Q, K) -> per head the number of queries whose argmax key is at query + an offset (H,),
    and the number of queries that have such a neighbour at all (the denominator)."""
    num_queries, num_keys = weights.shape[1:]
    queries = np.arange(num_queries)  # (Q,)
    shift = weights.argmax(axis=-1) - queries  # (H, Q)
    neighbours = queries[:, None] + np.asarray(offsets)[None, :]  # (Q, O)
    eligible = ((neighbours >= 0) & (neighbours < num_keys)).any(axis=1)  # (Q,)
    hits = np.isin(shift, offsets) & eligible  # (H, Q)
    return hits.sum(axis=1), int(eligible.sum())


def head_statistics(maps: Sequence[np.ndarray], kind: AttentionKind) -> HeadStatistics:
    """Statistics of one module's heads from its attention maps, one (H, Q, K) array per example.

    With causal attention the first query can only attend itself, which says nothing about a
    head, so its row is left out.
    """
    first_row = 1 if kind.causal else 0
    num_heads = maps[0].shape[0]
    entropy, confidence, sink = np.zeros(num_heads), np.zeros(num_heads), np.zeros(num_heads)
    hits, eligible, rows, uniform = np.zeros(num_heads), 0, 0, 0.0
    for weights in maps:
        num_queries, num_keys = weights.shape[1:]
        kept = weights[:, first_row:].astype(np.float64)  # (H, Q', K)
        entropy += row_entropy(kept).sum(axis=1)
        confidence += kept.max(axis=-1).sum(axis=1)
        sink += kept[:, :, kind.sink_column].sum(axis=1)
        admissible = np.arange(first_row, num_queries) + 1 if kind.causal else np.full(num_queries, num_keys)
        uniform += float(np.log(admissible).sum())
        rows += num_queries - first_row
        if kind.neighbour_offsets:
            example_hits, example_eligible = neighbour_hits(weights, kind.neighbour_offsets)
            hits += example_hits
            eligible += example_eligible
    share = hits / max(eligible, 1) if kind.neighbour_offsets else None
    return HeadStatistics(entropy=entropy / rows, confidence=confidence / rows, sink_mass=sink / rows,
                          neighbour_share=share, uniform_entropy=uniform / rows, rows=rows)


def statistic_panels(kind: AttentionKind) -> list[tuple[str, str, float | None]]:
    """(HeadStatistics field, panel title, largest value for the colour scale; None = the data's) per panel."""
    panels = [("entropy", "entropy (nats)", None), ("confidence", "confidence (mean max weight)", 1.0),
              ("sink_mass", f"mass on {kind.sink_label}", 1.0)]
    if kind.neighbour_offsets:
        offsets = " or ".join(f"{offset:+d}" for offset in kind.neighbour_offsets)
        panels.append(("neighbour_share", f"argmax at offset {offsets}", 1.0))
    return panels


def draw_layer_head_grid(figure: Figure, ax, grid: np.ndarray, *, title: str, vmax: float | None) -> None:
    """One annotated heatmap of grid (L, H), layers down and heads across (from 0, as in module names),
    its colour bar from 0 to `vmax` (None: the grid's largest value)."""
    num_layers, num_heads = grid.shape
    top = max(float(np.nanmax(grid)) if vmax is None else vmax, 1e-9)
    image = ax.imshow(grid, cmap="viridis", vmin=0.0, vmax=top, aspect="auto")
    for (layer, head), value in np.ndenumerate(grid):
        if not np.isnan(value):  # light text on the dark low end of viridis, dark on the bright high end
            ax.text(head, layer, f"{value:.2f}", ha="center", va="center", fontsize=8,
                    color="black" if value > top / 2 else "white")
    ax.set_xticks(range(num_heads), labels=[f"head {h}" for h in range(num_heads)], rotation=90)
    ax.set_yticks(range(num_layers), labels=[f"layer {layer}" for layer in range(num_layers)])
    ax.set_title(title, fontsize=9)
    figure.colorbar(image, ax=ax, shrink=0.85)


def heads_figure(kind: AttentionKind, statistics: Mapping[str, HeadStatistics]) -> Figure:
    """A layer x head grid per statistic of one attention kind, from its modules' statistics by name."""
    panels = statistic_panels(kind)
    grids = [head_grids({name: getattr(stats, field) for name, stats in statistics.items()})[kind.label]
             for field, _, _ in panels]  # (L, H) each
    num_layers, num_heads = grids[0].shape
    width = max(3.0, CELL_INCHES * num_heads + 2.0)
    figure = Figure(figsize=(width * len(panels), max(2.5, CELL_INCHES * num_layers + 1.5)), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, grid, (_, title, vmax) in zip(axes, grids, panels):
        draw_layer_head_grid(figure, ax, grid, title=title, vmax=vmax)
    figure.suptitle(f"{kind.label}: per layer and head", fontsize=10)
    return figure


def module_numbers(stats: HeadStatistics) -> dict:
    numbers = {"entropy": stats.entropy.tolist(), "confidence": stats.confidence.tolist(),
               "sink_mass": stats.sink_mass.tolist(), "uniform_entropy": stats.uniform_entropy, "rows": stats.rows}
    if stats.neighbour_share is not None:
        numbers["neighbour_share"] = stats.neighbour_share.tolist()
        numbers["positional"] = stats.positional.tolist()
    return numbers


def kind_summary(kind: AttentionKind, statistics: Sequence[HeadStatistics]) -> dict:
    """Counts for one attention kind: heads, and for self-attention the positional ones and their share."""
    heads = sum(len(stats.entropy) for stats in statistics)
    summary: dict = {"heads": heads, "mean_entropy": float(np.mean([s.entropy.mean() for s in statistics])),
                     "mean_sink_mass": float(np.mean([s.sink_mass.mean() for s in statistics]))}
    if kind.neighbour_offsets:
        positional = int(sum(stats.positional.sum() for stats in statistics))
        summary.update(positional_heads=positional, positional_share=positional / heads)
    return summary


def confident_heads_table(statistics: dict[str, HeadStatistics]) -> Table:
    rows = []
    for name, stats in statistics.items():
        for head in range(len(stats.entropy)):
            share = "-" if stats.neighbour_share is None else round(float(stats.neighbour_share[head]), 3)
            rows.append([name, head, round(float(stats.confidence[head]), 3), round(float(stats.entropy[head]), 3),
                         round(float(stats.sink_mass[head]), 3), share])
    rows.sort(key=lambda row: -row[2])
    return Table(caption=f"The {min(MOST_CONFIDENT_ROWS, len(rows))} most confident heads (mean max weight)",
                 header=["module", "head", "confidence", "entropy (nats)", "sink mass", "neighbour share"],
                 rows=rows[:MOST_CONFIDENT_ROWS])


def heads_section(context: AnalysisContext) -> SectionResult:
    """Entropy, confidence, sink mass and positional behaviour of every head, under teacher forcing."""
    if not context.modules:
        return SectionResult(name="heads", title=TITLE, not_applicable=(
            "The model has no attention (an RNN encoder-decoder without attention, like rnn_plain), "
            "so there are no heads to describe."))
    forced = context.forced_attention()
    statistics = {name: head_statistics(forced[name], kind_of(name)) for name in context.modules}
    by_kind: dict[str, list[str]] = {}
    for name in statistics:
        by_kind.setdefault(kind_of(name).name, []).append(name)
    kinds = {kind: kind_summary(KINDS[kind], [statistics[name] for name in names]) for kind, names in by_kind.items()}
    figures = {}
    if len(statistics) > 1:  # the RNN's one attention has no layer x head grid to draw
        for kind, names in by_kind.items():
            figures[f"heads_{kind}"] = heads_figure(KINDS[kind], {name: statistics[name] for name in names})
    table = confident_heads_table(statistics)
    summary = []
    for kind, counts in kinds.items():
        line = f"{KINDS[kind].label}: {counts['heads']} head(s), mean entropy {counts['mean_entropy']:.2f} nats"
        if "positional_heads" in counts:
            line += f", {counts['positional_heads']} positional ({counts['positional_share']:.0%})"
        summary.append(line)
    best = table.rows[0]
    summary.append(f"most confident head: {best[0]} head {best[1]} (mean max weight {best[2]:.2f})")
    return SectionResult(
        name="heads", title=TITLE,
        numbers={"positional_threshold": POSITIONAL_THRESHOLD, "examples": len(context.examples),
                 "modules": {name: module_numbers(stats) for name, stats in statistics.items()}, "kinds": kinds},
        tables=[table], figures=figures, summary=summary, text=_reading_text(statistics))


def _reading_text(statistics: dict[str, HeadStatistics]) -> str:
    measures = (
        "Entropy is in nats, averaged over the query rows of every sentence under teacher forcing on the "
        "references (0 = all weight on one key; a uniform head scores the mean log of the number of keys, "
        "given per module as uniform_entropy). Confidence is the mean largest weight of a row; Voita et al. "
        "(2019) found the confident heads to be the ones that matter. Sink mass is the weight parked on "
        "source EOS (encoder self- and cross-attention) or BOS (decoder self-attention), where heads with "
        f"nothing to do tend to look. A self-attention head is positional when at least {POSITIONAL_THRESHOLD:.0%} "
        "of its queries put their largest weight on a neighbour (encoder: the previous or next piece; decoder: "
        "the previous one).")
    if len(statistics) == 1:
        return ("This model has one attention (the RNN decoder's attention over the source) with one head, "
                "so there is no layer x head grid; its statistics are in the numbers and the table. " + measures)
    return ("One figure per attention type, one panel per statistic, layers down and heads across. " + measures)
