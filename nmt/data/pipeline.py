"""Corpus -> clean pairs -> SentencePiece -> token ids, each stage cached under `data_dir`.

Cache layout (every folder is built in a temporary sibling and renamed into place when
complete, so a failed or killed run never leaves a half-written cache and never touches an
existing one):

    data_dir/hub/                                   Hugging Face downloads
    data_dir/{name}.{src}-{tgt}.{corpus key}/       cleaned text pairs + cleaning counts
        {model_type}{vocab}-{joint|separate}.{tokenizer key}/
                                                    SentencePiece model(s), token ids, length stats

The corpus key hashes the corpus and cleaning settings (plus the local files' sizes and
modification times, or the sample generator's source files); the tokenizer key adds the tokenizer
settings. Same config -> everything reused; any change -> only the stages after it rebuilt.

Cleaning and tokenizing run batch by batch in `data.num_workers` processes, with the batches
handed out and their results written in corpus order, so the cache is the same for 1 or N
workers. SentencePiece training runs in this process with `tokenizer.num_threads` threads.
"""

from __future__ import annotations

import collections
import concurrent.futures
import concurrent.futures.process
import contextlib
import errno
import functools
import hashlib
import itertools
import json
import logging
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nmt.data.clean import CLEAN_BATCH, RULES, MapBatches, SplitCleaning, clean_splits
from nmt.data.corpus import PRONOUN_SPLIT, SPLITS, CorpusConfig, load_pairs, local_files
from nmt.data.readers import compact, write_arrow
from nmt.data.tokenizer import Tokenizer, TokenizerConfig, train_tokenizer
from nmt.errors import NMTError
from nmt.tokens import BOS_ID, EOS_ID, PAD_ID, UNK_ID

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the layout or contents of a cache folder change
PAIRS, TOKENIZED = "pairs", "tokenized"
CLEANING_FILE, STATS_FILE, CONFIG_FILE = "cleaning.json", "stats.json", "config.json"


@dataclass
class PreparedCorpus:
    """Everything training needs from the data side."""

    tokenizer: Tokenizer
    splits: datasets.DatasetDict  # train / validation / test: src, tgt, src_ids, tgt_ids
    pronoun_test: datasets.Dataset | None  # data=sample only: + contrast, contrast_ids
    summary: str  # the human-readable table nmt-prepare prints
    cache_dir: Path  # folder of the SentencePiece model(s) and token ids


def prepare_corpus(corpus: CorpusConfig, tokenizer: TokenizerConfig, *, data_dir: Path) -> PreparedCorpus:
    """Load, clean, train or reuse SentencePiece, tokenize; every stage cached in `data_dir`."""
    start = time.perf_counter()
    pairs_dir, pairs_reused = _ensure_clean_pairs(corpus, data_dir=data_dir)
    tokens_dir, tokens_reused = _ensure_tokenized(pairs_dir, config=tokenizer, workers=corpus.workers)
    prepared_tokenizer = Tokenizer.load(tokens_dir)
    tokenized = datasets.load_from_disk(str(tokens_dir / TOKENIZED))
    summary = format_summary(
        corpus,
        tokenizer,
        cleaning=_read_json(pairs_dir / CLEANING_FILE),
        stats=_read_json(tokens_dir / STATS_FILE),
        cache_dir=tokens_dir,
        reused=(pairs_reused, tokens_reused),
        seconds=time.perf_counter() - start,
    )
    return PreparedCorpus(
        tokenizer=prepared_tokenizer,
        splits=datasets.DatasetDict({split: tokenized[split] for split in SPLITS}),
        pronoun_test=tokenized.get(PRONOUN_SPLIT),
        summary=summary,
        cache_dir=tokens_dir,
    )


def load_clean_pairs(corpus: CorpusConfig, *, data_dir: Path) -> datasets.DatasetDict:
    """Cleaned text pairs only (no tokenizer): to score a checkpoint on another corpus."""
    pairs_dir, _ = _ensure_clean_pairs(corpus, data_dir=data_dir)
    return datasets.load_from_disk(str(pairs_dir / PAIRS))


# ---------------------------------------------------------------------------------------
# Stage 1: clean pairs


def corpus_key(corpus: CorpusConfig) -> str:
    """Hash of everything the cleaned pairs depend on (not the vocabulary size)."""
    settings = corpus.to_dict()
    del settings["vocab_size"]
    if corpus.local_dir is not None:
        directory = Path(corpus.local_dir).expanduser().resolve()
        settings["local_dir"] = str(directory)
        if directory.is_dir():
            settings["files"] = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in local_files(directory, corpus=corpus)]
    elif corpus.source == "sample":
        from nmt.data import sample, sample_alignment, sample_grammar, sample_lexicon, sample_long, sample_phrases

        # Every module of the generator: editing any one of them can change the corpus.
        modules = (sample, sample_grammar, sample_phrases, sample_lexicon, sample_alignment, sample_long)
        settings["generator"] = [_digest(Path(m.__file__).read_bytes()) for m in modules]
    return _digest(json.dumps({"format": CACHE_FORMAT, "corpus": settings}, sort_keys=True).encode())


