"""How much attention each source word receives over a whole translation (Tu et al. 2016, "Modeling Coverage").

Under the model's own greedy translation, a source word's coverage is the attention its pieces
receive summed over every hypothesis piece (the step that emits EOS left out; Transformer: the
mean of all cross-attention heads and layers). A word translated once has coverage near 1.
Tu et al. tie low coverage to dropped words (under-translation) and high coverage to repeated
ones (over-translation); this section measures both relations on the analysed sentences.
A source word is dropped when it has gold-aligned reference words and none of them occurs in
the hypothesis; without gold alignments only coverage and repetition are reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from matplotlib.figure import Figure

from nmt.analysis.alignment import check_alignment
from nmt.analysis.core import Alignment, AnalysisContext, SectionResult, Table
from nmt.analysis.words import sum_word_columns, word_count
from nmt.data.batching import collate
from nmt.inference.decoding import greedy_search

UNDER_COVERED = 0.5  # coverage below this: the word got less than half a translation's worth of attention
OVER_COVERED = 1.5  # coverage above this: attended as if translated one and a half times or more
HISTOGRAM_MAX = 3.0  # the histogram's last bin also counts every coverage beyond it
HISTOGRAM_BINS = 30
TITLE = "Source coverage"
NEEDS_ALIGNMENTS = "dropped words need gold alignments: pass alignments=FILE (Pharaoh format) or use data=sample"


@dataclass(frozen=True)
class CoveredSentence:
    """One example under its greedy translation: coverage (Ws,) of each source word and the repetition counts."""

    coverage: np.ndarray
    surplus_words: int  # occurrences beyond the reference's of words the hypothesis repeats
    immediate_repetitions: int  # positions that repeat the word just before
    dropped: np.ndarray | None  # (Ws,) bool; None without a gold alignment
    aligned: np.ndarray | None  # (Ws,) bool: the word has a gold link

    @property
    def has_repetition(self) -> bool:
        return self.surplus_words > 0 or self.immediate_repetitions > 0


def source_coverage(attention: np.ndarray, src_word_of_piece: Sequence[int]) -> np.ndarray:
    """attention (T' + 1, S + 1) of a translation (the last row emits EOS, the last column is source EOS)
    -> (Ws,) each source word's weight summed over the hypothesis pieces and over its own pieces."""
    return sum_word_columns(attention[:-1].sum(axis=0), src_word_of_piece)  # (Ws,)


def surplus_repetitions(hypothesis_words: Sequence[str], reference_words: Sequence[str]) -> int:
    """Extra occurrences of the words the hypothesis repeats: for each word occurring at least twice in the
    hypothesis, how many more times than in the reference (counting a word absent there as once)."""
    hypothesis, reference = Counter(hypothesis_words), Counter(reference_words)
    return sum(count - max(reference[word], 1) for word, count in hypothesis.items()
               if count >= 2 and count > max(reference[word], 1))


def immediate_repetitions(words: Sequence[str]) -> int:
    """Positions whose word equals the one just before ("the the")."""
    return sum(1 for before, word in pairwise(words) if before == word)


def dropped_source_words(alignment: Alignment, *, num_src_words: int, reference_words: Sequence[str],
                         hypothesis_words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(dropped (Ws,) bool, aligned (Ws,) bool): a gold-aligned source word (sure or possible link) is
    dropped when none of its aligned reference words occurs in the hypothesis; unaligned words never are."""
    in_hypothesis = set(hypothesis_words)
    translations: list[set[str]] = [set() for _ in range(num_src_words)]
    for src_word, tgt_word in alignment.possible:
        translations[src_word].add(reference_words[tgt_word])
    aligned = np.array([bool(words) for words in translations], dtype=bool)
    dropped = np.array([bool(words) and not words & in_hypothesis for words in translations], dtype=bool)
    return dropped, aligned


def point_biserial(flags: np.ndarray, values: np.ndarray) -> float | None:
    """Correlation of a binary variable with a continuous one: r = (M1 - M0) / s * sqrt(p (1 - p)), s the
    population standard deviation of `values`, p the share of flags. None when either does not vary."""
    flags, values = np.asarray(flags, dtype=bool), np.asarray(values, dtype=np.float64)
    spread = values.std()
    if flags.all() or not flags.any() or spread == 0:
        return None
    share = flags.mean()
    return float((values[flags].mean() - values[~flags].mean()) / spread * np.sqrt(share * (1 - share)))


def rate(flags: np.ndarray, among: np.ndarray) -> float | None:
    """Share of `flags` among the positions where `among` holds; None when there are none."""
    return float(flags[among].mean()) if among.any() else None


def greedy_attention(context: AnalysisContext) -> list[tuple[str, np.ndarray]]:
    """Per example its greedy translation and the cross-attention (T' + 1, S + 1) that produced it,
    averaged over heads and layers; batched like the context's own decoding."""
    results: list[tuple[str, np.ndarray]] = [("", np.empty(0))] * len(context.examples)
    for rows in context.batches():
        batch = collate([context.examples[row].src_ids for row in rows], None, rows).to(context.device)
        hypotheses = greedy_search(context.model, batch.src, batch.src_mask, max_len_a=context.max_len_a,
                                   max_len_b=context.max_len_b, return_attention=True)
        for row, hypothesis in zip(rows, hypotheses):
            attention = hypothesis.attention.float().mean(dim=(0, 1)).numpy()  # (T' + 1, S + 1)
            results[row] = (context.tokenizer.decode_tgt(hypothesis.tokens), attention)
    return results


def cover_sentences(context: AnalysisContext) -> list[CoveredSentence]:
    sentences = []
    for index, (hypothesis, attention) in enumerate(greedy_attention(context)):
        example = context.examples[index]
        hypothesis_words, reference_words = hypothesis.split(), example.ref.split()
        dropped = aligned = None
        if example.alignment is not None:
            num_src_words = word_count(example.src_word_of_piece)
            check_alignment(example.alignment, num_src_words=num_src_words,
                            num_tgt_words=word_count(example.tgt_word_of_piece), where=f"example {index}")
            dropped, aligned = dropped_source_words(example.alignment, num_src_words=num_src_words,
                                                    reference_words=reference_words, hypothesis_words=hypothesis_words)
        sentences.append(CoveredSentence(
            coverage=source_coverage(attention, example.src_word_of_piece),
            surplus_words=surplus_repetitions(hypothesis_words, reference_words),
            immediate_repetitions=immediate_repetitions(hypothesis_words), dropped=dropped, aligned=aligned))
    return sentences


def repetition_numbers(sentences: Sequence[CoveredSentence]) -> dict:
    coverage = np.concatenate([s.coverage for s in sentences])  # (N,) every source word
    repeated = np.concatenate([np.full(len(s.coverage), s.has_repetition) for s in sentences])  # (N,)
    over = coverage > OVER_COVERED
    return {"sentences_with_repetition": sum(s.has_repetition for s in sentences),
            "surplus_words": sum(s.surplus_words for s in sentences),
            "immediate_repetitions": sum(s.immediate_repetitions for s in sentences),
            "over_covered_share_with_repetition": rate(over, repeated),
            "over_covered_share_without_repetition": rate(over, ~repeated),
            "point_biserial": point_biserial(repeated, coverage)}


def dropped_numbers(sentences: Sequence[CoveredSentence]) -> dict | None:
    with_gold = [s for s in sentences if s.dropped is not None]
    if not with_gold:
        return None
    aligned = np.concatenate([s.aligned for s in with_gold])  # (N',)
    coverage = np.concatenate([s.coverage for s in with_gold])[aligned]
    dropped = np.concatenate([s.dropped for s in with_gold])[aligned]
    under = coverage < UNDER_COVERED
    return {"examples": len(with_gold), "aligned_source_words": int(aligned.sum()),
            "unaligned_source_words": int((~aligned).sum()), "dropped_words": int(dropped.sum()),
            "dropped_rate_under_covered": rate(dropped, under), "dropped_rate_other": rate(dropped, ~under),
            "point_biserial": point_biserial(dropped, coverage)}


def coverage_histogram(coverage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(counts (HISTOGRAM_BINS,), edges (HISTOGRAM_BINS + 1,)) on [0, HISTOGRAM_MAX]; larger values in the last bin."""
    edges = np.linspace(0.0, HISTOGRAM_MAX, HISTOGRAM_BINS + 1)
    counts, _ = np.histogram(np.minimum(coverage, HISTOGRAM_MAX), bins=edges)
    return counts, edges


def histogram_figure(sentences: Sequence[CoveredSentence]) -> Figure:
    """Coverage per source word; with gold alignments the dropped words are stacked in their own colour."""
    coverage = np.minimum(np.concatenate([s.coverage for s in sentences]), HISTOGRAM_MAX)
    dropped = np.concatenate([s.dropped if s.dropped is not None else np.zeros(len(s.coverage), bool)
                              for s in sentences])
    figure = Figure(figsize=(6.5, 3.8), layout="constrained")
    ax = figure.subplots()
    _, edges = coverage_histogram(coverage)
    if dropped.any():
        ax.hist([coverage[~dropped], coverage[dropped]], bins=edges, stacked=True,
                label=["other source words", "dropped source words"], color=["tab:blue", "tab:red"])
    else:
        ax.hist(coverage, bins=edges, label="source words", color="tab:blue")
    for value, name in ((UNDER_COVERED, "under-covered below"), (OVER_COVERED, "over-covered above")):
        ax.axvline(value, color="black", linestyle="--", linewidth=1)
        ax.text(value, 1.0, f" {name} {value}", transform=ax.get_xaxis_transform(), fontsize=7, va="top")
    ax.set_xlabel(f"coverage: attention summed over the translation (values ≥ {HISTOGRAM_MAX} in the last bin)")
    ax.set_ylabel("source words")
    ax.legend(fontsize=8, loc="center right")
    return figure


def coverage_section(context: AnalysisContext) -> SectionResult:
    """Coverage of each source word under greedy translation, and its relation with repeated and dropped words."""
    if not context.modules:
        return SectionResult(name="coverage", title=TITLE, not_applicable=(
            "The model has no attention (an RNN without attention, like rnn_plain), so there is no attention "
            "mass to spread over the source words."))
    sentences = cover_sentences(context)
    coverage = np.concatenate([s.coverage for s in sentences])  # (N,)
    counts, edges = coverage_histogram(coverage)
    numbers = {
        "thresholds": {"under_covered": UNDER_COVERED, "over_covered": OVER_COVERED},
        "examples": len(sentences), "source_words": len(coverage), "mean_coverage": float(coverage.mean()),
        "under_covered_share": float((coverage < UNDER_COVERED).mean()),
        "over_covered_share": float((coverage > OVER_COVERED).mean()),
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
        "repetition": repetition_numbers(sentences), "dropped": dropped_numbers(sentences),
    }
    return SectionResult(name="coverage", title=TITLE, numbers=numbers, tables=coverage_tables(numbers),
                         figures={"coverage_histogram": histogram_figure(sentences)},
                         summary=summary_lines(numbers), text=READING)


def coverage_tables(numbers: dict) -> list[Table]:
    repetition, dropped = numbers["repetition"], numbers["dropped"]
    tables = [Table(
        caption="Over-covered source words in sentences whose translation repeats a word, and in the others",
        header=["translations", "count", f"share of source words over-covered (> {OVER_COVERED})"],
        rows=[["with a repeated word", repetition["sentences_with_repetition"],
               _rounded(repetition["over_covered_share_with_repetition"])],
              ["without", numbers["examples"] - repetition["sentences_with_repetition"],
               _rounded(repetition["over_covered_share_without_repetition"])]])]
    if dropped is not None:
        tables.append(Table(
            caption="Dropped source words (no gold-aligned reference word in the translation) by coverage",
            header=["gold-aligned source words", "dropped rate"],
            rows=[[f"under-covered (< {UNDER_COVERED})", _rounded(dropped["dropped_rate_under_covered"])],
                  ["the others", _rounded(dropped["dropped_rate_other"])]]))
    return tables


def summary_lines(numbers: dict) -> list[str]:
    repetition, dropped = numbers["repetition"], numbers["dropped"]
    covered = (f"{numbers['source_words']} source words of {numbers['examples']} greedy translations: "
               f"{numbers['under_covered_share']:.0%} under-covered (< {UNDER_COVERED}), "
               f"{numbers['over_covered_share']:.0%} over-covered (> {OVER_COVERED}), "
               f"mean coverage {numbers['mean_coverage']:.2f}")
    repeated = (f"{repetition['sentences_with_repetition']} translation(s) repeat a word "
                f"({repetition['surplus_words']} surplus, {repetition['immediate_repetitions']} immediate); "
                f"over-covered words: {_percent(repetition['over_covered_share_with_repetition'])} there vs "
                f"{_percent(repetition['over_covered_share_without_repetition'])} elsewhere "
                f"(point-biserial r = {_signed(repetition['point_biserial'])})")
    if dropped is None:
        return [covered, repeated, NEEDS_ALIGNMENTS]
    lost = (f"{dropped['dropped_words']} of {dropped['aligned_source_words']} gold-aligned source words dropped: "
            f"{_percent(dropped['dropped_rate_under_covered'])} of the under-covered vs "
            f"{_percent(dropped['dropped_rate_other'])} of the others "
            f"(point-biserial r = {_signed(dropped['point_biserial'])}; "
            f"{dropped['unaligned_source_words']} unaligned source word(s) left out)")
    return [covered, repeated, lost]


READING = (
    "Coverage is the attention a source word receives summed over the model's own greedy translation (its pieces' "
    "weights summed; the step that emits EOS left out; Transformer: cross-attention averaged over heads and "
    f"layers). About 1 means attended once; below {UNDER_COVERED} the word was hardly looked at, above "
    f"{OVER_COVERED} it was looked at repeatedly (Tu et al. 2016 link these to dropped and repeated words). "
    "A translation repeats a word when a word occurs at least twice and more often than in the reference, or "
    "twice in a row. With gold alignments, a source word is dropped when none of its aligned reference words "
    "appears in the translation; the point-biserial r correlates being dropped (or sitting in a sentence with a "
    "repetition) with coverage: negative means dropped words have lower coverage.")


def _rounded(value: float | None) -> float | str:
    return "-" if value is None else round(value, 3)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"
