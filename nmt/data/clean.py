"""Cleaning of parallel splits, with a count for every rule so nothing is dropped silently.

Every split is normalised (Unicode NFC, whitespace collapsed to single spaces) and loses its
pairs with an empty side. The length, character, ratio and duplicate rules apply to the train
split only: validation and test keep every non-empty pair, so scores stay comparable with
published ones.

Lengths are counted in whitespace-separated words of the normalised text, before SentencePiece,
so the filters do not depend on the tokenizer (for languages written without spaces, a
sentence is one word and only `max_chars`, `max_ratio` and `dedup` are meaningful).
`max_chars` counts characters (code points) per side: a megabyte line without a space is
one word, and only this rule stops it from becoming a huge sequence.

A pair is counted under the first rule it breaks, in the order of `RULES`.

A split is cleaned in batches of CLEAN_BATCH pairs by `clean_batch`, a pure function that
worker processes may run in parallel (`map_batches`). Only the duplicate rule needs the pairs
before it: it runs in corpus order, in this process, on digests the batches carry.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets.table import InMemoryTable

from nmt.data.readers import compact, write_arrow
from nmt.data.validation import check_fields
from nmt.errors import NMTError

log = logging.getLogger(__name__)

RULES = ("empty", "too_long", "too_many_chars", "ratio", "duplicate")
KEEP = 0  # verdict of a pair that passes; RULES[i] has verdict i + 1
TEXT_COLUMNS = ("src", "tgt", "contrast")  # normalised wherever present
CLEAN_BATCH = 10_000  # pairs per batch handed to `clean_batch` (the default of `clean_splits`)

MapBatches = Callable[[Callable, Iterable], Iterator]  # the builtin `map`, or one over worker processes


@dataclass(frozen=True, kw_only=True)
class CleanConfig:
    """Train-split filters (the `data.clean` group); None switches a rule off."""

    max_len: int | None  # drop train pairs with more words than this on either side
    max_ratio: float | None  # drop train pairs whose longer side has max_ratio times more words
    dedup: bool  # drop repeated (src, tgt) train pairs, keeping the first
    # Drop train pairs with more characters than this on either side. Null here, not in the
    # presets: corpus configs stored in checkpoints before this key existed had no such rule.
    max_chars: int | None = None

    def __post_init__(self) -> None:
        check_fields(self, prefix="data.clean")
        if self.max_len is not None and self.max_len < 1:
            raise NMTError(f"data.clean.max_len={self.max_len} must be at least 1, or null to keep every length")
        if self.max_chars is not None and self.max_chars < 1:
            raise NMTError(f"data.clean.max_chars={self.max_chars} must be at least 1, or null to keep every length")
        if self.max_ratio is not None and self.max_ratio < 1.0:
            raise NMTError(f"data.clean.max_ratio={self.max_ratio} must be at least 1.0, or null to switch it off")

    def to_dict(self) -> dict:
        """Plain dict; `max_chars` only when set, so a config stored before the key existed equals
        its rebuilt form (a resumed run compares them) and keeps its cache key."""
        values = dataclasses.asdict(self)
        if values["max_chars"] is None:
            del values["max_chars"]
        return values


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


@dataclass(frozen=True)
class CleanedBatch:
    """One batch after every rule but `duplicate`, which needs the batches before it."""

    table: pa.Table  # the pairs kept, every column, text normalised
    removed: np.ndarray  # (len(RULES),) pairs each rule removed; 0 for duplicate
    digests: list[bytes] | None  # one per kept pair when the duplicate rule applies, else None


def normalize(text: str | None) -> str:
    """Unicode NFC, every run of whitespace (tabs, non-breaking spaces, ...) as one space, trimmed."""
    if not text:
        return ""
    return " ".join(unicodedata.normalize("NFC", text).split())


def clean_splits(
    pairs: datasets.DatasetDict,
    *,
    config: CleanConfig,
    filtered_splits: tuple[str, ...] = ("train",),
    work_dir: Path | None = None,
    map_batches: MapBatches = map,
    batch_size: int = CLEAN_BATCH,
) -> tuple[datasets.DatasetDict, dict[str, SplitCleaning]]:
    """Normalise every split and drop the pairs the rules reject.

    Each split streams, `batch_size` pairs at a time, through `map_batches(clean_batch, batches)`
    into `work_dir`/{split}.arrow, memory-mapped (or into memory without `work_dir`). Returns the
    cleaned splits and, per split, the counts of pairs each rule removed.
    """
    cleaned, report = {}, {}
    for split, dataset in pairs.items():
        rules = config if split in filtered_splits else None
        path = work_dir / f"{split}.arrow" if work_dir is not None else None
        cleaned[split], report[split] = _clean_split(dataset, rules=rules, path=path, map_batches=map_batches,
                                                     batch_size=batch_size)
        removed = " ".join(f"{rule}={count}" for rule, count in report[split].removed.items())
        log.info("cleaned split=%s before=%d after=%d %s", split, report[split].before, report[split].after, removed)
    return datasets.DatasetDict(cleaned), report


def clean_batch(table: pa.Table, *, rules: CleanConfig | None) -> CleanedBatch:
    """Normalise the text columns of `table` and drop the pairs an order-free rule rejects.

    `rules` None applies only the empty rule (validation and test).
    """
    columns = {name: table.column(name) for name in table.column_names}
    texts = {name: [normalize(text) for text in columns[name].to_pylist()]
             for name in TEXT_COLUMNS if name in columns}
    columns.update({name: pa.array(values, pa.string()) for name, values in texts.items()})
    verdicts = _verdicts(columns["src"], columns["tgt"], rules=rules)
    kept = np.flatnonzero(verdicts == KEEP)
    digests = None
    if rules is not None and rules.dedup:
        digests = [_pair_digest(texts["src"][row], texts["tgt"][row]) for row in kept]
    removed = np.bincount(verdicts, minlength=len(RULES) + 1)[1:]
    return CleanedBatch(table=pa.table(columns).take(kept), removed=removed, digests=digests)


class FirstOccurrence:
    """The duplicate rule, applied in corpus order: keeps the first pair of each digest."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()

    def keep(self, batch: CleanedBatch) -> tuple[pa.Table, int]:
        """The pairs of `batch` not seen before, and how many were."""
        assert batch.digests is not None
        first = np.zeros(len(batch.digests), dtype=bool)
        for row, digest in enumerate(batch.digests):
            if digest not in self.seen:
                self.seen.add(digest)
                first[row] = True
        return batch.table.filter(first), int((~first).sum())


