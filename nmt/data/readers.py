"""Corpus files, streamed: lines of text (plain or gzip), parallel text, TSV and JSONL pairs, and the
Arrow files they are written to, one record batch at a time, so no corpus is ever held in memory whole.

Text follows the policy of `nmt.data.text`: UTF-8 only, errors naming the file and line. Lines
are decoded READ_BLOCK bytes at a time: a call per line would cost more than the decoding.
"""

from __future__ import annotations

import gzip
import itertools
import json
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from nmt.data.text import check_text, decode_lines
from nmt.errors import NMTError, error_summary

STREAM_CHUNK = 50_000  # pairs per Arrow record batch while streaming a corpus
READ_BLOCK = 1 << 20  # bytes of whole lines read and decoded at once
PAIR_SCHEMA = pa.schema([("src", pa.string()), ("tgt", pa.string())])


def write_pairs_arrow(pairs: Iterator[tuple[str, str]], path: Path) -> int:
    """Write (src, tgt) pairs to an Arrow stream file in record batches of STREAM_CHUNK; returns the count."""

    def tables() -> Iterator[pa.Table]:
        for chunk in iter(lambda: list(itertools.islice(pairs, STREAM_CHUNK)), []):
            # Lists, not zip(*chunk): pyarrow converts a list of str several times faster than a tuple.
            src, tgt = [pair[0] for pair in chunk], [pair[1] for pair in chunk]
            yield pa.table([pa.array(src, pa.string()), pa.array(tgt, pa.string())], schema=PAIR_SCHEMA)

    return write_arrow(tables(), schema=PAIR_SCHEMA, path=path)


def write_arrow(tables: Iterable[pa.Table], *, schema: pa.Schema, path: Path, rows_per_batch: int | None = None) -> int:
    """Write tables, in order, to an Arrow stream file with `schema` (a memory-mappable cache file),
    in record batches of at most `rows_per_batch` rows (default: one per table chunk); returns the rows."""
    count = 0
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for table in tables:
            writer.write_table(table.cast(schema), max_chunksize=rows_per_batch)
            count += table.num_rows
    return count


def compact(table: pa.Table) -> pa.Table:
    """`table` with buffers holding its own rows only. A slice of a larger record batch keeps that
    batch's buffers, and pickling it (to hand it to a worker process) would copy all of them."""
    return pa.Table.from_arrays([pa.concat_arrays(column.chunks) for column in table.columns], schema=table.schema)


def read_lines(path: Path) -> list[str]:
    """Every line of a corpus file (see `iter_lines`)."""
    return list(iter_lines(path))


def iter_lines(path: Path) -> Iterator[str]:
    """Lines of a UTF-8 text file (optionally gzip), one at a time, without line terminators
    (policy: `nmt.data.text`). An empty file is an `NMTError`: a corpus file with no sentence is a mistake.
    """
    return itertools.chain.from_iterable(iter_line_blocks(path))


def iter_line_blocks(path: Path) -> Iterator[list[str]]:
    """The lines of `iter_lines`, in lists of about READ_BLOCK bytes."""
    number = 0
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as file:
            while raw_lines := file.readlines(READ_BLOCK):
                yield _decode_block(raw_lines, source=str(path), first_line=number + 1)
                number += len(raw_lines)
    except (gzip.BadGzipFile, EOFError, OSError, zlib.error) as error:
        raise NMTError(f"cannot read {path}: {error}; check that the file is complete (and gzip if named .gz)") from None
    if number == 0:
        raise NMTError(f"{path} is empty; a corpus file holds one sentence per line")


def _decode_block(raw_lines: list[bytes], *, source: str, first_line: int) -> list[str]:
    """`decode_lines` of consecutive lines at once; after an error, line by line, so that the
    error names the first bad line as reading one line at a time would."""
    try:
        return decode_lines(b"".join(raw_lines), source=source, first_line=first_line)
    except NMTError:
        for offset, raw in enumerate(raw_lines):
            decode_lines(raw, source=source, first_line=first_line + offset)
        raise


def iter_parallel_text(src_path: Path, tgt_path: Path) -> Iterator[tuple[str, str]]:
    """(line i of src_path, line i of tgt_path) pairs; files of different lengths are an `NMTError`."""
    counts = [0, 0]  # lines read so far from src_path, tgt_path

    def counted_blocks(side: int, path: Path) -> Iterator[list[str]]:
        for block in iter_line_blocks(path):
            counts[side] += len(block)
            yield block

    src_lines, tgt_lines = (itertools.chain.from_iterable(counted_blocks(side, path))
                            for side, path in enumerate((src_path, tgt_path)))
    try:
        yield from zip(src_lines, tgt_lines, strict=True)
    except ValueError:  # only zip raises it: one file ran out first
        for rest in (src_lines, tgt_lines):
            for _ in rest:  # count the lines of the longer file
                pass
        raise NMTError(
            f"parallel files differ in length: {src_path} has {counts[0]} lines but "
            f"{tgt_path} has {counts[1]}; line i of one must translate line i of the other"
        ) from None


def iter_tsv(path: Path) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(iter_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) != 2:
            raise NMTError(
                f"{path} line {number} has {len(fields)} tab-separated fields; "
                "each line must be source<TAB>target"
            )
        yield fields[0], fields[1]


def iter_jsonl(path: Path, *, src_lang: str, tgt_lang: str) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(iter_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as error:  # JSONDecodeError, or a 5,000-digit number, a deep nest
            reason = error.msg if isinstance(error, json.JSONDecodeError) else error_summary(error)
            raise NMTError(f"{path} line {number} is not valid JSON ({reason})") from None
        pair = _jsonl_pair(record, src_lang=src_lang, tgt_lang=tgt_lang)
        if pair is None:
            raise NMTError(
                f"{path} line {number} has neither src/tgt keys nor '{src_lang}'/'{tgt_lang}' "
                f"(top level or under 'translation'); found keys: {', '.join(record) if isinstance(record, dict) else type(record).__name__}"
            )
        yield check_text(pair[0], source=str(path), line=number), check_text(pair[1], source=str(path), line=number)


def _jsonl_pair(record: Any, *, src_lang: str, tgt_lang: str) -> tuple[str, str] | None:
    if not isinstance(record, dict):
        return None
    for layout in (record, record.get("translation")):
        if not isinstance(layout, dict):
            continue
        for src_key, tgt_key in (("src", "tgt"), (src_lang, tgt_lang)):
            if isinstance(layout.get(src_key), str) and isinstance(layout.get(tgt_key), str):
                return layout[src_key], layout[tgt_key]
    return None
