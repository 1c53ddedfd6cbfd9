"""Is attention shifted by one source word? Where argmax links land relative to the gold links.

Koehn & Knowles (2017, "Six Challenges for Neural Machine Translation", the word alignment
challenge) find the attention of an RNN model off by one: a target word attends most to the
source word next to its translation. To measure it, each target word with at least one sure gold link
is linked to its strongest source word s (argmax, as in `nmt.analysis.alignment`), the sure gold
source word g nearest to s is found (at equal distance the left one) and the offset s - g
counted: -1 one source word to the left of gold, 0 on gold, +1 one to the right, anything else
farther. An aligner whose misses are noise misses about as often to the left as to the right;
a shift shows as one side far ahead of the other.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from nmt.analysis.core import Table

# A side (left or right) counts as a shift when it holds at least this share of the measured target words ...
MIN_SHIFT_SHARE = 0.1
# ... and at least this many times the other side's share: misses that are noise fall on both sides alike.
SHIFT_RATIO = 2.0

Links = frozenset[tuple[int, int]]  # (source word, target word), 0-based


def nearest_gold_offset(source: int, gold_sources: Collection[int]) -> int:
    """s - g for the gold source word g nearest to `source` s; at equal distance the left g (a positive offset)."""
    nearest = min(gold_sources, key=lambda gold: (abs(source - gold), gold))
    return source - nearest


def link_offsets(sources: Sequence[int], sure: Links) -> list[int]:
    """sources[t]: the source word target word t is linked to; `sure`: the gold sure links.

    Returns the offset from the nearest gold source word of each target word with a sure link, in target order;
    target words without a sure link are left out."""
    gold_of: dict[int, list[int]] = {}
    for src_word, tgt_word in sure:
        gold_of.setdefault(tgt_word, []).append(src_word)
    return [nearest_gold_offset(sources[tgt_word], gold) for tgt_word, gold in sorted(gold_of.items())]


def argmax_offsets(weights: np.ndarray, sure: Links) -> list[int]:
    """weights (target words, source words) -> `link_offsets` of each target word's strongest source word."""
    return link_offsets(weights.argmax(axis=1).tolist(), sure)


@dataclass(frozen=True)
class ShiftCounts:
    """Target words by the offset of their link from the nearest gold source word, pooled over a corpus."""

    left: int = 0  # offset -1
    on_gold: int = 0  # offset 0
    right: int = 0  # offset +1
    other: int = 0  # |offset| > 1

    @classmethod
    def of(cls, offsets: Iterable[int]) -> ShiftCounts:
        counts = {-1: 0, 0: 0, 1: 0}
        other = 0
        for offset in offsets:
            if offset in counts:
                counts[offset] += 1
            else:
                other += 1
        return cls(left=counts[-1], on_gold=counts[0], right=counts[1], other=other)

    def __add__(self, other: ShiftCounts) -> ShiftCounts:
        return ShiftCounts(self.left + other.left, self.on_gold + other.on_gold, self.right + other.right,
                           self.other + other.other)

    @property
    def words(self) -> int:
        return self.left + self.on_gold + self.right + self.other

    def share(self, count: int) -> float | None:
        return None if self.words == 0 else count / self.words

    @property
    def direction(self) -> str | None:
        """"right" or "left" when that side is a shift (MIN_SHIFT_SHARE, SHIFT_RATIO), else None."""
        for side, count, opposite in (("right", self.right, self.left), ("left", self.left, self.right)):
            share, opposite_share = self.share(count), self.share(opposite)
            if share is not None and share >= MIN_SHIFT_SHARE and share >= SHIFT_RATIO * opposite_share:
                return side
        return None

    def to_dict(self) -> dict:
        return {"left": self.share(self.left), "on_gold": self.share(self.on_gold),
                "right": self.share(self.right), "other": self.share(self.other), "words": self.words,
                "direction": self.direction}


def shift_table(rows: Sequence[tuple[str, ShiftCounts]]) -> Table:
    """One row per (label, counts): the shares of target words at offset -1, 0, +1 and farther, and their number."""
    body = [[label, *(_rounded(counts.share(count)) for count in
                      (counts.left, counts.on_gold, counts.right, counts.other)), counts.words]
            for label, counts in rows]
    return Table(caption="Where argmax links land relative to the nearest sure gold source word (share of target "
                         "words with a sure link; offset = argmax source word - gold source word)",
                 header=["attention", "share -1 (left)", "share 0 (on gold)", "share +1 (right)",
                         "share other", "target words"],
                 rows=body)


def shift_sentence(label: str, shift: dict) -> str:
    """One summary line from `ShiftCounts.to_dict()`: where the argmax links of `label` land and whether they shift."""
    if shift["words"] == 0:
        return f"{label}: no target word has a sure gold link, so no shift is measured"
    left, on_gold, right, other = (_percent(shift[key]) for key in ("left", "on_gold", "right", "other"))
    words = f"{shift['words']} target words"
    if shift["direction"] == "right":
        return (f"{label}: argmax links land one source word to the right of gold for {right} of {words} "
                f"(left {left}, on gold {on_gold}, farther {other}): shifted right")
    if shift["direction"] == "left":
        return (f"{label}: argmax links land one source word to the left of gold for {left} of {words} "
                f"(right {right}, on gold {on_gold}, farther {other}): shifted left")
    return (f"{label}: argmax links land on gold for {on_gold} of {words} (one source word to the left "
            f"{left}, to the right {right}, farther {other}): no shift to one side")


def _rounded(value: float | None) -> float | str:
    return "-" if value is None else round(value, 3)


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"
