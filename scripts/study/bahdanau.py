"""Bahdanau et al. 2015, Fig. 2: BLEU against source length, with and without attention.

On the sample budget the models train on a mix with 10 % long sentences (data.long_train_share)
and are scored on the test split (up to ~17 words) and on the long_test split (30-60 words);
each length bucket takes its BLEU from the split with the most sentences in it.
"""

from __future__ import annotations

from study.budgets import LONG_SPLIT
from study.experiment import (
    RNN_BAHDANAU,
    RNN_LUONG,
    RNN_PLAIN,
    TRANSFORMER,
    Claim,
    Experiment,
    Findings,
    StudyResults,
    Table,
    cell,
    missing_note,
)
from study.figures import lines, new_figure
from study.results import RunScores, Spread, Verdict, compare, paired_differences, spread, verdict

VARIANTS = (RNN_PLAIN, RNN_BAHDANAU, RNN_LUONG, TRANSFORMER)
MIN_BUCKET_SENTENCES = 20  # a bucket's BLEU over fewer sentences is too noisy to judge a trend by


def _bucket_bleu(label: str):
    def value(scores: RunScores) -> float | None:
        return scores.length_bleu.get(label, (0, None))[1]
    return value


def _buckets(results: StudyResults) -> list[tuple[str, int]]:
    """(label, sentences) of the length buckets with at least MIN_BUCKET_SENTENCES sentences, shortest first."""
    for variant in VARIANTS:
        for scores in results.of(variant):
            return [(label, count) for label, (count, _) in scores.length_bleu.items() if count >= MIN_BUCKET_SENTENCES]
    return []


def analyse(results: StudyResults) -> Findings:
    findings = Findings(notes=missing_note(results, VARIANTS))
    splits = [split for split in EXPERIMENT.splits if split in results.budget.splits]
    if LONG_SPLIT not in splits:
        findings.notes.append(f"The {results.budget.name} corpus has no long-sentence split: the buckets come from "
                              "its test split alone, whose sentences are short.")
    findings.tables.append(Table(
        caption="BLEU (beam 5) per split: mean (min–max) over seeds",
        header=["model", *splits, "updates"],
        rows=[[variant.description, *(cell(spread(s.bleu.get(split) for s in results.of(variant))) for split in splits),
               cell(spread(s.updates for s in results.of(variant)), 0)] for variant in VARIANTS]))
    buckets = _buckets(results)
    by_bucket = {variant.name: [spread(_bucket_bleu(label)(s) for s in results.of(variant)) for label, _ in buckets]
                 for variant in VARIANTS}
    findings.tables.append(Table(
        caption=f"BLEU by source length (words; sentences per bucket; buckets under {MIN_BUCKET_SENTENCES} "
                "sentences left out)",
        header=["model", *(f"{label} ({count})" for label, count in buckets)],
        rows=[[variant.description, *(cell(value) for value in by_bucket[variant.name])] for variant in VARIANTS]))
    findings.claims += _claims(results, splits, buckets)
    if buckets:
        figure, (axes,) = new_figure()
        lines(axes, list(range(len(buckets))), {variant.name: by_bucket[variant.name] for variant in VARIANTS},
              xlabel="source sentence length (words)", ylabel="BLEU", tick_labels=[label for label, _ in buckets])
        axes.set_title("BLEU by source length: mean and min–max over seeds")
        findings.figures["bahdanau_bleu_by_length"] = figure
    return findings


def _claims(results: StudyResults, splits: list[str], buckets: list[tuple[str, int]]) -> list[Claim]:
    plain, attention = results.of(RNN_PLAIN), results.of(RNN_BAHDANAU)
    overall = {split: (spread(s.bleu.get(split) for s in attention), spread(s.bleu.get(split) for s in plain))
               for split in splits}
    first = splits[0]
    claims = [Claim("Attention beats no attention (RNNsearch 26.75 against RNNencdec 17.82 BLEU)",
                    verdict(*overall[first], expected="higher"),
                    "; ".join(f"{split}: rnn_bahdanau {cell(a)} against rnn_plain {cell(b)}"
                              for split, (a, b) in overall.items()))]
    if len(buckets) < 2:
        return [*claims, Claim("The gap grows with sentence length (Fig. 2)", "not measured",
                               "fewer than two length buckets with enough sentences")]
    (short, _), (long, _) = buckets[0], buckets[-1]
    short_gap = paired_differences(attention, plain, _bucket_bleu(short))
    long_gap = paired_differences(attention, plain, _bucket_bleu(long))
    claims.append(Claim("The gap grows with sentence length (Fig. 2)", verdict(long_gap, short_gap, expected="higher"),
                        f"rnn_bahdanau − rnn_plain: {cell(short_gap)} BLEU at {short} words, "
                        f"{cell(long_gap)} at {long} words"))
    short_bleu, long_bleu = spread(map(_bucket_bleu(short), attention)), spread(map(_bucket_bleu(long), attention))
    claims.append(Claim("With attention, BLEU does not drop on long sentences (no deterioration at 50+ words)",
                        _no_drop(long_bleu, short_bleu),
                        f"rnn_bahdanau: {cell(short_bleu)} at {short} words, {cell(long_bleu)} at {long} words"))
    return claims


def _no_drop(long_bleu: Spread | None, short_bleu: Spread | None) -> Verdict:
    if long_bleu is None or short_bleu is None:
        return "not measured"
    return "does not hold" if compare(long_bleu, short_bleu) == "lower" else "holds"


EXPERIMENT = Experiment(
    name="bahdanau",
    title="BLEU against sentence length, with and without attention",
    paper="Bahdanau, Cho & Bengio 2015, Neural Machine Translation by Jointly Learning to Align and Translate "
          "(ICLR), Table 1 and Fig. 2",
    published=("WMT'14 English→French, all test sentences: RNNsearch-50 26.75 BLEU, RNNencdec-50 17.82 (Table 1).",
               ("Fig. 2: RNNencdec's BLEU falls as sentences grow longer; RNNsearch-50 shows no deterioration, "
               "even on sentences of 50 words or more.")),
    compared="rnn_plain (no attention) against rnn_bahdanau, with rnn_luong and the Transformer beside them: "
             "BLEU on the test and long-sentence splits and BLEU per source-length bucket.",
    variants=VARIANTS,
    splits=("test", LONG_SPLIT),
    analyse=analyse,
)
