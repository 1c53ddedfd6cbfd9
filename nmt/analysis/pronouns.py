"""Contrastive pronoun evaluation, and which heads attend from a pronoun to its antecedent.

Müller et al. (2018, "A Large-Scale Test Set for the Evaluation of Context-Aware Pronoun
Translation in NMT") score a correct translation against a contrastive one that differs only
in a pronoun: the model is right when it gives the correct one the higher probability. When
the set says where the antecedent and the pronoun are in the source, we also ask, head by
head, whether the pronoun's strongest attention lands on its antecedent (Voita et al. 2018
found such heads in context-aware models), and whether the model is more often right when it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nmt.analysis.core import AnalysisContext, ContrastiveExample, Example, SectionResult, Table, make_examples
from nmt.analysis.head_grids import head_grids, plot_head_grids
from nmt.analysis.words import mean_word_rows, sum_word_columns, word_attention, word_count
from nmt.errors import NMTError
from nmt.metrics import pronoun_accuracy

TITLE = "Pronouns: contrastive accuracy and attention to the antecedent"
DISTANCE_BUCKETS = ((1, 3), (4, 6), (7, 9), (10, None))  # pronoun index - antecedent index, in source words
BEFORE_BUCKET = "≤0"  # the antecedent comes after the pronoun (or is the pronoun)
TOP_HEADS = 10


def read_contrastive_tsv(path: str | Path) -> list[ContrastiveExample]:
    """Pairs from `source<TAB>correct<TAB>contrastive[<TAB>antecedent_index<TAB>pronoun_index]` lines.

    Indices are 0-based whitespace-separated source words, given together or not at all.
    Blank lines are skipped; any other malformed line raises NMTError naming file:line.
    """
    path = Path(path)
    if not path.is_file():
        raise NMTError(f"pronouns={path} does not exist; pass a TSV of source, correct and contrastive "
                       "translations (plus antecedent and pronoun word indices, optionally).")
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            examples.append(_parse_line(line, where=f"{path}:{number}"))
    if not examples:
        raise NMTError(f"pronouns={path} holds no pairs; write one source<TAB>correct<TAB>contrastive line per pair.")
    return examples


def _parse_line(line: str, *, where: str) -> ContrastiveExample:
    fields = line.split("\t")
    if len(fields) not in (3, 5):
        raise NMTError(f"{where} has {len(fields)} tab-separated columns; expected 3 (source, correct, contrastive) "
                       "or 5 (plus antecedent and pronoun source word indices).")
    source, correct, contrast = (field.strip() for field in fields[:3])
    for name, value in (("source", source), ("correct", correct), ("contrastive", contrast)):
        if not value:
            raise NMTError(f"{where} has an empty {name} column; every pair needs a source and two translations.")
    if len(fields) == 3:
        return ContrastiveExample(src=source, correct=correct, contrast=contrast)
    num_words = len(source.split())
    indices = []
    for name, value in (("antecedent", fields[3]), ("pronoun", fields[4])):
        try:
            index = int(value.strip())
        except ValueError:
            raise NMTError(f"{where}: the {name} index {value.strip()!r} is not an integer; give a 0-based "
                           "source word index.") from None
        if not 0 <= index < num_words:
            raise NMTError(f"{where}: the {name} index {index} is beyond the sentence, whose {num_words} words "
                           f"have indices 0..{num_words - 1}.")
        indices.append(index)
    return ContrastiveExample(src=source, correct=correct, contrast=contrast, antecedent=indices[0], pronoun=indices[1])


def distance_bucket(distance: int) -> str:
    """Bucket label of pronoun index - antecedent index: '1–3', '4–6', '7–9', '10+', or '≤0'."""
    for low, high in DISTANCE_BUCKETS:
        if distance >= low and (high is None or distance <= high):
            return f"{low}+" if high is None else f"{low}–{high}"
    return BEFORE_BUCKET


def target_pronoun_word(correct: str, contrast: str) -> int | None:
    """Index of the first whitespace word of `correct` that differs from `contrast` (None when none does)."""
    for index, (word, other) in enumerate(zip(correct.split(), contrast.split())):
        if word != other:
            return index
    return None


@dataclass(frozen=True)
class ScoredPairs:
    """The pairs that could be tokenized, their correct-side examples and both teacher-forced scores."""

    pairs: list[ContrastiveExample]
    correct: AnalysisContext  # a context over the correct translations, for their forced attention
    correct_scores: np.ndarray  # (N,) log P(correct | source)
    contrast_scores: np.ndarray  # (N,) log P(contrast | source)
    skipped: int  # pairs left out: a side tokenizes to nothing or is longer than the model accepts


def score_pairs(context: AnalysisContext, pairs: Sequence[ContrastiveExample]) -> ScoredPairs:
    """Teacher-forced log P(correct) and log P(contrast) of each pair with the context's model."""
    kept, correct, contrast = [], [], []
    for pair in pairs:
        examples = make_examples(context.tokenizer, [pair.src, pair.src], [pair.correct, pair.contrast],
                                 model=context.model)
        if len(examples) == 2:
            kept.append(pair)
            correct.append(examples[0])
            contrast.append(examples[1])
    correct_context, contrast_context = (
        AnalysisContext(model=context.model, tokenizer=context.tokenizer, examples=examples, device=context.device,
                        batch_tokens=context.batch_tokens, seed=context.seed) for examples in (correct, contrast))
    return ScoredPairs(pairs=kept, correct=correct_context, correct_scores=correct_context.reference_log_probs(),
                       contrast_scores=contrast_context.reference_log_probs(), skipped=len(pairs) - len(kept))


