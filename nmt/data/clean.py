"""Cleaning of parallel splits, with a count for every rule so nothing is dropped silently.

Every split is normalised (Unicode NFC, whitespace collapsed to single spaces) and loses its
pairs with an empty side. The length, ratio and duplicate rules apply to the train split only:
validation and test keep every non-empty pair, so scores stay comparable with published ones.

Lengths are counted in whitespace-separated words of the normalised text, before SentencePiece,
so the filters do not depend on the tokenizer (for languages written without spaces, a
sentence is one word and only `max_ratio`/`dedup` are meaningful).

A pair is counted under the first rule it breaks, in the order of `RULES`.
"""

from __future__ import annotations

import dataclasses
import logging
import unicodedata
from dataclasses import dataclass

import datasets
import numpy as np

from nmt.data.validation import check_fields
from nmt.errors import NMTError

log = logging.getLogger(__name__)

RULES = ("empty", "too_long", "ratio", "duplicate")
KEEP = 0  # verdict of a pair that passes; RULES[i] has verdict i + 1
TEXT_COLUMNS = ("src", "tgt", "contrast")  # normalised wherever present


@dataclass(frozen=True, kw_only=True)
class CleanConfig:
    """Train-split filters (the `data.clean` group); None switches a rule off."""

    max_len: int | None  # drop train pairs with more words than this on either side
    max_ratio: float | None  # drop train pairs whose longer side has max_ratio times more words
    dedup: bool  # drop repeated (src, tgt) train pairs, keeping the first

    def __post_init__(self) -> None:
        check_fields(self, prefix="data.clean")
        if self.max_len is not None and self.max_len < 1:
            raise NMTError(f"data.clean.max_len={self.max_len} must be at least 1, or null to keep every length")
        if self.max_ratio is not None and self.max_ratio < 1.0:
            raise NMTError(f"data.clean.max_ratio={self.max_ratio} must be at least 1.0, or null to switch it off")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class SplitCleaning:
    """What cleaning did to one split: pairs before and how many each rule removed."""

    before: int
    removed: dict[str, int]

    @property
    def after(self) -> int:
        return self.before - sum(self.removed.values())

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def normalize(text: str | None) -> str:
    """Unicode NFC, every run of whitespace (tabs, non-breaking spaces, ...) as one space, trimmed."""
    if not text:
        return ""
    return " ".join(unicodedata.normalize("NFC", text).split())


def clean_splits(
    pairs: datasets.DatasetDict, *, config: CleanConfig, filtered_splits: tuple[str, ...] = ("train",)
) -> tuple[datasets.DatasetDict, dict[str, SplitCleaning]]:
    """Normalise every split and drop the pairs the rules reject.

    Returns the cleaned splits and, per split, the counts of pairs each rule removed.
    """
    cleaned, report = {}, {}
    for split, dataset in pairs.items():
        rules = config if split in filtered_splits else None
        cleaned[split], report[split] = _clean_split(dataset, rules=rules)
        removed = " ".join(f"{rule}={count}" for rule, count in report[split].removed.items())
        log.info("cleaned split=%s before=%d after=%d %s", split, report[split].before, report[split].after, removed)
    return datasets.DatasetDict(cleaned), report


def _clean_split(dataset: datasets.Dataset, *, rules: CleanConfig | None) -> tuple[datasets.Dataset, SplitCleaning]:
    seen: set[int] = set()
    columns = [column for column in TEXT_COLUMNS if column in dataset.column_names]

    def judge(batch: dict[str, list]) -> dict[str, list]:
        out = {column: [normalize(text) for text in batch[column]] for column in columns}
        out["verdict"] = [_verdict(src, tgt, rules, seen) for src, tgt in zip(out["src"], out["tgt"])]
        return out

    # Sequential (num_proc=1) so dedup keeps the first occurrence; never served from a
    # datasets cache file, because `seen` is state the fingerprint cannot see.
    judged = dataset.map(judge, batched=True, batch_size=10_000, load_from_cache_file=False)
    verdicts = judged.data.column("verdict").to_numpy()  # map output has no indices mapping
    counts = np.bincount(verdicts, minlength=len(RULES) + 1)
    applied = RULES if rules is not None else RULES[:1]
    removed = {rule: int(counts[index + 1]) for index, rule in enumerate(RULES) if rule in applied}
    kept = judged.select(np.flatnonzero(verdicts == KEEP)).remove_columns("verdict")
    return kept, SplitCleaning(before=len(dataset), removed=removed)


def _verdict(src: str, tgt: str, rules: CleanConfig | None, seen: set[int]) -> int:
    """KEEP, or 1 + the index in RULES of the first rule the pair breaks."""
    if not src or not tgt:
        return 1
    if rules is None:
        return KEEP
    src_words, tgt_words = src.count(" ") + 1, tgt.count(" ") + 1  # text is whitespace-collapsed
    if rules.max_len is not None and max(src_words, tgt_words) > rules.max_len:
        return 2
    if rules.max_ratio is not None and max(src_words, tgt_words) > rules.max_ratio * min(src_words, tgt_words):
        return 3
    if rules.dedup:
        key = hash((src, tgt))
        if key in seen:
            return 4
        seen.add(key)
    return KEEP
