"""Cross-attention read as a word aligner, scored against gold alignments (Och & Ney 2003, AER).

Each target word is linked to source words from its word-level attention (`nmt.analysis.words`):
either its strongest source word (argmax) or every source word with weight at least
THRESHOLD. The links of every sentence are pooled and scored once for the corpus:

    precision = |A ∩ P| / |A|,  recall = |A ∩ S| / |S|,  AER = 1 - (|A ∩ S| + |A ∩ P|) / (|A| + |S|)

with A the induced links, S the sure and P the possible gold links (S ⊆ P). For scale: Luong et
al. (2015) report AER 0.34-0.39 for attention on German-English against 0.32 for the
Berkeley aligner; a diagonal baseline (each target word linked to the source word at the same
relative position) shows what a model that learned nothing about the sentence would score.
Each layer (heads averaged) and the average of all are also asked whether their argmax links
sit one source word beside the gold ones (`nmt.analysis.alignment_shift`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from nmt.analysis.alignment_shift import (
    MIN_SHIFT_SHARE,
    SHIFT_RATIO,
    Links,
    ShiftCounts,
    argmax_offsets,
    link_offsets,
    shift_sentence,
    shift_table,
)
from nmt.analysis.core import Alignment, AnalysisContext, Example, SectionResult, Table
from nmt.analysis.head_grids import head_grids, plot_head_grids
from nmt.analysis.words import word_attention, word_count
from nmt.errors import NMTError

# A target word's word-level weights sum to at most 1, so at most three source words can pass 0.3:
# enough for the one-to-two and one-to-three links of compounds and particles, while the diffuse
# tail of a head that spreads its weight links nothing.
THRESHOLD = 0.3
TITLE = "Attention as word alignment"
MAX_EXAMPLE_WORDS = 30  # the example figure picks a sentence with at most this many words per side
LINK = re.compile(r"^(\d+)([-?])(\d+)$")

Setting = tuple[str, int | None]  # (module name or "all", head or None for the average of heads)


@dataclass(frozen=True)
class AlignmentCounts:
    """Link counts pooled over a corpus, from which AER, precision and recall follow."""

    predicted: int = 0  # |A|
    sure: int = 0  # |S|
    predicted_sure: int = 0  # |A ∩ S|
    predicted_possible: int = 0  # |A ∩ P|

    def __add__(self, other: AlignmentCounts) -> AlignmentCounts:
        return AlignmentCounts(self.predicted + other.predicted, self.sure + other.sure,
                               self.predicted_sure + other.predicted_sure,
                               self.predicted_possible + other.predicted_possible)

    @property
    def aer(self) -> float | None:
        total = self.predicted + self.sure
        return None if total == 0 else 1.0 - (self.predicted_sure + self.predicted_possible) / total

    @property
    def precision(self) -> float | None:
        return None if self.predicted == 0 else self.predicted_possible / self.predicted

    @property
    def recall(self) -> float | None:
        return None if self.sure == 0 else self.predicted_sure / self.sure

    def to_dict(self) -> dict:
        return {"aer": self.aer, "precision": self.precision, "recall": self.recall, "links": self.predicted}


def count_links(links: Links, gold: Alignment) -> AlignmentCounts:
    """The counts of one sentence's induced `links` against its gold alignment."""
    return AlignmentCounts(len(links), len(gold.sure), len(links & gold.sure), len(links & gold.possible))


def parse_pharaoh(line: str, *, where: str = "") -> Alignment:
    """One line of Pharaoh format: `i-j` a sure link, `i?j` a possible one (source word i, target word j, 0-based).

    Sure links are possible too. A blank line has no links. `where` (e.g. `file:line`) names the line in errors.
    """
    sure, possible = set(), set()
    for token in line.split():
        match = LINK.match(token)
        if match is None:
            place = f"{where}: " if where else ""
            raise NMTError(f"{place}malformed alignment link {token!r}; write i-j for a sure link and i?j for a "
                           "possible one, with 0-based source word i and target word j.")
        link = (int(match.group(1)), int(match.group(3)))
        possible.add(link)
        if match.group(2) == "-":
            sure.add(link)
    return Alignment(sure=frozenset(sure), possible=frozenset(possible))


