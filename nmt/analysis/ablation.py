"""Head ablation: how much each attention head matters to the translations (Michel et al. 2019).

"Are Sixteen Heads Really Better than One?" found that most single heads of a trained
Transformer can be removed at test time with little loss, and that many can be pruned
together. Here every head of every attention module is masked alone (its weights zeroed,
so its output is zero) and greedy BLEU and the reference log-probability are measured
again; then heads are pruned in rounds, the least important first, for a curve of BLEU
against the share of heads removed. The RNN has one attention with one head: masking it
would remove the source altogether, so its attention is replaced by uniform weights instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from matplotlib.figure import Figure

from nmt.analysis.core import AnalysisContext, SectionResult, Table
from nmt.analysis.head_grids import head_grids, plot_head_grids
from nmt.analysis.interventions import uniform_weights
from nmt.analysis.row_masks import Head, Setting
from nmt.models.attention import WeightsHook

log = logging.getLogger(__name__)

TITLE = "Head ablation"
PRUNE_SHARE = 0.1  # share of all heads removed per pruning round
TOP_HEADS = 10  # rows of the table of most important heads

@dataclass(frozen=True)
class Measurement:
    """Greedy BLEU and mean reference log-prob per target token (EOS included) under some hooks."""

    bleu: float
    log_prob_per_token: float


def log_prob_per_token(context: AnalysisContext, hooks: Mapping[str, WeightsHook] | None = None) -> float:
    """Teacher-forced reference log-prob summed over the examples, divided by their target tokens (+ EOS)."""
    return float(context.reference_log_probs(hooks).sum() / _target_tokens(context))


def measure(context: AnalysisContext, hooks: Mapping[str, WeightsHook] | None = None) -> Measurement:
    """One greedy decode and one teacher-forced pass under `hooks`."""
    return Measurement(bleu=context.bleu(context.translate(hooks)), log_prob_per_token=log_prob_per_token(context, hooks))


def masked_log_probs_per_token(context: AnalysisContext, settings: Sequence[Setting]) -> list[float]:
    """`log_prob_per_token` with the heads of each setting masked (several settings per batch)."""
    values = context.reference_log_probs_masked(settings)  # (C, N)
    tokens = _target_tokens(context)
    return [float(row.sum() / tokens) for row in values]


def measure_masked(context: AnalysisContext, settings: Sequence[Setting]) -> list[Measurement]:
    """`measure` with the heads of each setting masked: per setting, one greedy decode and one teacher-forced pass."""
    translations = context.translate_masked(settings)
    return [Measurement(bleu=context.bleu(hypotheses), log_prob_per_token=log_prob)
            for hypotheses, log_prob in zip(translations, masked_log_probs_per_token(context, settings))]


def pruning_curve(context: AnalysisContext, baseline: Measurement, *, share_per_round: float = PRUNE_SHARE,
                  single_drops: Mapping[Head, float] | None = None,
                  ranking: AnalysisContext | None = None) -> list[dict]:
    """Remove the least important remaining heads in rounds of ~share_per_round of all heads, until none is left.

    Importance of a remaining head = the drop of the mean reference log-prob per token when it is
    masked on top of the heads already removed (teacher forcing), measured on the sentences of
    `ranking` (default: all of `context`'s). Returns one point per round, the first with nothing
    removed; `ranking_passes` counts the teacher-forced passes over the ranking sentences.
    `single_drops` (each head's drop when masked alone, already measured on every sentence) ranks
    the first round without passes.
    """
    ranking = context if ranking is None else ranking
    all_heads = [(name, head) for name, count in context.heads.items() for head in range(count)]
    per_round = max(1, round(share_per_round * len(all_heads)))
    removed: list[Head] = []
    current = baseline
    curve = [_curve_point(removed, len(all_heads), baseline, ranking_passes=0)]
    while len(removed) < len(all_heads):
        remaining = [head for head in all_heads if head not in removed]
        ranking_passes = 0
        if len(remaining) > per_round:  # else the round removes everything left: no ranking needed
            if not removed and single_drops is not None:
                drops = [single_drops[head] for head in remaining]
            else:
                drops, ranking_passes = _drops(ranking, removed, remaining, current=current, whole=ranking is context)
            order = np.argsort(drops, kind="stable")  # least important first; ties keep module order
            remaining = [remaining[index] for index in order[:per_round]]
        removed += remaining
        current = measure_masked(context, [removed])[0]
        log.info("ablation pruning heads_removed=%d/%d bleu=%.2f", len(removed), len(all_heads), current.bleu)
        curve.append(_curve_point(removed, len(all_heads), current, ranking_passes=ranking_passes))
    return curve


def _drops(ranking: AnalysisContext, removed: Sequence[Head], candidates: Sequence[Head], *,
           current: Measurement, whole: bool) -> tuple[list[float], int]:
    """Each candidate's drop of log-prob per token on `ranking`'s sentences when masked on top of `removed`, and
    the passes spent. `whole`: those are all the sentences, whose log-prob with `removed` masked is `current`'s."""
    settings = [[*removed, head] for head in candidates] + ([] if whole else [list(removed)])
    scores = masked_log_probs_per_token(ranking, settings)
    before = current.log_prob_per_token if whole else scores.pop()
    return [before - score for score in scores], len(settings)


def _target_tokens(context: AnalysisContext) -> int:
    return sum(len(example.tgt_ids) + 1 for example in context.examples)


def _curve_point(removed: Sequence[Head], total: int, measurement: Measurement, *, ranking_passes: int) -> dict:
    return {"heads_removed": len(removed), "share_removed": len(removed) / total, **asdict(measurement),
            "removed": [f"{name}:{head}" for name, head in removed], "ranking_passes": ranking_passes}


def ablation_section(context: AnalysisContext) -> SectionResult:
    """Every head masked alone, then pruned in rounds (Transformer); uniform attention (RNN)."""
    if not context.modules:
        return SectionResult(name="ablation", title=TITLE, not_applicable=(
            "The model has no attention (rnn_plain), so there is no head to remove."))
    baseline = measure(context)
    if list(context.modules) == ["cross"]:
        return _rnn_section(context, baseline)
    return _transformer_section(context, baseline)


def _rnn_section(context: AnalysisContext, baseline: Measurement) -> SectionResult:
    uniform = measure(context, {"cross": uniform_weights})
    changes = _changes(uniform, baseline)
    numbers = {"baseline": asdict(baseline), "uniform": {**asdict(uniform), **changes}, "pruning": None,
               "decodes": 2, "forced_passes": 2}
    table = Table(caption="The RNN's attention replaced by uniform weights over the source",
                  header=["setting", "BLEU", "ΔBLEU", "log-prob/token", "Δlog-prob/token"],
                  rows=[["original", _r(baseline.bleu), "", _r(baseline.log_prob_per_token), ""],
                        ["uniform attention", _r(uniform.bleu), _r(changes["delta_bleu"]),
                         _r(uniform.log_prob_per_token), _r(changes["delta_log_prob"])]])
    summary = [(f"ablation: uniform attention changes BLEU {baseline.bleu:.1f} -> {uniform.bleu:.1f} "
               f"and reference log-prob/token {baseline.log_prob_per_token:.3f} -> {uniform.log_prob_per_token:.3f}")]
    text = ("The RNN has a single attention with a single head: masking it would cut the decoder off from the "
            "source, so instead its weights are replaced by uniform weights over the real source positions "
            "(the context vector becomes the mean encoder state). A large drop means the model relies on "
            "where it attends. With one head there is nothing to prune, so there is no pruning curve. "
            "Cost: 2 greedy decodes and 2 teacher-forced passes over the sentences.")
    return SectionResult(name="ablation", title=TITLE, numbers=numbers, tables=[table], summary=summary, text=text)


def _transformer_section(context: AnalysisContext, baseline: Measurement) -> SectionResult:
    all_heads = [(name, head) for name, count in context.heads.items() for head in range(count)]
    log.info("ablation heads=%d modules=%d", len(all_heads), len(context.heads))
    heads = [{"module": name, "head": head, **asdict(masked), **_changes(masked, baseline)}
             for (name, head), masked in zip(all_heads, measure_masked(context, [[head] for head in all_heads]))]
    single_drops = {(row["module"], row["head"]): -row["delta_log_prob"] for row in heads}
    sampled = context.ranking_sentences is not None and context.ranking_sentences < len(context.examples)
    ranking = context.subset(context.ranking_sentences) if sampled else context
    curve = pruning_curve(context, baseline, single_drops=single_drops, ranking=ranking)
    rounds = len(curve) - 1
    ranking_passes = sum(point["ranking_passes"] for point in curve)
    numbers = {"baseline": asdict(baseline), "heads": heads, "pruning": curve, "num_heads": len(heads),
               "share_per_round": PRUNE_SHARE, "importance": "drop of reference log-prob per token (teacher forcing)",
               "ranking_sentences": len(ranking.examples), "sentences": len(context.examples),
               "decodes": 1 + len(heads) + rounds, "forced_passes": 1 + len(heads) + rounds + ranking_passes}
    ranked = sorted(heads, key=lambda row: (row["delta_bleu"], row["delta_log_prob"]))
    table = Table(caption=f"The {min(TOP_HEADS, len(ranked))} most important heads (largest BLEU drop when masked alone)",
                  header=["module", "head", "BLEU", "ΔBLEU", "Δlog-prob/token"],
                  rows=[[row["module"], row["head"], _r(row["bleu"]), _r(row["delta_bleu"]),
                         _r(row["delta_log_prob"])] for row in ranked[:TOP_HEADS]])
    curve_table = Table(caption="Pruning curve: BLEU after each round",
                        header=["heads removed", "share", "BLEU", "log-prob/token"],
                        rows=[[point["heads_removed"], f"{point['share_removed']:.0%}", _r(point["bleu"]),
                               _r(point["log_prob_per_token"])] for point in curve])
    grids = head_grids(_per_module(heads, context.heads, "delta_bleu"))
    limit = max(1e-6, max(abs(row["delta_bleu"]) for row in heads))
    figures = {
        "ablation_heads": plot_head_grids(grids, title="ΔBLEU when one head is masked", label="ΔBLEU",
                                          vmin=-limit, vmax=limit, cmap="RdBu"),
        "ablation_pruning": _plot_curve(curve, baseline),
    }
    harmless = sum(row["delta_bleu"] > -0.5 for row in heads)
    half = next(point for point in curve if point["share_removed"] >= 0.5)
    summary = [(f"ablation: {harmless} of {len(heads)} heads can be masked alone losing under 0.5 BLEU "
               f"(baseline {baseline.bleu:.1f}); most important: {ranked[0]['module']} head {ranked[0]['head']} "
               f"(ΔBLEU {ranked[0]['delta_bleu']:+.1f})"),
               f"ablation: BLEU {half['bleu']:.1f} with {half['share_removed']:.0%} of the heads pruned"]
    text = ("Each head of each attention module is masked alone (its attention weights set to zero, so its "
            "output is zero; Michel et al. 2019) and the greedy BLEU and the mean reference log-prob per target "
            "token are measured again. The heatmaps show ΔBLEU per layer and head (red: the head helps). "
            f"Pruning: in each round the least important remaining heads (about {PRUNE_SHARE:.0%} of all heads) "
            "are removed; a head's importance is the drop of the mean reference log-prob per token, under "
            "teacher forcing, when it is masked on top of the heads already removed; BLEU is measured after each "
            f"round. {_ranking_text(len(ranking.examples), len(context.examples))} Cost: {numbers['decodes']} greedy "
            f"decodes and {numbers['forced_passes']} teacher-forced passes, {ranking_passes} of them to rank heads.")
    return SectionResult(name="ablation", title=TITLE, numbers=numbers, tables=[table, curve_table],
                         figures=figures, summary=summary, text=text)


def _ranking_text(ranking_sentences: int, sentences: int) -> str:
    if ranking_sentences == sentences:
        return "Every measurement, the ranking included, uses all the sentences."
    return (f"Sampling: after the first round (ranked by the heads' single drops, measured on all {sentences} "
            f"sentences) heads are ranked on the first {ranking_sentences} sentences only (ranking_sentences="
            f"{ranking_sentences}); the BLEU and log-prob of every round are measured on all of them.")


def _changes(measurement: Measurement, baseline: Measurement) -> dict[str, float]:
    return {"delta_bleu": measurement.bleu - baseline.bleu,
            "delta_log_prob": measurement.log_prob_per_token - baseline.log_prob_per_token}


def _per_module(rows: Sequence[dict], heads: Mapping[str, int], key: str) -> dict[str, list[float]]:
    values = {name: [0.0] * count for name, count in heads.items()}
    for row in rows:
        values[row["module"]][row["head"]] = row[key]
    return values


def _plot_curve(curve: Sequence[dict], baseline: Measurement) -> Figure:
    figure = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = figure.subplots()
    shares = [100 * point["share_removed"] for point in curve]
    ax.plot(shares, [point["bleu"] for point in curve], marker="o")
    ax.axhline(baseline.bleu, color="grey", linestyle="--", linewidth=1, label="all heads")
    ax.set_xlabel("heads removed (%)")
    ax.set_ylabel("greedy BLEU")
    ax.set_title("Pruning the least important heads first", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    return figure


def _r(value: float) -> float:
    return round(float(value), 3)