def _ensure_clean_pairs(corpus: CorpusConfig, *, data_dir: Path) -> tuple[Path, bool]:
    final = data_dir / f"{corpus.name}.{corpus.src_lang}-{corpus.tgt_lang}.{corpus_key(corpus)}"
    if final.is_dir():
        log.info("reusing cleaned pairs from %s", final)
        return final, True
    with _building(final) as scratch:
        # Local files stream into memory-mapped Arrow files in the scratch folder; cleaning writes
        # its output next to them; only the saved pairs stay.
        with _timed("read"):
            loaded = load_pairs(corpus, cache_dir=data_dir / "hub", work_dir=scratch / "raw")
        (scratch / "clean").mkdir()
        with _timed("clean"), _batch_map(_workers_for(loaded, corpus.workers, batch_size=CLEAN_BATCH)) as map_batches:
            cleaned, report = clean_splits(loaded, config=corpus.clean, work_dir=scratch / "clean",
                                           map_batches=map_batches, batch_size=CLEAN_BATCH)
        with _timed("save_pairs"):
            cleaned.save_to_disk(str(scratch / PAIRS))
        del loaded, cleaned
        for folder in ("raw", "clean"):
            shutil.rmtree(scratch / folder, ignore_errors=True)
        _write_json(scratch / CLEANING_FILE, {split: counts.to_dict() for split, counts in report.items()})
        _write_json(scratch / CONFIG_FILE, corpus.to_dict())
    return final, False


# ---------------------------------------------------------------------------------------
# Stage 2: SentencePiece and token ids


def _ensure_tokenized(pairs_dir: Path, *, config: TokenizerConfig, workers: int = 1) -> tuple[Path, bool]:
    settings = json.dumps({"format": CACHE_FORMAT, "pairs": pairs_dir.name, "tokenizer": config.to_dict()}, sort_keys=True)
    layout = "joint" if config.joint else "separate"
    final = pairs_dir / f"{config.model_type}{config.vocab_size}-{layout}.{_digest(settings.encode())}"
    if final.is_dir():
        log.info("reusing SentencePiece model and token ids from %s", final)
        return final, True
    pairs = datasets.load_from_disk(str(pairs_dir / PAIRS))
    with _building(final) as scratch:
        with _timed("sentencepiece"):
            src, tgt = _tokenizer_training_text(pairs["train"], config=config)
            tokenizer = train_tokenizer(config, src_sentences=src, tgt_sentences=tgt)
            del src, tgt
        tokenizer.save(scratch)
        (scratch / "ids").mkdir()
        with _timed("tokenize"), _batch_map(_workers_for(pairs, workers, batch_size=TOKENIZE_BATCH)) as map_batches:
            tokenized = datasets.DatasetDict({
                split: _tokenize(dataset, tokenizer, map_batches=map_batches, path=scratch / "ids" / f"{split}.arrow")
                for split, dataset in pairs.items()})
        with _timed("save_tokens"):
            tokenized.save_to_disk(str(scratch / TOKENIZED))
        stats = _length_stats(tokenized, tokenizer)
        stats["tokenizer_training_pairs"] = [min(len(pairs["train"]), config.input_sentence_size), len(pairs["train"])]
        _write_json(scratch / STATS_FILE, stats)
        del tokenized
        shutil.rmtree(scratch / "ids", ignore_errors=True)
        _write_json(scratch / CONFIG_FILE, config.to_dict())
    return final, False


def _tokenizer_training_text(train: datasets.Dataset, *, config: TokenizerConfig) -> tuple[list[str], list[str]]:
    """Train-split sentences for SentencePiece: all, or `input_sentence_size` pairs sampled with `seed`."""
    table = train.with_format("arrow")[:]  # memory-mapped, not read
    if len(train) > config.input_sentence_size:
        rng = np.random.default_rng(config.seed)
        chosen = np.sort(rng.choice(len(train), size=config.input_sentence_size, replace=False))
        log.info("sampling %d of %d train pairs for SentencePiece", len(chosen), len(train))
        table = table.take(chosen)
    return table.column("src").to_pylist(), table.column("tgt").to_pylist()


TOKENIZE_BATCH = 10_000  # pairs per batch a worker encodes
PARALLEL_FROM = 50_000  # corpora whose splits are all smaller than this are cleaned and tokenized in this process


