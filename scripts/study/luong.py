"""Luong et al. 2015, Tables 1 and 4: the dot, general and concat scores, each with and without input feeding."""

from __future__ import annotations

from study.experiment import RNN_LUONG, Claim, Experiment, Findings, StudyResults, Table, cell, missing_note
from study.figures import grouped_bars, new_figure
from study.results import RunScores, Spread, Verdict, paired_differences, spread, verdict
from study.runs import Variant

SCORES = ("dot", "general", "concat")


def _variant(score: str, feeding: bool) -> Variant:
    if (score, feeding) == ("general", True):
        return RNN_LUONG  # the rnn_luong run of the length experiment
    return Variant(f"rnn_luong-{score}-{'feed' if feeding else 'nofeed'}",
                   f"Luong {score} score, {'input feeding' if feeding else 'no input feeding'}", "rnn_luong",
                   (f"model.score={score}", f"model.input_feeding={str(feeding).lower()}"))


GRID = {(score, feeding): _variant(score, feeding) for score in SCORES for feeding in (True, False)}


def _test_bleu(scores: RunScores) -> float | None:
    return scores.bleu.get("test")


def _pooled(results: StudyResults, cells: list[tuple[str, bool]]) -> Spread | None:
    """Over seeds, the mean test BLEU of the `cells` of the grid (seeds with a cell missing left out)."""
    per_seed = []
    for seed in results.seeds:
        values = [next((_test_bleu(s) for s in results.of(GRID[key]) if s.seed == seed), None) for key in cells]
        if all(value is not None for value in values):
            per_seed.append(sum(values) / len(values))  # type: ignore[arg-type]
    return spread(per_seed)


def analyse(results: StudyResults) -> Findings:
    findings = Findings(notes=missing_note(results, tuple(GRID.values())))
    bleu = {key: spread(map(_test_bleu, results.of(variant))) for key, variant in GRID.items()}
    gains = {score: paired_differences(results.of(GRID[score, True]), results.of(GRID[score, False]), _test_bleu)
             for score in SCORES}
    findings.tables.append(Table(
        caption="Test BLEU (beam 5): mean (min–max) over seeds; gain = input feeding − none, paired by seed",
        header=["score", "input feeding", "no input feeding", "gain"],
        rows=[[score, cell(bleu[score, True]), cell(bleu[score, False]), cell(gains[score])] for score in SCORES]))
    feeding = _pooled(results, [(score, True) for score in SCORES])
    no_feeding = _pooled(results, [(score, False) for score in SCORES])
    by_score = {score: _pooled(results, [(score, True), (score, False)]) for score in SCORES}
    findings.claims += [
        Claim("Input feeding helps (Table 1: +1.3 BLEU)", verdict(feeding, no_feeding, expected="higher"),
              f"mean over the three scores: {cell(feeding)} with input feeding, {cell(no_feeding)} without; "
              + ", ".join(f"{score} {cell(gains[score])}" for score in SCORES)),
        Claim("concat is the weakest score (reported as performing poorly, left out of Table 4)",
              _weakest(by_score["concat"], [by_score["dot"], by_score["general"]]),
              "mean over input feeding on and off: " + ", ".join(f"{s} {cell(by_score[s])}" for s in SCORES)),
        Claim("dot beats general with global attention (Table 4: 18.6 against 17.3 BLEU)",
              verdict(by_score["dot"], by_score["general"], expected="higher"),
              f"dot {cell(by_score['dot'])}, general {cell(by_score['general'])}"),
    ]
    if all(value is None for value in bleu.values()):
        return findings
    figure, (axes,) = new_figure()
    grouped_bars(axes, SCORES, {"input feeding": [bleu[s, True] for s in SCORES],
                                "no input feeding": [bleu[s, False] for s in SCORES]}, ylabel="test BLEU")
    axes.set_title("Luong attention scores: mean and min–max over seeds")
    findings.figures["luong_scores_input_feeding"] = figure
    return findings


def _weakest(candidate: Spread | None, others: list[Spread | None]) -> Verdict:
    """"candidate is below every other": holds when below each, does not hold when above any, else a tie."""
    verdicts = [verdict(candidate, other, expected="lower") for other in others]
    for outcome in ("not measured", "does not hold", "tie"):
        if outcome in verdicts:
            return outcome  # type: ignore[return-value]
    return "holds"


EXPERIMENT = Experiment(
    name="luong",
    title="Attention scores and input feeding",
    paper="Luong, Pham & Manning 2015, Effective Approaches to Attention-based Neural Machine Translation (EMNLP), "
          "Tables 1 and 4",
    published=(("WMT'14 English→German (newstest2014): input feeding adds 1.3 BLEU to the global-attention model "
               "(16.8 → 18.1, Table 1)."),
               ("Global attention by score (Table 4, before unknown-word replacement): dot 18.6, general 17.3, "
               "location 18.1 BLEU; concat is left out of the table as performing poorly.")),
    compared="rnn_luong with model.score=dot|general|concat, each with model.input_feeding=true and false: test BLEU.",
    variants=tuple(GRID.values()),
    splits=("test",),
    analyse=analyse,
)
