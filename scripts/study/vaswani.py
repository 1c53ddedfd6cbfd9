"""Vaswani et al. 2017, Table 3 (A): the number of attention heads at a fixed model width."""

from __future__ import annotations

from study.experiment import TRANSFORMER, Claim, Experiment, Findings, StudyResults, Table, cell, missing_note
from study.figures import lines, new_figure
from study.results import RunScores, paired_differences, spread, verdict
from study.runs import Variant

HEADS = (1, 2, 4, 8)
REFERENCE_HEADS = 8  # the paper's base model


def _variant(heads: int) -> Variant:
    if heads == 4:
        return TRANSFORMER  # the transformer run of the length experiment
    return Variant(f"transformer-heads{heads}", f"Transformer, {heads} head{'s' * (heads > 1)}", "transformer",
                   (f"model.num_heads={heads}",))


VARIANTS = {heads: _variant(heads) for heads in HEADS}


def _test_bleu(scores: RunScores) -> float | None:
    return scores.bleu.get("test")


def analyse(results: StudyResults) -> Findings:
    findings = Findings(notes=missing_note(results, tuple(VARIANTS.values())))
    bleu = {heads: spread(map(_test_bleu, results.of(variant))) for heads, variant in VARIANTS.items()}
    reference = results.of(VARIANTS[REFERENCE_HEADS])
    change = {heads: paired_differences(results.of(variant), reference, _test_bleu) for heads, variant in VARIANTS.items()}
    findings.tables.append(Table(
        caption=f"Test BLEU (beam 5) by heads at a fixed d_model: mean (min–max) over seeds; change against "
                f"{REFERENCE_HEADS} heads, paired by seed",
        header=["heads", "test BLEU", f"change against {REFERENCE_HEADS} heads", "updates"],
        rows=[[str(heads), cell(bleu[heads]), "–" if heads == REFERENCE_HEADS else cell(change[heads]),
               cell(spread(s.updates for s in results.of(VARIANTS[heads])), 0)] for heads in HEADS]))
    findings.claims.append(Claim(
        "One head is worse than eight (Table 3 (A): 24.9 against 25.8 BLEU)",
        verdict(bleu[1], bleu[REFERENCE_HEADS], expected="lower"),
        f"1 head {cell(bleu[1])}, {REFERENCE_HEADS} heads {cell(bleu[REFERENCE_HEADS])} "
        f"(paired change {cell(change[1])})"))
    if all(value is None for value in bleu.values()):
        return findings
    figure, (axes,) = new_figure()
    lines(axes, list(HEADS), {"Transformer": [bleu[heads] for heads in HEADS]}, xlabel="attention heads",
          ylabel="test BLEU", tick_labels=[str(heads) for heads in HEADS])
    axes.set_xscale("log", base=2)
    axes.set_xticks(list(HEADS), [str(heads) for heads in HEADS])
    axes.set_title("BLEU by number of heads: mean and min–max over seeds")
    findings.figures["vaswani_heads"] = figure
    return findings


EXPERIMENT = Experiment(
    name="vaswani",
    title="Number of attention heads",
    paper="Vaswani et al. 2017, Attention Is All You Need (NeurIPS), Table 3, rows (A)",
    published=(("English→German newstest2013, base model (d_model 512, d_k = d_v = 512 / heads): 8 heads 25.8 BLEU; "
               "1 head 24.9 (−0.9); 4 heads 25.5; 16 heads 25.8; 32 heads 25.4 (too many heads also hurt)."),),
    compared="the Transformer with model.num_heads=1, 2, 4, 8 at the budget's d_model: test BLEU.",
    variants=tuple(VARIANTS.values()),
    splits=("test",),
    analyse=analyse,
)
