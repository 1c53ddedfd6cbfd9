"""Corpus sources -> parallel sentence pairs.

`load_pairs` turns a `CorpusConfig` (the Hydra `data` group) into a `datasets.DatasetDict`
with splits train / validation / test, columns "src" and "tgt", from one of:

- the Hugging Face Hub (`source: hub`), with either column layout: a `translation` dict
  column ({"de": ..., "en": ...}, WMT style) or one column per language (Multi30k style);
- local files (`source: local`, or any preset with `local_dir` set): parallel plain text
  `{stem}.{lang}` / `{stem}.{lang}.gz` (the raw layout of Multi30k and most NMT corpora),
  `{stem}.tsv[.gz]` (source<TAB>target per line) or `{stem}.jsonl[.gz]`
  ({"src": .., "tgt": ..}, {"translation": {lang: ..}} or {lang: ..} per line);
- the bundled English-French grammar (`source: sample`, see `nmt.data.sample`), whose
  validation and test splits carry gold word alignments (column alignment, Pharaoh
  format) and which adds a "pronoun_test" split (columns src, tgt, contrast, and the
  source word indices antecedent and pronoun) and, when asked, a "long_test" split of
  30-60-word sentences (src, tgt, alignment; `nmt.data.sample_long`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import datasets

from nmt.data.clean import CleanConfig
from nmt.data.readers import iter_jsonl, iter_parallel_text, iter_tsv, write_pairs_arrow
from nmt.data.validation import check_fields, from_mapping
from nmt.errors import NMTError

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
PRONOUN_SPLIT = "pronoun_test"
LONG_SPLIT = "long_test"
HUB_TIMEOUT_S = 3.0  # a reachable Hub answers a TCP connect in well under a second

Source = Literal["hub", "local", "sample"]
LocalFormat = Literal["auto", "text", "tsv", "jsonl"]
_LONG_KEYS = ("long_test_size", "long_train_share")  # sample only; left out of to_dict() at 0


@dataclass(frozen=True, kw_only=True)
class CorpusConfig:
    """Where a parallel corpus comes from and how it is cleaned (the Hydra `data` group).

    Keys that only one source uses default to None here; each preset in configs/data/
    lists the keys a user may override for it.
    """

    name: str  # cache folder name under paths.data_dir
    source: Source
    src_lang: str
    tgt_lang: str
    clean: CleanConfig
    vocab_size: int  # SentencePiece vocabulary suited to this corpus; read by the tokenizer group
    splits: dict[str, str] | None = None  # our split -> split name on the Hub
    hub_name: str | None = None  # Hub dataset id (owner/name)
    hub_config: str | None = None  # Hub configuration ("de-en" for wmt14)
    hub_revision: str | None = None  # git revision or branch ("refs/convert/parquet")
    hub_data_dir: str | None = None  # folder inside the Hub repository
    local_dir: str | None = None  # read local files from here instead of the Hub
    local_splits: dict[str, str] | None = None  # our split -> file stem in local_dir
    local_format: LocalFormat = "auto"
    sample_sizes: dict[str, int] | None = None  # pairs per split of the generated corpus
    pronoun_test_size: int = 0  # contrastive pronoun pairs (sample only)
    long_test_size: int = 0  # pairs of 30-60 words in the long_test split (sample only)
    long_train_share: float = 0.0  # share of the train split drawn from the long generator (sample only)
    seed: int = 0  # generation seed (sample only)
    num_workers: int = 0  # processes that tokenize; 0 = one per core. How, not what: not in to_dict()

    def __post_init__(self) -> None:
        check_fields(self, prefix="data")
        if self.num_workers < 0:
            raise NMTError(f"data.num_workers={self.num_workers} must be 0 (one per core) or a number of processes")
        if self.src_lang == self.tgt_lang:
            raise NMTError(f"data.src_lang and data.tgt_lang are both '{self.src_lang}'; choose two languages")
        if self.vocab_size < 8:
            raise NMTError(f"data.vocab_size={self.vocab_size} is too small; use at least a few hundred")
        for key in ("splits", "local_splits", "sample_sizes"):
            mapping = getattr(self, key)
            if mapping is not None and sorted(mapping) != sorted(SPLITS):
                raise NMTError(
                    f"data.{key} has keys {', '.join(mapping)}; it must map exactly {', '.join(SPLITS)}"
                )
        if self.source == "hub" and (self.hub_name is None or self.splits is None):
            raise NMTError(f"data.source=hub needs data.hub_name and data.splits (corpus '{self.name}')")
        if self.source == "local" and self.local_dir is None:
            raise NMTError("data=local needs data.local_dir=DIR, a directory of {split}.{lang}[.gz], TSV or JSONL files")
        if self.source == "sample" and self.sample_sizes is None:
            raise NMTError("data.source=sample needs data.sample_sizes {train: N, validation: N, test: N}")
        if self.source == "sample" and self.local_dir is not None:
            raise NMTError("data.local_dir is set but data=sample generates its corpus; use data=local data.local_dir=DIR")
        if self.long_test_size < 0:
            raise NMTError(f"data.long_test_size={self.long_test_size} must be a count of pairs >= 0 (0: no long_test split)")
        if not 0.0 <= self.long_train_share <= 1.0:
            raise NMTError(f"data.long_train_share={self.long_train_share} must be a share between 0.0 and 1.0")
        for key in _LONG_KEYS:
            if getattr(self, key) and self.source != "sample":
                raise NMTError(f"data.{key}={getattr(self, key)} is for the generated corpus only; "
                               "use it with data=sample, or leave it at 0")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CorpusConfig:
        """Build from the resolved `data` group; a misspelt key is an `NMTError` listing the valid ones."""
        return from_mapping(cls, values, prefix="data")

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-able dict of what the corpus is (for checkpoints, cache keys and resume checks);
        `from_dict` inverts it. `num_workers` says how it is prepared, so a resumed run or a cache
        does not depend on it."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "num_workers"}
        for key in _LONG_KEYS:  # at 0 they change nothing: cache keys and stored configs stay as they were
            if not values[key]:
                del values[key]
        values["clean"] = self.clean.to_dict()
        return values

    @property
    def workers(self) -> int:
        """Tokenization processes: `num_workers`, or one per core available to this process."""
        if self.num_workers:
            return self.num_workers
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

    @property
    def reads_local_files(self) -> bool:
        return self.local_dir is not None

    @property
    def file_stems(self) -> dict[str, str]:
        """Our split -> file stem when reading `local_dir`."""
        return dict(self.local_splits or self.splits or {split: split for split in SPLITS})


def load_pairs(corpus: CorpusConfig, *, cache_dir: Path, work_dir: Path | None = None) -> datasets.DatasetDict:
    """Splits train / validation / test (columns src, tgt: str) of the configured corpus.

    `cache_dir` receives Hub downloads; local files are streamed into Arrow files in `work_dir`
    (default: `cache_dir`/local), memory-mapped, so a corpus of millions of pairs is never held
    in memory. The sample corpus adds a "pronoun_test" split.
    """
    if corpus.reads_local_files:
        return load_local(Path(corpus.local_dir).expanduser(), corpus=corpus,  # type: ignore[arg-type]
                          work_dir=work_dir if work_dir is not None else cache_dir / "local")
    if corpus.source == "sample":
        return load_sample(corpus)
    return load_hub(corpus, cache_dir=cache_dir)


# ---------------------------------------------------------------------------------------
# Hugging Face Hub


def load_hub(corpus: CorpusConfig, *, cache_dir: Path) -> datasets.DatasetDict:
    """Download (or reuse from `cache_dir`) a Hub dataset and map it to src/tgt pairs."""
    assert corpus.hub_name is not None and corpus.splits is not None
    name = corpus.hub_name
    ensure_hub_reachable(name)
    log.info("loading %s from the Hugging Face Hub (config=%s)", name, corpus.hub_config)
    try:
        loaded = datasets.load_dataset(
            name,
            corpus.hub_config,
            revision=corpus.hub_revision,
            data_dir=corpus.hub_data_dir,
            cache_dir=str(cache_dir),
        )
    except ConnectionError as error:
        raise NMTError(_offline_message(name, reason=str(error))) from None
    except (datasets.exceptions.DatasetNotFoundError, FileNotFoundError, ValueError, RuntimeError) as error:
        raise NMTError(f"could not load '{name}' (config {corpus.hub_config}) from the Hub: {error}") from None
    pairs = {}
    for split, hub_split in corpus.splits.items():
        if hub_split not in loaded:
            raise NMTError(
                f"'{name}' has no split '{hub_split}' for data.splits.{split}; "
                f"its splits are: {', '.join(loaded)}"
            )
        where = f"'{name}' split '{hub_split}'"
        pairs[split] = select_languages(loaded[hub_split], src_lang=corpus.src_lang, tgt_lang=corpus.tgt_lang, where=where)
    return datasets.DatasetDict(pairs)


def select_languages(dataset: datasets.Dataset, *, src_lang: str, tgt_lang: str, where: str) -> datasets.Dataset:
    """Columns src/tgt from either Hub layout: a `translation` dict column or one column per language."""
    if "translation" in dataset.column_names:
        feature = dataset.features["translation"]
        languages = list(getattr(feature, "languages", None) or feature.keys())
        columns = {f"translation.{src_lang}": "src", f"translation.{tgt_lang}": "tgt"}
        dataset = dataset.select_columns(["translation"]).flatten()
    else:
        languages = list(dataset.column_names)
        columns = {src_lang: "src", tgt_lang: "tgt"}
    for key, lang in (("src_lang", src_lang), ("tgt_lang", tgt_lang)):
        if lang not in languages:
            raise NMTError(
                f"{where} has no language '{lang}' (data.{key}); languages found: {', '.join(languages)}"
            )
    return dataset.select_columns(list(columns)).rename_columns(columns)


def ensure_hub_reachable(dataset_name: str) -> None:
    """Fail in seconds, with the offline options, when the Hub cannot be reached.

    Without this check `load_dataset` retries for about 25 s before giving up. With
    HF_HUB_OFFLINE / HF_DATASETS_OFFLINE set, `load_dataset` itself reads only its cache.
    """
    if any(os.environ.get(flag, "").lower() in ("1", "true", "yes", "on") for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return
    host, port = hub_address()
    if not can_connect(host, port, timeout=HUB_TIMEOUT_S):
        raise NMTError(_offline_message(dataset_name, reason=f"no answer from {host}:{port}"))


def hub_address() -> tuple[str, int]:
    """Host and port a Hub request connects to first: the HTTPS proxy if one is set, else the endpoint."""
    from huggingface_hub import constants

    url = urllib.request.getproxies().get("https") or constants.ENDPOINT
    parsed = urllib.parse.urlsplit(url if "//" in url else f"//{url}")
    default_port = 80 if parsed.scheme == "http" else 443
    return parsed.hostname or "huggingface.co", parsed.port or default_port


def can_connect(host: str, port: int, *, timeout: float) -> bool:
    """A TCP connect, name resolution included, bounded by `timeout` seconds."""
    outcome: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    # getaddrinfo ignores socket timeouts, so a broken resolver is bounded by the join.
    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(outcome and outcome[0])


def _offline_message(dataset_name: str, *, reason: str) -> str:
    return (
        f"cannot reach the Hugging Face Hub to download '{dataset_name}' ({reason}); "
        "work offline with data.local_dir=DIR (a directory of {split}.{lang}[.gz] files) "
        "or with data=sample (the bundled corpus)"
    )


# ---------------------------------------------------------------------------------------
# Local files


def load_local(directory: Path, *, corpus: CorpusConfig, work_dir: Path) -> datasets.DatasetDict:
    """Read every split from `directory`, in the configured `local_format` (auto: text, then TSV, then JSONL).

    Each split is streamed in chunks of STREAM_CHUNK pairs into `work_dir`/{split}.arrow and
    memory-mapped from there.
    """
    if not directory.is_dir():
        raise NMTError(f"data.local_dir={directory} is not a directory")
    work_dir.mkdir(parents=True, exist_ok=True)
    pairs = {}
    for split, stem in corpus.file_stems.items():
        path = work_dir / f"{split}.arrow"
        count = write_pairs_arrow(_iter_local_split(directory, stem=stem, split=split, corpus=corpus), path)
        pairs[split] = datasets.Dataset.from_file(str(path))
        log.info("read %d pairs for split=%s from %s/%s.*", count, split, directory, stem)
    return datasets.DatasetDict(pairs)


def local_files(directory: Path, *, corpus: CorpusConfig) -> list[Path]:
    """The files the configured splits are read from: what a cache fingerprint covers, and nothing else
    (a train.log or train.tok.de beside train.de must not make every command rebuild the cache)."""
    files = set()
    for stem in corpus.file_stems.values():
        source = _split_source(directory, stem=stem, corpus=corpus)
        if source is not None:
            files.update(source[1])
    return sorted(files)


def _iter_local_split(directory: Path, *, stem: str, split: str, corpus: CorpusConfig) -> Iterator[tuple[str, str]]:
    source = _split_source(directory, stem=stem, corpus=corpus)
    if source is None:
        raise NMTError(_missing_split_message(directory, stem=stem, split=split, corpus=corpus))
    fmt, files = source
    if fmt == "text":
        return iter_parallel_text(*files)
    if fmt == "tsv":
        return iter_tsv(files[0])
    return iter_jsonl(files[0], src_lang=corpus.src_lang, tgt_lang=corpus.tgt_lang)


def _split_source(directory: Path, *, stem: str, corpus: CorpusConfig) -> tuple[str, tuple[Path, ...]] | None:
    """The format and the files one split is read from (`local_format=auto` tries text, tsv, jsonl), or None."""
    text_files = [_find(directory, f"{stem}.{lang}") for lang in (corpus.src_lang, corpus.tgt_lang)]
    tsv, jsonl = _find(directory, f"{stem}.tsv"), _find(directory, f"{stem}.jsonl")
    fmt = corpus.local_format
    if fmt in ("auto", "text") and all(text_files):
        return "text", tuple(text_files)  # type: ignore[arg-type]
    if fmt in ("auto", "tsv") and tsv:
        return "tsv", (tsv,)
    if fmt in ("auto", "jsonl") and jsonl:
        return "jsonl", (jsonl,)
    return None


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing_split_message(directory: Path, *, stem: str, split: str, corpus: CorpusConfig) -> str:
    inventory: dict[str, list[str]] = {}
    for path in sorted(directory.iterdir()):
        name = path.name.removesuffix(".gz")
        if path.is_file() and "." in name:
            file_stem, suffix = name.rsplit(".", 1)
            inventory.setdefault(file_stem, []).append(suffix)
    found = "; ".join(f"{file_stem}.{{{','.join(suffixes)}}}" for file_stem, suffixes in inventory.items()) or "no files"
    if stem in inventory and corpus.local_format in ("auto", "text"):
        languages = [suffix for suffix in inventory[stem] if suffix not in ("tsv", "jsonl")]
        missing = [lang for lang in (corpus.src_lang, corpus.tgt_lang) if lang not in languages]
        if missing and languages:
            return (
                f"{directory} has no {stem}.{missing[0]}[.gz] for split '{split}'; "
                f"languages found for {stem}: {', '.join(languages)} (set data.src_lang / data.tgt_lang)"
            )
    return (
        f"{directory} has no files for split '{split}' (looked for {stem}.{corpus.src_lang} + "
        f"{stem}.{corpus.tgt_lang}, {stem}.tsv or {stem}.jsonl, each optionally .gz, format "
        f"{corpus.local_format}); found: {found}; set data.local_splits.{split} to one of those stems"
    )


# ---------------------------------------------------------------------------------------
# Bundled sample corpus


def load_sample(corpus: CorpusConfig) -> datasets.DatasetDict:
    """Generate the English-French grammar corpus; French-English swaps the columns.

    Validation and test add "alignment": the gold word alignment of each pair as a Pharaoh line
    ("i-j" sure, "i?j" possible; src token i, tgt token j), swapped with the columns for
    French-English. The pronoun test (English-French only) adds "antecedent" and "pronoun":
    the src word indices of the antecedent's head noun and of the pronoun. With
    `long_test_size`, a "long_test" split of 30-60-word pairs with alignments; with
    `long_train_share`, that share of the train pairs (rounded to the nearest pair) comes from the
    long generator, after the others.
    """
    from nmt.data import sample, sample_long

    direction = (corpus.src_lang, corpus.tgt_lang)
    if direction not in ((sample.SRC_LANG, sample.TGT_LANG), (sample.TGT_LANG, sample.SRC_LANG)):
        raise NMTError(
            f"data=sample is {sample.SRC_LANG}-{sample.TGT_LANG}; data.src_lang/data.tgt_lang="
            f"{corpus.src_lang}/{corpus.tgt_lang} must be {sample.SRC_LANG}/{sample.TGT_LANG} or the reverse"
        )
    forward = direction == (sample.SRC_LANG, sample.TGT_LANG)
    sizes = dict(corpus.sample_sizes or {})
    num_long_train = round(corpus.long_train_share * sizes["train"])
    # The train split's first pairs are those of the corpus without long pairs: the long ones replace its tail.
    generated = sample.generate_aligned_splits(sizes={**sizes, "train": sizes["train"] - num_long_train},
                                               seed=corpus.seed, aligned=sample.ALIGNED_SPLITS)
    if corpus.long_test_size or num_long_train:
        seen = {pair.src for split in SPLITS for pair in generated[split]}
        long = sample_long.generate_long_splits(test_size=corpus.long_test_size, train_size=num_long_train,
                                                seed=corpus.seed, exclude=seen)
        generated["train"] += long["train"]
        if corpus.long_test_size:
            generated[LONG_SPLIT] = long[LONG_SPLIT]
    text = datasets.Value("string")
    pairs = {}
    for split in (split for split in (*SPLITS, LONG_SPLIT) if split in generated):
        items = generated[split]
        src, tgt = [pair.src for pair in items], [pair.tgt for pair in items]
        columns = {"src": src if forward else tgt, "tgt": tgt if forward else src}
        if split in (*sample.ALIGNED_SPLITS, LONG_SPLIT):
            columns["alignment"] = [(pair.alignment if forward else pair.alignment.reversed()).pharaoh()
                                    for pair in items]
        pairs[split] = datasets.Dataset.from_dict(columns, features=datasets.Features(dict.fromkeys(columns, text)))
    if forward and corpus.pronoun_test_size > 0:
        seen = {pair.src for items in generated.values() for pair in items}
        items = sample.generate_pronoun_test(size=corpus.pronoun_test_size, seed=corpus.seed, exclude=seen)
        columns = {name: [getattr(item, name) for item in items] for name in sample.PronounPair._fields}
        features = {name: datasets.Value("int32" if name in ("antecedent", "pronoun") else "string") for name in columns}
        pairs[PRONOUN_SPLIT] = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    return datasets.DatasetDict(pairs)