def read_pharaoh(path: str | Path, *, expected_lines: int | None) -> list[Alignment]:
    """One alignment per line of a Pharaoh file; `expected_lines` (the number of pairs) is checked when given."""
    path = Path(path)
    if not path.is_file():
        raise NMTError(f"alignment file {path} does not exist; pass alignments=FILE with one Pharaoh line per pair.")
    lines = path.read_text(encoding="utf-8").splitlines()
    if expected_lines is not None and len(lines) != expected_lines:
        raise NMTError(f"{path} has {len(lines)} alignment lines but there are {expected_lines} sentence pairs; "
                       "give one line per pair, in the same order (a blank line for a pair without links).")
    return [parse_pharaoh(line, where=f"{path}:{number}") for number, line in enumerate(lines, start=1)]


def check_alignment(alignment: Alignment, *, num_src_words: int, num_tgt_words: int, where: str) -> None:
    """Raise NMTError when a gold link names a word beyond the sentence (an alignment file out of step).

    `where` names the alignment in the message, e.g. "example 3" or "gold.align line 4"."""
    for src_word, tgt_word in sorted(alignment.possible):
        if src_word >= num_src_words or tgt_word >= num_tgt_words:
            raise NMTError(
                f"{where} has the gold link {src_word}-{tgt_word} but its source has "
                f"{num_src_words} words and its reference {num_tgt_words}; check that the alignment file has "
                "one line per sentence pair, in the same order, with 0-based word indices.")


def argmax_links(weights: np.ndarray) -> Links:
    """weights (target words, source words) -> each target word linked to its strongest source word."""
    return frozenset((int(src), tgt) for tgt, src in enumerate(weights.argmax(axis=1)))


def threshold_links(weights: np.ndarray, threshold: float = THRESHOLD) -> Links:
    """weights (target words, source words) -> every (source, target) pair with weight at least `threshold`."""
    tgt_words, src_words = np.nonzero(weights >= threshold)
    return frozenset(zip(src_words.tolist(), tgt_words.tolist()))


def diagonal_sources(num_src_words: int, num_tgt_words: int) -> list[int]:
    """The source word at the same relative position as each target word (centres of equal shares)."""
    return [min(int((tgt + 0.5) * num_src_words / num_tgt_words), num_src_words - 1) for tgt in range(num_tgt_words)]


def diagonal_links(num_src_words: int, num_tgt_words: int) -> Links:
    """Each target word linked to the source word at the same relative position."""
    return frozenset((src, tgt) for tgt, src in enumerate(diagonal_sources(num_src_words, num_tgt_words)))


METHODS = {"argmax": argmax_links, "threshold": threshold_links}


def settings(word_maps: Mapping[str, np.ndarray]) -> Iterator[tuple[Setting, np.ndarray]]:
    """Every way of reading one sentence's cross-attention (name -> (H, Wt, Ws)) as one (Wt, Ws) map:
    each head, each layer's average of heads, and the average of all heads of all layers."""
    for name, maps in word_maps.items():
        for head in range(maps.shape[0]):
            yield (name, head), maps[head]
        yield (name, None), maps.mean(axis=0)
    yield ("all", None), np.concatenate(list(word_maps.values())).mean(axis=0)


def setting_label(setting: Setting) -> str:
    name, head = setting
    if name == "all":
        return "average of all heads and layers"
    return f"{name} head {head}" if head is not None else f"{name} (heads averaged)"


def cross_word_maps(context: AnalysisContext, index: int) -> dict[str, np.ndarray]:
    """Word-level cross-attention (H, Wt, Ws) of example `index` per cross-attention module."""
    example = context.examples[index]
    forced = context.forced_attention()
    return {name: word_attention(forced[name][index], src_word_of_piece=example.src_word_of_piece,
                                 tgt_word_of_piece=example.tgt_word_of_piece)
            for name in context.modules if name == "cross" or name.endswith(".cross")}


