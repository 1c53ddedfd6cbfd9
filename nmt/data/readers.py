"""Corpus files, streamed: lines of text (plain or gzip), parallel text, TSV and JSONL pairs, and the
Arrow files they are written to, one record batch at a time, so no corpus is ever held in memory whole.

Text follows the policy of `nmt.data.text`: UTF-8 only, errors naming the file and line.
"""

from __future__ import annotations

import gzip
import itertools
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from nmt.data.text import check_text, decode_lines
from nmt.errors import NMTError, error_summary

STREAM_CHUNK = 50_000  # pairs per Arrow record batch while streaming a corpus
PAIR_SCHEMA = pa.schema([("src", pa.string()), ("tgt", pa.string())])


def write_pairs_arrow(pairs: Iterator[tuple[str, str]], path: Path) -> int:
    """Write (src, tgt) pairs to an Arrow stream file in record batches of STREAM_CHUNK; returns the count."""
    count = 0
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, PAIR_SCHEMA) as writer:
        for chunk in iter(lambda: list(itertools.islice(pairs, STREAM_CHUNK)), []):
            src, tgt = zip(*chunk)
            writer.write_batch(pa.record_batch([pa.array(src, pa.string()), pa.array(tgt, pa.string())],
                                               schema=PAIR_SCHEMA))
            count += len(chunk)
    return count


def read_lines(path: Path) -> list[str]:
    """Every line of a corpus file (see `iter_lines`)."""
    return list(iter_lines(path))


def iter_lines(path: Path) -> Iterator[str]:
    """Lines of a UTF-8 text file (optionally gzip), one at a time, without line terminators
    (policy: `nmt.data.text`). An empty file is an `NMTError`: a corpus file with no sentence is a mistake.
    """
    number = 0
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as file:
            for number, raw in enumerate(file, start=1):
                yield from decode_lines(raw, source=str(path), first_line=number)
    except (gzip.BadGzipFile, EOFError, OSError, zlib.error) as error:
        raise NMTError(f"cannot read {path}: {error}; check that the file is complete (and gzip if named .gz)") from None
    if number == 0:
        raise NMTError(f"{path} is empty; a corpus file holds one sentence per line")


def iter_parallel_text(src_path: Path, tgt_path: Path) -> Iterator[tuple[str, str]]:
    src_lines, tgt_lines = iter_lines(src_path), iter_lines(tgt_path)
    count = 0
    for count, pair in enumerate(itertools.zip_longest(src_lines, tgt_lines), start=1):
        if pair[0] is None or pair[1] is None:
            longer, rest = (tgt_path, tgt_lines) if pair[0] is None else (src_path, src_lines)
            total = count + sum(1 for _ in rest)
            src_count, tgt_count = (count - 1, total) if pair[0] is None else (total, count - 1)
            raise NMTError(
                f"parallel files differ in length: {src_path} has {src_count} lines but "
                f"{tgt_path} has {tgt_count}; line i of one must translate line i of the other"
            )
        yield pair


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