def antecedent_hits(context: AnalysisContext, pairs: Sequence[ContrastiveExample]) -> dict[str, np.ndarray]:
    """For encoder self- and cross-attention modules: (N, H) float, 1 where the head's strongest attention from
    the pronoun lands on the antecedent's source word, 0 where elsewhere, NaN where it cannot be measured.

    `context` holds the correct translations of `pairs`, in order. Encoder self-attention: the source pronoun
    word's row; cross-attention: the row of the first target word where correct and contrast differ. Rows of a
    word's pieces are averaged and columns summed into source words (EOS belongs to none).
    """
    forced = context.forced_attention()
    names = [name for name in context.modules if name.startswith("encoder") or name.endswith("cross")]
    hits = {name: np.full((len(pairs), context.heads[name]), np.nan) for name in names}
    for index, (pair, example) in enumerate(zip(pairs, context.examples)):
        num_src_words = word_count(example.src_word_of_piece)
        if pair.antecedent is None or pair.pronoun is None or max(pair.antecedent, pair.pronoun) >= num_src_words:
            continue
        target_word = target_pronoun_word(pair.correct, pair.contrast)
        for name in names:
            rows = _pronoun_rows(forced[name][index], example, pair.pronoun, target_word, name)
            if rows is not None:
                hits[name][index] = rows.argmax(axis=-1) == pair.antecedent
    return hits


def _pronoun_rows(weights: np.ndarray, example: Example, pronoun: int, target_word: int | None,
                  name: str) -> np.ndarray | None:
    """(H, source words): the pronoun's word-level attention in one module, or None when there is no such row."""
    if name.startswith("encoder"):
        by_word = mean_word_rows(sum_word_columns(weights, example.src_word_of_piece), example.src_word_of_piece)
        return by_word[:, pronoun]  # (H, Ws)
    if target_word is None or target_word >= word_count(example.tgt_word_of_piece):
        return None
    by_word = word_attention(weights, src_word_of_piece=example.src_word_of_piece,
                             tgt_word_of_piece=example.tgt_word_of_piece)  # (H, Wt, Ws)
    return by_word[:, target_word]


def head_statistics(hits: dict[str, np.ndarray], wins: np.ndarray) -> list[dict]:
    """Per head: share of measured pairs on the antecedent, and accuracy where it is on it vs where it is not."""
    rows = []
    for name, module_hits in hits.items():
        for head in range(module_hits.shape[1]):
            measured = ~np.isnan(module_hits[:, head])
            on = measured & (module_hits[:, head] == 1.0)
            off = measured & (module_hits[:, head] == 0.0)
            rows.append({"module": name, "head": head, "pairs": int(measured.sum()),
                         "antecedent_share": _mean(on[measured]),
                         "pairs_on_antecedent": int(on.sum()), "accuracy_on_antecedent": _mean(wins[on]),
                         "pairs_elsewhere": int(off.sum()), "accuracy_elsewhere": _mean(wins[off])})
    return rows