@dataclass
class CorpusScores:
    """What `score_corpus` pools over the aligned examples."""

    counts: dict[tuple[Setting, str], AlignmentCounts]  # per (setting, method)
    diagonal: AlignmentCounts  # the diagonal baseline's
    shifts: dict[Setting, ShiftCounts]  # argmax offsets from gold per layer (heads averaged) and for "all"
    diagonal_shift: ShiftCounts  # the diagonal baseline's offsets


def score_corpus(context: AnalysisContext, indices: Sequence[int]) -> CorpusScores:
    """Link counts per (setting, method) and argmax offsets per averaged setting over the examples `indices`."""
    scores = CorpusScores(counts={}, diagonal=AlignmentCounts(), shifts={}, diagonal_shift=ShiftCounts())
    for index in indices:
        example = context.examples[index]
        gold = example.alignment
        num_src, num_tgt = word_count(example.src_word_of_piece), word_count(example.tgt_word_of_piece)
        check_alignment(gold, num_src_words=num_src, num_tgt_words=num_tgt, where=f"example {index}")
        scores.diagonal += count_links(diagonal_links(num_src, num_tgt), gold)
        scores.diagonal_shift += ShiftCounts.of(link_offsets(diagonal_sources(num_src, num_tgt), gold.sure))
        for setting, weights in settings(cross_word_maps(context, index)):
            for method, induce in METHODS.items():
                key = (setting, method)
                scores.counts[key] = scores.counts.get(key, AlignmentCounts()) + count_links(induce(weights), gold)
            if setting[1] is None:  # a layer's heads averaged, or all of them
                scores.shifts[setting] = scores.shifts.get(setting, ShiftCounts()) + ShiftCounts.of(
                    argmax_offsets(weights, gold.sure))
    return scores