def _tokenize(dataset: datasets.Dataset, tokenizer: Tokenizer, *, map_batches: MapBatches, path: Path) -> datasets.Dataset:
    """Add src_ids / tgt_ids (and contrast_ids) list columns, int16 when the vocabulary allows.

    Batches of TOKENIZE_BATCH pairs are encoded by `map_batches` and written in order to `path`
    (in the scratch folder), so the result is the same with 1 or N workers.
    """
    dtype = "int16" if max(tokenizer.src_vocab_size, tokenizer.tgt_vocab_size) <= np.iinfo(np.int16).max else "int32"
    columns = [column for column in ("src", "tgt", "contrast") if column in dataset.column_names]
    features = dataset.features.copy()
    for column in columns:
        features[f"{column}_ids"] = datasets.Sequence(datasets.Value(dtype))  # datasets>=4: a List
    encode = functools.partial(_encode_batch, tokenizer.to_state(), dtype=dtype)
    feed, keep = itertools.tee(dataset.with_format("arrow").iter(TOKENIZE_BATCH))
    ids = map_batches(encode, (compact(batch.select(columns)) for batch in feed))
    tables = (pa.Table.from_arrays([*batch.combine_chunks().columns, *encoded], names=list(features))
              for batch, encoded in zip(keep, ids))
    # Record batches cut every 1,000 rows from contiguous columns, as datasets.map writes its cache
    # files: the saved split is then the same bytes whatever the record batches of the pairs.
    write_arrow(tables, schema=features.arrow_schema, path=path, rows_per_batch=datasets.config.DEFAULT_MAX_BATCH_SIZE)
    return datasets.Dataset.from_file(str(path))


def _encode_batch(tokenizer_state: dict[str, Any], texts: pa.Table, *, dtype: str) -> list[pa.Array]:
    """Token ids of each text column of `texts`, one encoding thread (the workers are the parallelism)."""
    tokenizer = _cached_tokenizer(tokenizer_state["src_model"], tokenizer_state.get("tgt_model"))
    encoders = {"src": tokenizer.encode_src, "tgt": tokenizer.encode_tgt, "contrast": tokenizer.encode_tgt}
    ids_type = pa.list_(pa.from_numpy_dtype(dtype))
    return [pa.array(encoders[column](texts.column(column).to_pylist(), num_threads=1), type=ids_type)
            for column in texts.column_names]


@functools.lru_cache(maxsize=1)
def _cached_tokenizer(src_model: bytes, tgt_model: bytes | None) -> Tokenizer:
    """One tokenizer per process, built from its model protos once, not once per batch."""
    return Tokenizer(src_model=src_model, tgt_model=tgt_model)