def _clean_split(dataset: datasets.Dataset, *, rules: CleanConfig | None, path: Path | None,
                 map_batches: MapBatches, batch_size: int) -> tuple[datasets.Dataset, SplitCleaning]:
    features = dataset.features.copy()
    for name in TEXT_COLUMNS:
        if name in features:
            features[name] = datasets.Value("string")
    removed = np.zeros(len(RULES), dtype=np.int64)
    duplicates = FirstOccurrence() if rules is not None and rules.dedup else None

    def kept_tables() -> Iterator[pa.Table]:
        batches = map(compact, dataset.with_format("arrow").iter(batch_size))
        for batch in map_batches(functools.partial(clean_batch, rules=rules), batches):
            removed[:] += batch.removed
            if duplicates is None:
                yield batch.table
                continue
            table, repeated = duplicates.keep(batch)
            removed[RULES.index("duplicate")] += repeated
            yield table

    if path is None:  # small splits: tests, callers without a scratch folder
        schema = features.arrow_schema
        kept = datasets.Dataset(InMemoryTable(pa.concat_tables([schema.empty_table(),
                                                                *(table.cast(schema) for table in kept_tables())])))
    else:
        write_arrow(kept_tables(), schema=features.arrow_schema, path=path)
        kept = datasets.Dataset.from_file(str(path))
    applied = RULES if rules is not None else RULES[:1]
    return kept, SplitCleaning(before=len(dataset), removed={rule: int(removed[RULES.index(rule)]) for rule in applied})


def _verdicts(src: pa.Array, tgt: pa.Array, *, rules: CleanConfig | None) -> np.ndarray:
    """KEEP, or 1 + the index in RULES of the first order-free rule each pair breaks. (N,) int."""
    chars = [pc.utf8_length(side).to_numpy(zero_copy_only=False) for side in (src, tgt)]
    broken = {"empty": (chars[0] == 0) | (chars[1] == 0)}
    if rules is not None:
        words = [pc.count_substring(side, " ").to_numpy(zero_copy_only=False) + 1 for side in (src, tgt)]  # text is whitespace-collapsed
        longer, shorter = np.maximum(*words), np.minimum(*words)
        if rules.max_len is not None:
            broken["too_long"] = longer > rules.max_len
        if rules.max_chars is not None:
            broken["too_many_chars"] = np.maximum(*chars) > rules.max_chars
        if rules.max_ratio is not None:
            broken["ratio"] = longer > rules.max_ratio * shorter
    verdicts = np.full(len(src), KEEP, dtype=np.int64)
    for rule in reversed(RULES):  # the first rule broken is written last
        if rule in broken:
            verdicts[broken[rule]] = RULES.index(rule) + 1
    return verdicts


def _pair_digest(src: str, tgt: str) -> bytes:
    """16 bytes that tell (src, tgt) pairs apart: among a billion distinct pairs, two share a
    digest with probability about 1e-21."""
    digest = hashlib.blake2b(digest_size=16)
    encoded = src.encode("utf-8")
    digest.update(len(encoded).to_bytes(8, "little"))  # the length keeps ("ab", "c") apart from ("a", "bc")
    digest.update(encoded)
    digest.update(tgt.encode("utf-8"))
    return digest.digest()
