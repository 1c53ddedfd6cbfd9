"""Translation quality: sacrebleu BLEU, chrF and TER, BLEU by source length, pronoun accuracy.

Every score is computed by sacrebleu on detokenized, case-sensitive text with its
default settings (BLEU: 13a tokenizer, exponential smoothing) and reported with
its signature, so numbers are comparable with published ones (Post 2018). Never
feed SentencePiece pieces here: tokenized BLEU is not sacrebleu BLEU.

Beside it, lowercased BLEU (`case:lc`): the Multi30k literature reports BLEU of
Moses-tokenized, lowercased text scored with multi-bleu.perl; sacrebleu's
`lowercase=True` with the 13a tokenizer on the same detokenized output is the
closest reproducible form of that (close to those figures, not identical).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from sacrebleu.metrics import BLEU, CHRF, TER

from nmt.errors import NMTError

DEFAULT_LENGTH_EDGES = (10, 20, 30, 40)


class EvaluationFiles(NamedTuple):
    hypotheses: Path  # one translation per line
    scores: Path  # the JSON report


def evaluation_files(output_dir: Path, checkpoint_stems: Sequence[str], corpus: str, split: str,
                     search: str) -> EvaluationFiles:
    """The hypotheses and scores files nmt-evaluate writes: `<ckpt>[+<ckpt>...].<corpus>.<split>.<search>`
    with `.hyp.txt` and `.scores.json`; `search` is `beam<K>` or `sample<seed>`.

    Globs work too (corpus `*`, search `beam*`): the names then match any evaluation of those checkpoints.
    """
    stem = f"{'+'.join(checkpoint_stems)}.{corpus}.{split}.{search}"
    return EvaluationFiles(output_dir / f"{stem}.hyp.txt", output_dir / f"{stem}.scores.json")


@dataclass(frozen=True)
class Score:
    """One corpus-level score: `score` on sacrebleu's 0-100 scale, `signature` saying how it was computed.

    `detail` is sacrebleu's own line (for BLEU: n-gram precisions, brevity penalty, lengths).
    """

    name: str
    score: float
    signature: str
    detail: str

    def __str__(self) -> str:
        return f"{self.name} = {self.score:.2f}  ({self.signature})"


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> Score:
    """Corpus BLEU (Papineni et al. 2002) of detokenized hypotheses against one reference each."""
    return _corpus_score(BLEU(), "BLEU", hypotheses, references)


def corpus_bleu_lowercased(hypotheses: Sequence[str], references: Sequence[str]) -> Score:
    """Corpus BLEU after lowercasing hypotheses and references, 13a-tokenized: how Multi30k papers report BLEU."""
    return _corpus_score(BLEU(lowercase=True, tokenize="13a"), "BLEU lowercased", hypotheses, references)


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> Score:
    """Corpus chrF (Popović 2015): character n-gram F-score, beta = 2."""
    return _corpus_score(CHRF(), "chrF", hypotheses, references)


def corpus_ter(hypotheses: Sequence[str], references: Sequence[str]) -> Score:
    """Corpus TER (Snover et al. 2006): edits per reference word, lower is better.

    Case-sensitive like BLEU and chrF (sacrebleu's TER lower-cases by default).
    """
    return _corpus_score(TER(case_sensitive=True), "TER", hypotheses, references)


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, Score]:
    """{"bleu", "bleu_lc", "chrf", "ter"} for one system; "bleu_lc" is corpus_bleu_lowercased."""
    return {
        "bleu": corpus_bleu(hypotheses, references),
        "bleu_lc": corpus_bleu_lowercased(hypotheses, references),
        "chrf": corpus_chrf(hypotheses, references),
        "ter": corpus_ter(hypotheses, references),
    }


def _corpus_score(metric: BLEU | CHRF | TER, name: str, hypotheses: Sequence[str], references: Sequence[str]) -> Score:
    if len(hypotheses) != len(references):
        raise NMTError(
            f"{len(hypotheses)} hypotheses for {len(references)} references; "
            "score a system output with exactly one line per reference line."
        )
    if not references:
        raise NMTError(f"no sentences to score with {name}; the split is empty.")
    result = metric.corpus_score(list(hypotheses), [list(references)])
    return Score(name=name, score=float(result.score), signature=str(metric.get_signature()), detail=str(result))


@dataclass(frozen=True)
class LengthBucket:
    """BLEU (cased, and lowercased) of the sentences whose source has `low`..`high` words (`high` None = no upper
    bound)."""

    low: int
    high: int | None
    num_sentences: int
    bleu: float | None  # None for an empty bucket
    bleu_lc: float | None  # corpus_bleu_lowercased; None for an empty bucket

    @property
    def label(self) -> str:
        return f"{self.low}+" if self.high is None else f"{self.low}-{self.high}"


def check_length_edges(edges: Sequence[int], *, key: str = "length_buckets") -> None:
    """Raise NMTError unless `edges` (the upper edges of the length buckets) are increasing positive word counts."""
    if list(edges) != sorted(set(edges)) or any(edge < 1 for edge in edges):
        raise NMTError(f"{key}={list(edges)} must be increasing positive word counts, e.g. [10, 20, 30, 40].")


def bleu_by_length(
    sources: Sequence[str],
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    edges: Sequence[int] = DEFAULT_LENGTH_EDGES,
) -> list[LengthBucket]:
    """BLEU per source-length bucket (length in whitespace words), as in Bahdanau et al. 2015, fig. 2.

    edges (10, 20, 30, 40) give the buckets 1-10, 11-20, 21-30, 31-40 and 41+.
    Each bucket's BLEU (cased and lowercased) is a corpus BLEU over its own sentences.
    """
    check_length_edges(edges)
    if not len(sources) == len(hypotheses) == len(references):
        raise NMTError(
            f"{len(sources)} sources, {len(hypotheses)} hypotheses and {len(references)} references; "
            "bleu_by_length needs one of each per sentence."
        )
    bounds = list(zip([1, *(edge + 1 for edge in edges)], [*edges, None]))
    members: list[list[int]] = [[] for _ in bounds]
    for index, text in enumerate(sources):
        words = len(text.split())
        bucket = next(b for b, (_, high) in enumerate(bounds) if high is None or words <= high)
        members[bucket].append(index)
    buckets = []
    for (low, high), rows in zip(bounds, members):
        texts = [hypotheses[i] for i in rows], [references[i] for i in rows]
        buckets.append(LengthBucket(low=low, high=high, num_sentences=len(rows),
                                    bleu=corpus_bleu(*texts).score if rows else None,
                                    bleu_lc=corpus_bleu_lowercased(*texts).score if rows else None))
    return buckets


def format_length_table(buckets: Sequence[LengthBucket]) -> str:
    """A plain-text table: source length, number of sentences, BLEU, lowercased BLEU."""
    lines = [f"{'source words':>12}  {'sentences':>9}  {'BLEU':>6}  {'BLEU lc':>7}"]
    for bucket in buckets:
        bleu, bleu_lc = ("-" if value is None else f"{value:.2f}" for value in (bucket.bleu, bucket.bleu_lc))
        lines.append(f"{bucket.label:>12}  {bucket.num_sentences:>9}  {bleu:>6}  {bleu_lc:>7}")
    return "\n".join(lines)


@dataclass(frozen=True)
class PronounAccuracy:
    """How often the model scores the correct target above its contrastive variant.

    per_pronoun maps the correct pronoun (the first word where the two targets differ)
    to (accuracy, number of pairs).
    """

    accuracy: float
    num_pairs: int
    per_pronoun: dict[str, tuple[float, int]] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = ", ".join(f"{word} {acc:.1%} ({n})" for word, (acc, n) in sorted(self.per_pronoun.items()))
        return f"pronoun accuracy = {self.accuracy:.1%} of {self.num_pairs} pairs" + (f" [{parts}]" if parts else "")


def pronoun_accuracy(
    correct_scores: Sequence[float],
    contrast_scores: Sequence[float],
    *,
    correct_targets: Sequence[str],
    contrast_targets: Sequence[str],
) -> PronounAccuracy:
    """Contrastive accuracy (Sennrich 2017; Müller et al. 2018): fraction with score(correct) > score(contrast).

    Scores are model log-probabilities of the two targets given the same source; a tie counts as wrong.
    """
    if not len(correct_scores) == len(contrast_scores) == len(correct_targets) == len(contrast_targets):
        raise NMTError(
            "pronoun accuracy needs one correct score, contrast score, correct and contrast target per pair."
        )
    if not correct_scores:
        raise NMTError("the contrastive pronoun split is empty; there is nothing to score.")
    wins = [correct > contrast for correct, contrast in zip(correct_scores, contrast_scores)]
    by_word: dict[str, list[bool]] = {}
    for win, correct, contrast in zip(wins, correct_targets, contrast_targets):
        by_word.setdefault(contrasted_word(correct, contrast), []).append(win)
    return PronounAccuracy(
        accuracy=sum(wins) / len(wins),
        num_pairs=len(wins),
        per_pronoun={word: (sum(w) / len(w), len(w)) for word, w in by_word.items()},
    )


def contrasted_word(correct: str, contrast: str) -> str:
    """The first word of `correct` that differs from `contrast`, lower-cased and without
    an elided prefix ("il" for "qu'il" against "qu'elle")."""
    for word, other in zip(correct.split(), contrast.split()):
        if word != other:
            return word.lower().replace("’", "'").split("'")[-1] or word.lower()
    return "(identical)" if correct == contrast else "(other)"