def _workers_for(splits: datasets.DatasetDict, workers: int, *, batch_size: int) -> int:
    """`workers`, at most one per batch of the largest split, or 1 when no split reaches
    PARALLEL_FROM pairs (starting workers would cost more than they save)."""
    largest = max(map(len, splits.values()))
    return min(workers, -(-largest // batch_size)) if largest >= PARALLEL_FROM else 1


@contextlib.contextmanager
def _batch_map(workers: int) -> Iterator[MapBatches]:
    """A `map` over batches that yields results in order: the builtin for one worker, else one over
    `workers` processes with at most 2 x `workers` batches in flight, so memory stays bounded."""
    if workers <= 1:
        yield map
        return
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        yield functools.partial(_ordered_map, pool, depth=2 * workers)


@contextlib.contextmanager
def _timed(stage: str) -> Iterator[None]:
    """Log one stage's wall time and CPU time (this process and the workers that finished in it)."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    yield
    log.info("stage=%s seconds=%.1f cpu_seconds=%.1f", stage, time.perf_counter() - wall, _cpu_seconds() - cpu)


def _cpu_seconds() -> float:
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def _ordered_map(pool: concurrent.futures.Executor, function: Callable, items: Iterable, *, depth: int) -> Iterator:
    """`map(function, items)` on `pool`, reading ahead `depth` items; a worker that dies is an NMTError, not a hang."""
    pending: collections.deque[concurrent.futures.Future] = collections.deque()
    try:
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except concurrent.futures.process.BrokenProcessPool:
        raise NMTError("a worker process of nmt-prepare died (killed for memory?); "
                       "run it again with fewer data.num_workers") from None


def _length_stats(tokenized: datasets.DatasetDict, tokenizer: Tokenizer) -> dict[str, Any]:
    stats: dict[str, Any] = {"src_vocab_size": tokenizer.src_vocab_size, "tgt_vocab_size": tokenizer.tgt_vocab_size, "splits": {}}
    for split, dataset in tokenized.items():
        stats["splits"][split] = {side: _describe_lengths(dataset, f"{side}_ids") for side in ("src", "tgt")}
    return stats


def _describe_lengths(dataset: datasets.Dataset, column: str) -> dict[str, float]:
    lengths = pc.list_value_length(dataset.data.column(column)).to_numpy(zero_copy_only=False)
    if len(lengths) == 0:
        return {"mean": 0.0, "p95": 0.0, "max": 0}
    return {"mean": float(lengths.mean()), "p95": float(np.percentile(lengths, 95)), "max": int(lengths.max())}


# ---------------------------------------------------------------------------------------
# Summary


def format_summary(
    corpus: CorpusConfig,
    tokenizer: TokenizerConfig,
    *,
    cleaning: dict[str, dict],
    stats: dict[str, Any],
    cache_dir: Path,
    reused: tuple[bool, bool],
    seconds: float,
) -> str:
    """The table nmt-prepare prints: pairs before/after cleaning per rule, vocabulary, lengths, cache, time."""
    source = f"local files in {corpus.local_dir}" if corpus.local_dir else {
        "hub": f"Hugging Face Hub {corpus.hub_name}" + (f" ({corpus.hub_config})" if corpus.hub_config else ""),
        "sample": "the bundled sample grammar",
        "local": "local files",
    }[corpus.source]
    header = ["split", "loaded", *RULES, "kept", "src tokens mean/p95", "tgt tokens mean/p95"]
    rows = [header]
    for split in sorted(cleaning, key=_split_order):
        report = SplitCleaning(**cleaning[split])
        lengths = stats["splits"][split]
        rows.append([
            split,
            f"{report.before:,}",
            *(f"{report.removed[rule]:,}" if rule in report.removed else "-" for rule in RULES),
            f"{report.after:,}",
            f"{lengths['src']['mean']:.1f} / {lengths['src']['p95']:.0f}",
            f"{lengths['tgt']['mean']:.1f} / {lengths['tgt']['p95']:.0f}",
        ])
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    table = ["  ".join(cell.ljust(width) if column == 0 else cell.rjust(width) for column, (cell, width) in enumerate(zip(row, widths))) for row in rows]
    layout = "joint" if tokenizer.joint else "separate"
    vocab = f"{stats['src_vocab_size']:,} pieces" if tokenizer.joint else f"{stats['src_vocab_size']:,} source + {stats['tgt_vocab_size']:,} target pieces"
    pairs = sum(SplitCleaning(**counts).before for counts in cleaning.values())
    sampled = stats.get("tokenizer_training_pairs")  # [used, train pairs]; absent in caches of older versions
    sentencepiece = [(f"sentencepiece trained on {sampled[0]:,} of {sampled[1]:,} train pairs "
                      f"(tokenizer.input_sentence_size={tokenizer.input_sentence_size:,})")] if sampled else []
    state = {(True, True): "reused", (True, False): "cleaned pairs reused, tokenizer trained", (False, False): "built"}[reused]
    rules = corpus.clean
    return "\n".join([
        f"corpus      {corpus.name} {corpus.src_lang}->{corpus.tgt_lang} from {source}",
        (f"cleaning    train only: max_len={rules.max_len} words, max_chars={rules.max_chars} characters, "
         f"max_ratio={rules.max_ratio}, dedup={rules.dedup}; every split: NFC, whitespace, empty pairs"),
        *table,
        f"vocabulary  {vocab} ({layout} {tokenizer.model_type}; pad={PAD_ID} unk={UNK_ID} bos={BOS_ID} eos={EOS_ID}); tokens exclude BOS/EOS",
        *sentencepiece,
        f"cache       {cache_dir} ({state})",
        f"time        {seconds:.1f} s" + ("" if all(reused) else f" ({pairs / seconds:,.0f} pairs/s loaded)"),
    ])


def _split_order(split: str) -> tuple[int, str]:
    return (SPLITS.index(split) if split in SPLITS else len(SPLITS), split)


# ---------------------------------------------------------------------------------------
# Atomic cache folders


@contextlib.contextmanager
def _building(final: Path) -> Iterator[Path]:
    """A scratch folder renamed to `final` when the block succeeds, deleted when it fails.

    Every write of a cache stage happens in the block, so an OSError there (disk full,
    read-only data_dir) is a failed cache write: one NMTError naming `final` and the reason.
    """
    scratch: Path | None = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        yield scratch
        try:
            os.rename(scratch, final)
        except OSError:
            if not final.is_dir():  # else a concurrent run finished the same folder first
                raise
    except OSError as error:
        fix = "free space" if error.errno in (errno.ENOSPC, errno.EDQUOT) else "make it writable"
        raise NMTError(f"cannot write the data cache {final}: {error.strerror or error}; "
                       f"{fix} or choose another paths.data_dir.") from None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise NMTError(f"cache file {path} is unreadable ({error}); delete {path.parent} and run nmt-prepare again") from None
