"""Does the output depend on where the model attends? Cross-attention replaced by uniform or permuted weights.

Jain & Wallace (2019, "Attention is not Explanation") replaced attention distributions by
others and found the predictions of text classifiers often unchanged; Wiegreffe & Pinter (2019,
"Attention is not not Explanation") argued for measuring how much the output moves. Applied to
translation: the cross-attention is replaced at decode time by uniform weights over the real
source positions, or by each row's own weights shuffled among them, and we measure the change
in greedy BLEU, in the mean reference log-prob per token, and the mean per-token
KL(original || altered) of the next-token distributions under teacher forcing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from nmt.analysis.core import AnalysisContext, Example, SectionResult, Table
from nmt.analysis.interventions import permuted_weights, uniform_weights
from nmt.models.attention import WeightsHook
from nmt.tokens import EOS_ID

TITLE = "Faithfulness of cross-attention"
ALTERATIONS = ("uniform", "permuted")
MATTERS_BLEU_DROP = 1.0  # BLEU points: a larger drop under an alteration means the output depends on attention
MATTERS_KL = 0.1  # nats per token: a larger KL means the output distributions depend on attention


def altered_hooks(names: Sequence[str], alteration: str, *, seed: int) -> dict[str, WeightsHook]:
    """Hooks that replace the weights of the modules `names`; permutations are drawn from a generator seeded with `seed`."""
    if alteration == "uniform":
        return {name: uniform_weights for name in names}
    if alteration == "permuted":
        generator = torch.Generator().manual_seed(seed)
        return {name: permuted_weights(generator) for name in names}
    raise ValueError(f"unknown alteration {alteration!r}; expected one of {', '.join(ALTERATIONS)}")


def mean_kl_per_token(original: Sequence[np.ndarray], altered: Sequence[np.ndarray]) -> float:
    """Mean over every target position of KL(p || q) in nats; inputs are log-distributions (T + 1, V) per example."""
    total, positions = 0.0, 0
    for log_p, log_q in zip(original, altered):
        log_p, log_q = log_p.astype(np.float64), log_q.astype(np.float64)
        total += float((np.exp(log_p) * (log_p - log_q)).sum())
        positions += log_p.shape[0]
    return total / positions


def reference_log_prob_per_token(examples: Sequence[Example], log_dists: Sequence[np.ndarray]) -> float:
    """Mean log-prob of the reference tokens (EOS included) read from the next-token log-distributions."""
    total, positions = 0.0, 0
    for example, log_dist in zip(examples, log_dists):
        targets = [*example.tgt_ids, EOS_ID]
        total += float(log_dist[np.arange(len(targets)), targets].astype(np.float64).sum())
        positions += len(targets)
    return total / positions


def faithfulness_section(context: AnalysisContext) -> SectionResult:
    """Uniform and permuted cross-attention: all layers at once and each layer alone (Transformer)."""
    cross = [name for name in context.modules if name.endswith("cross")]
    if not cross:
        return SectionResult(name="faithfulness", title=TITLE, not_applicable=(
            "The model has no attention (rnn_plain), so there is no attention to replace."))
    original_dists = context.next_token_log_probs()
    baseline = {"bleu": context.bleu(context.translate()),
                "log_prob_per_token": reference_log_prob_per_token(context.examples, original_dists)}
    settings = [("all", cross)] + ([(name, [name]) for name in cross] if len(cross) > 1 else [])
    rows = []
    for layers, names in settings:
        for alteration in ALTERATIONS:
            dists = context.next_token_log_probs(altered_hooks(names, alteration, seed=context.seed))
            bleu = context.bleu(context.translate(altered_hooks(names, alteration, seed=context.seed)))
            log_prob = reference_log_prob_per_token(context.examples, dists)
            rows.append({"layers": layers, "alteration": alteration, "bleu": bleu,
                         "delta_bleu": bleu - baseline["bleu"], "log_prob_per_token": log_prob,
                         "delta_log_prob": log_prob - baseline["log_prob_per_token"],
                         "kl_per_token": mean_kl_per_token(original_dists, dists)})
    numbers = {"baseline": baseline, "settings": rows, "seed": context.seed, "decodes": 1 + len(rows),
               "forced_passes": 1 + len(rows), "attends": _attends(rows)}
    table = Table(caption="Cross-attention replaced at decode time (layers: 'all' = every cross-attention layer at once)",
                  header=["layers", "weights", "BLEU", "ΔBLEU", "log-prob/token", "Δlog-prob/token", "KL/token"],
                  rows=[["original", "", _r(baseline["bleu"]), "", _r(baseline["log_prob_per_token"]), "", ""]]
                  + [[row["layers"], row["alteration"], _r(row["bleu"]), _r(row["delta_bleu"]),
                      _r(row["log_prob_per_token"]), _r(row["delta_log_prob"]), _r(row["kl_per_token"])]
                     for row in rows])
    text = ("Each cross-attention row is replaced, at every decoding step, by uniform weights over the real "
            "source positions, or by its own weights shuffled among them (permutations seeded with "
            f"seed={context.seed}); 'all' replaces every cross-attention layer at once, the other rows one layer "
            "alone. ΔBLEU is the change of greedy BLEU, Δlog-prob the change of the mean reference log-prob per "
            "target token, KL the mean per-token KL(original || altered) of the next-token distributions under "
            "teacher forcing, in nats. If the output barely moves, the attention weights are not what the "
            "prediction rests on (Jain & Wallace 2019); a large change says the model depends on where it "
            f"attends. Threshold used in the summary: a BLEU drop of {MATTERS_BLEU_DROP:g} point or a KL of "
            f"{MATTERS_KL:g} nats per token.")
    return SectionResult(name="faithfulness", title=TITLE, numbers=numbers, tables=[table],
                         summary=_summary(baseline, rows), text=text)


def _attends(rows: Sequence[dict]) -> str:
    """'bleu' when an all-layer alteration drops BLEU by MATTERS_BLEU_DROP or more, else 'distribution' when
    its KL reaches MATTERS_KL, else 'no'."""
    everything = [row for row in rows if row["layers"] == "all"]
    if any(row["delta_bleu"] <= -MATTERS_BLEU_DROP for row in everything):
        return "bleu"
    if any(row["kl_per_token"] >= MATTERS_KL for row in everything):
        return "distribution"
    return "no"


def _summary(baseline: dict, rows: Sequence[dict]) -> list[str]:
    lines = [f"faithfulness: {row['alteration']} cross-attention changes BLEU {baseline['bleu']:.1f} -> "
             f"{row['bleu']:.1f}, log-prob/token {row['delta_log_prob']:+.3f}, KL {row['kl_per_token']:.3f} nats/token"
             for row in rows if row["layers"] == "all"]
    verdict = {
        "bleu": "the translations depend on where the model attends: changing its attention changes its output.",
        "distribution": ("greedy BLEU barely moves, but the output distributions do: attention shapes the "
                         "probabilities more than the chosen words."),
        "no": "neither BLEU nor the output distributions move much: here the output hardly depends on where it attends.",
    }[_attends(rows)]
    return [*lines, f"faithfulness: {verdict}"]


def _r(value: float) -> float:
    return round(float(value), 3)