def example_figure(example: Example, weights: np.ndarray, *, title: str) -> Figure:
    """Word-level attention (Wt, Ws) of one sentence with its gold links: squares sure, circles possible only."""
    src_words, tgt_words = example.src.split(), example.ref.split()
    figure = Figure(figsize=(max(5.0, 0.4 * len(src_words) + 3.0), max(4.0, 0.35 * len(tgt_words) + 2.5)),
                    layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    possible_only = example.alignment.possible - example.alignment.sure
    for links, marker, name in ((example.alignment.sure, "s", "sure gold link"),
                                (possible_only, "o", "possible gold link")):
        if links:
            src, tgt = zip(*sorted(links))
            ax.scatter(src, tgt, marker=marker, s=120, facecolors="none", edgecolors="red", linewidths=1.5,
                       label=name)
    ax.set_xticks(range(len(src_words)), labels=src_words, rotation=90, fontsize=8)
    ax.set_yticks(range(len(tgt_words)), labels=tgt_words, fontsize=8)
    ax.set_xlabel("source word")
    ax.set_ylabel("reference word")
    ax.set_title(title, fontsize=9)
    if ax.collections:  # some gold link drawn
        figure.legend(loc="outside lower center", ncols=2, fontsize=8)
    figure.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    return figure


def pick_example(context: AnalysisContext, indices: Sequence[int]) -> int:
    """The first aligned example with some sure link and at most MAX_EXAMPLE_WORDS words a side (else the first)."""
    for index in indices:
        example = context.examples[index]
        if example.alignment.sure and max(len(example.src.split()), len(example.ref.split())) <= MAX_EXAMPLE_WORDS:
            return index
    return indices[0]


def alignment_section(context: AnalysisContext) -> SectionResult:
    """AER, precision and recall of every cross-attention head, layer and their average against gold alignments."""
    if not context.modules:
        return SectionResult(name="alignment", title=TITLE, not_applicable=(
            "The model has no attention (an RNN without attention, like rnn_plain), so there is nothing to "
            "read as a word alignment."))
    indices = [index for index, example in enumerate(context.examples) if example.alignment is not None]
    if not indices:
        return SectionResult(name="alignment", title=TITLE, not_applicable=(
            "No example carries a gold word alignment; pass alignments=FILE (Pharaoh format, one line per "
            "sentence pair: i-j sure, i?j possible) or use data=sample, whose validation and test splits "
            "include them."))
    scores = score_corpus(context, indices)
    counts, diagonal = scores.counts, scores.diagonal
    heads = {name: context.heads[name] for name in cross_word_maps(context, indices[0])}
    scored = {key: value.aer for key, value in counts.items() if value.aer is not None}
    best_setting, best_method = min(scored, key=scored.get)
    numbers = {
        "threshold": THRESHOLD, "examples": len(indices),
        "examples_without_alignment": len(context.examples) - len(indices),
        "gold_links": {"sure": diagonal.sure,
                       "possible": sum(len(context.examples[i].alignment.possible) for i in indices)},
        "heads": {name: [{method: counts[(name, head), method].to_dict() for method in METHODS}
                         for head in range(num_heads)] for name, num_heads in heads.items()},
        "layers": {name: {method: counts[(name, None), method].to_dict() for method in METHODS} for name in heads},
        "average": {method: counts[("all", None), method].to_dict() for method in METHODS},
        "diagonal": diagonal.to_dict(),
        "best": {"setting": setting_label(best_setting), "method": best_method,
                 **counts[best_setting, best_method].to_dict()},
        "shift": {"layers": {name: scores.shifts[name, None].to_dict() for name in heads},
                  "average": scores.shifts["all", None].to_dict(), "diagonal": scores.diagonal_shift.to_dict(),
                  "best_layer": min(heads, key=lambda name: _inf_if_none(counts[(name, None), "argmax"].aer))},
    }
    figures = {}
    if sum(heads.values()) > 1:  # the RNN's one attention has no layer x head grid
        figures["alignment_aer"] = aer_figure(counts, heads)
    shown = pick_example(context, indices)
    figures["alignment_example"] = example_figure(
        context.examples[shown], dict(settings(cross_word_maps(context, shown)))[best_setting],
        title=f"example {shown}: word-level attention of\n{setting_label(best_setting)}")
    return SectionResult(name="alignment", title=TITLE, numbers=numbers,
                         tables=[summary_table(counts, list(heads), diagonal), offset_table(scores, list(heads))],
                         figures=figures,
                         summary=summary_lines(numbers, best_method), text=READING)


def aer_figure(counts: Mapping[tuple[Setting, str], AlignmentCounts], heads: Mapping[str, int]) -> Figure:
    """AER as a layer x head grid for each way of inducing links; `heads`: cross-attention module -> head count."""
    grids = {}
    for method, title in (("argmax", "argmax links"), ("threshold", f"links with weight ≥ {THRESHOLD}")):
        per_head = {name: [_nan_if_none(counts[(name, head), method].aer) for head in range(num_heads)]
                    for name, num_heads in heads.items()}
        grids[title] = head_grids(per_head)["cross-attention"]  # (L, H)
    return plot_head_grids(grids, title="AER of each cross-attention head (lower is better)", label="AER",
                           vmin=0.0, vmax=1.0, cmap="viridis_r")


def summary_table(counts: Mapping[tuple[Setting, str], AlignmentCounts], modules: Sequence[str],
                  diagonal: AlignmentCounts) -> Table:
    rows = []
    for setting in [(name, None) for name in modules] + [("all", None)]:
        row: list = [setting_label(setting)]
        for method in METHODS:
            row += [_rounded(counts[setting, method].aer), _rounded(counts[setting, method].precision),
                    _rounded(counts[setting, method].recall)]
        rows.append(row)
    diagonal_row = [_rounded(diagonal.aer), _rounded(diagonal.precision), _rounded(diagonal.recall)]
    rows.append(["diagonal baseline", *diagonal_row, *diagonal_row])
    return Table(caption="AER, precision and recall per cross-attention layer (heads averaged), pooled over the "
                         "corpus",
                 header=["attention", "AER (argmax)", "precision (argmax)", "recall (argmax)",
                         f"AER (≥ {THRESHOLD})", f"precision (≥ {THRESHOLD})", f"recall (≥ {THRESHOLD})"],
                 rows=rows)


def offset_table(scores: CorpusScores, modules: Sequence[str]) -> Table:
    """Shares of argmax links at offset -1 / 0 / +1 / farther from gold per layer, for all, and for the diagonal."""
    rows = [(setting_label((name, None)), scores.shifts[name, None]) for name in modules]
    rows += [(setting_label(("all", None)), scores.shifts["all", None]), ("diagonal baseline", scores.diagonal_shift)]
    return shift_table(rows)


def summary_lines(numbers: dict, best_method: str) -> list[str]:
    best, average, diagonal = numbers["best"], numbers["average"], numbers["diagonal"]
    gold = numbers["gold_links"]
    first = (f"gold alignments on {numbers['examples']} example(s) ({gold['sure']} sure, "
             f"{gold['possible']} possible links)")
    skipped = numbers["examples_without_alignment"]
    lines = [first + (f"; {skipped} example(s) without one were skipped" if skipped else "")]
    method = "argmax links" if best_method == "argmax" else f"links with weight ≥ {THRESHOLD}"
    lines.append(f"best: {best['setting']} with {method}: AER {_text(best['aer'])} "
                 f"(precision {_text(best['precision'])}, recall {_text(best['recall'])})")
    lines.append(f"average of all heads and layers: AER {_text(average['argmax']['aer'])} (argmax), "
                 f"{_text(average['threshold']['aer'])} (≥ {THRESHOLD}); "
                 f"diagonal baseline: AER {_text(diagonal['aer'])}")
    layers = numbers["shift"]["layers"]
    if len(layers) == 1:  # one attention module (the RNN's): the average of all is that module
        name = next(iter(layers))
        lines.append(shift_sentence(setting_label((name, None)), layers[name]))
    else:
        best_layer = numbers["shift"]["best_layer"]
        lines.append(shift_sentence(f"best layer, {setting_label((best_layer, None))}", layers[best_layer]))
        lines.append(shift_sentence(setting_label(("all", None)), numbers["shift"]["average"]))
    return lines


READING = (
    "Each target word is linked to source words from its word-level cross-attention under teacher forcing "
    "(pieces of a source word summed, pieces of a target word averaged; the row that predicts a target piece "
    f"is the one read): its strongest source word (argmax), or every source word with weight ≥ {THRESHOLD}. "
    "Links are pooled over the corpus and scored against the gold sure (S) and possible (P) links: "
    "precision |A∩P|/|A|, recall |A∩S|/|S|, AER 1 - (|A∩S| + |A∩P|)/(|A| + |S|), lower is better. Luong et al. "
    "(2015) report AER 0.34-0.39 for attention on German-English, 0.32 for the Berkeley aligner. The diagonal "
    "baseline links each target word to the source word at the same relative position; a head that does no "
    "better has learned no alignment. The second table asks whether argmax links sit one source word beside "
    "the gold ones (Koehn & Knowles 2017 found RNN attention off by one): for each target word with a sure gold "
    "link, the offset of its argmax source word from the nearest sure gold source word (at equal distance the "
    "left one): -1 one word to the left, 0 on gold, +1 one to the right. A side that holds at least "
    f"{MIN_SHIFT_SHARE:.0%} of the words and {SHIFT_RATIO:g} times the other side's share is called a shift. "
    "In the example figure, red squares mark sure gold links and red circles possible ones.")


def _nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else value


def _inf_if_none(value: float | None) -> float:
    return float("inf") if value is None else value


def _rounded(value: float | None) -> float | str:
    return "-" if value is None else round(value, 3)


def _text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