def pronouns_section(context: AnalysisContext) -> SectionResult:
    """Contrastive accuracy overall, by pronoun, by antecedent distance; per head, attention to the antecedent."""
    if not context.pronouns:
        return SectionResult(name="pronouns", title=TITLE, not_applicable=(
            "No contrastive pronoun set was given: pass pronouns=FILE.tsv (source, correct and contrastive "
            "translation, optionally antecedent and pronoun source word indices, tab-separated) or analyse "
            "data=sample, whose pronoun_test split is used."))
    scored = score_pairs(context, context.pronouns)
    if not scored.pairs:
        return SectionResult(name="pronouns", title=TITLE, not_applicable=(
            f"None of the {scored.skipped} contrastive pairs could be scored (a side tokenizes to nothing or is "
            "longer than the model accepts)."))
    wins = scored.correct_scores > scored.contrast_scores  # (N,) a tie counts as wrong
    accuracy = pronoun_accuracy(scored.correct_scores.tolist(), scored.contrast_scores.tolist(),
                                correct_targets=[pair.correct for pair in scored.pairs],
                                contrast_targets=[pair.contrast for pair in scored.pairs])
    indexed = [pair.antecedent is not None for pair in scored.pairs]
    numbers: dict = {"pairs": len(scored.pairs), "skipped": scored.skipped, "accuracy": accuracy.accuracy,
                     "per_pronoun": {word: {"accuracy": value, "pairs": count}
                                     for word, (value, count) in sorted(accuracy.per_pronoun.items())},
                     "pairs_with_indices": sum(indexed), "by_distance": [], "heads": []}
    tables = [Table(caption="Contrastive accuracy by pronoun (the correct target's first differing word)",
                    header=["pronoun", "pairs", "accuracy"],
                    rows=[[word, entry["pairs"], f"{entry['accuracy']:.1%}"]
                          for word, entry in numbers["per_pronoun"].items()])]
    summary = [f"pronouns: {accuracy}" + (f"; {scored.skipped} pair(s) skipped (a side empty or too long for "
                                          "the model)" if scored.skipped else "")]
    figures = {}
    if any(indexed):
        numbers["by_distance"] = _by_distance(scored.pairs, wins)
        tables.append(Table(caption="Contrastive accuracy by antecedent distance (pronoun − antecedent, source words)",
                            header=["distance", "pairs", "accuracy"],
                            rows=[[row["bucket"], row["pairs"], _percent(row["accuracy"])]
                                  for row in numbers["by_distance"]]))
        hits = antecedent_hits(scored.correct, scored.pairs)
        numbers["heads"] = head_statistics(hits, wins)
        if numbers["heads"]:
            tables.append(_heads_table(numbers["heads"]))
            shares = {name: [np.nan if row["antecedent_share"] is None else row["antecedent_share"]
                             for row in numbers["heads"] if row["module"] == name] for name in hits}
            figures["pronouns_antecedent_heads"] = plot_head_grids(
                head_grids(shares), title="Share of pronouns whose strongest attention lands on the antecedent",
                label="share on the antecedent", vmin=0.0, vmax=1.0)
            best = max(numbers["heads"], key=lambda row: row["antecedent_share"] or 0.0)
            summary.append(f"pronouns: {best['module']} head {best['head']} attends most to the antecedent "
                           f"({_percent(best['antecedent_share'])} of {best['pairs']} pairs; accuracy "
                           f"{_percent(best['accuracy_on_antecedent'])} then, {_percent(best['accuracy_elsewhere'])} "
                           "otherwise)")
    return SectionResult(name="pronouns", title=TITLE, numbers=numbers, tables=tables, figures=figures,
                         summary=summary, text=_text(numbers, any_heads=bool(context.modules)))


def _by_distance(pairs: Sequence[ContrastiveExample], wins: np.ndarray) -> list[dict]:
    labels = [BEFORE_BUCKET] + [distance_bucket(low) for low, _ in DISTANCE_BUCKETS]
    members: dict[str, list[bool]] = {label: [] for label in labels}
    for pair, win in zip(pairs, wins):
        if pair.antecedent is not None and pair.pronoun is not None:
            members[distance_bucket(pair.pronoun - pair.antecedent)].append(bool(win))
    return [{"bucket": label, "pairs": len(members[label]), "accuracy": _mean(np.array(members[label]))}
            for label in labels if label != BEFORE_BUCKET or members[label]]


def _heads_table(heads: Sequence[dict]) -> Table:
    ranked = sorted(heads, key=lambda row: -(row["antecedent_share"] or 0.0))[:TOP_HEADS]
    return Table(caption=(f"The {len(ranked)} heads that attend most from the pronoun to its antecedent (pairs: those "
                          "with indices, and for cross-attention a target word that differs from the contrast)"),
                 header=["module", "head", "pairs", "on antecedent", "accuracy when on it", "accuracy otherwise"],
                 rows=[[row["module"], row["head"], row["pairs"], _percent(row["antecedent_share"]),
                        _percent(row["accuracy_on_antecedent"]), _percent(row["accuracy_elsewhere"])]
                       for row in ranked])


def _text(numbers: dict, *, any_heads: bool) -> str:
    text = ("Each pair is scored by teacher forcing: the model is right when log P(correct | source) is higher "
            "than log P(contrastive | source) (a tie counts as wrong). Accuracy is given overall, by the correct "
            "pronoun (the first word where the two translations differ)")
    if not numbers["pairs_with_indices"]:
        return text + (". The set gives no antecedent and pronoun indices, so only accuracy is reported; add them "
                       "as two more columns (0-based source word indices) for the distance and per-head analysis.")
    text += (" and by the distance from the antecedent to the pronoun in source words, over the "
             f"{numbers['pairs_with_indices']} of {numbers['pairs']} pairs that give indices.")
    if not any_heads:
        return text + " The model has no attention, so there is no per-head analysis."
    return text + (" Per head: for encoder self-attention, the source pronoun's row (its pieces' rows averaged, "
                   "columns summed into words); for cross-attention, the row of the correct translation's pronoun "
                   "(the first word that differs from the contrast). A head is on the antecedent when that row's "
                   "largest word is the antecedent. The heatmap gives the share of pairs where it is; the table "
                   "compares the model's accuracy on the pairs where the head is on the antecedent with the others.")


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"
