"""Corpus files read in blocks of lines: the same lines, line numbers and first error as one line at a time."""

from __future__ import annotations

import gzip

import pyarrow as pa
import pytest

from nmt.data import readers
from nmt.data.readers import iter_lines, iter_parallel_text, write_arrow, write_pairs_arrow
from nmt.errors import NMTError


@pytest.fixture
def small_blocks(monkeypatch) -> None:
    """Blocks of about 16 bytes: every few lines start a new block."""
    monkeypatch.setattr(readers, "READ_BLOCK", 16)


def numbered_lines(count: int) -> list[bytes]:
    return [f"satz nummer {number}".encode() for number in range(1, count + 1)]


def test_lines_read_in_blocks_are_every_line_in_order(tmp_path, small_blocks):
    raw = b"\xef\xbb\xbfeins\r\n" + b"\n".join(numbered_lines(40)) + b"\n\nletzte ohne zeilenende"
    for path in (tmp_path / "plain.de", tmp_path / "zipped.de.gz"):
        path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
        assert list(iter_lines(path)) == ["eins", *(line.decode() for line in numbered_lines(40)), "",
                                          "letzte ohne zeilenende"]


@pytest.mark.parametrize(("bad_line", "message"), [
    (b"stra\xdfe", r"line 23 is not valid UTF-8 \(byte 0xdf at column 5\)"),
    (b"der\x00hund", r"line 23 holds a NUL byte \(column 4\)"),
])
def test_an_error_in_a_later_block_names_its_line(tmp_path, small_blocks, bad_line, message):
    lines = numbered_lines(30)
    lines[22] = bad_line
    (tmp_path / "train.de").write_bytes(b"\n".join(lines))
    with pytest.raises(NMTError, match=rf"train\.de {message}"):
        list(iter_lines(tmp_path / "train.de"))


def test_the_first_bad_line_of_a_block_is_named_whatever_its_kind(tmp_path):
    # One block: decoding it whole fails on line 3's byte, but line 2's NUL comes first.
    (tmp_path / "train.de").write_bytes(b"gut\nder\x00hund\nstra\xdfe\n")
    with pytest.raises(NMTError, match=r"train\.de line 2 holds a NUL byte"):
        list(iter_lines(tmp_path / "train.de"))


@pytest.mark.parametrize(("src_count", "tgt_count"), [(37, 40), (40, 37), (1, 2)])
def test_parallel_files_of_different_lengths_count_every_line_of_both(tmp_path, small_blocks, src_count, tgt_count):
    (tmp_path / "train.de").write_bytes(b"\n".join(numbered_lines(src_count)) + b"\n")
    (tmp_path / "train.en").write_bytes(b"\n".join(numbered_lines(tgt_count)) + b"\n")
    with pytest.raises(NMTError, match=rf"train\.de has {src_count} lines but \S*train\.en has {tgt_count};"):
        list(iter_parallel_text(tmp_path / "train.de", tmp_path / "train.en"))


def test_parallel_files_pair_line_i_with_line_i_across_blocks(tmp_path, small_blocks):
    (tmp_path / "train.de").write_bytes(b"\n".join(numbered_lines(25)))
    (tmp_path / "train.en").write_bytes(b"\n".join(f"sentence {n}".encode() for n in range(1, 26)))
    pairs = list(iter_parallel_text(tmp_path / "train.de", tmp_path / "train.en"))
    assert len(pairs) == 25 and pairs[17] == ("satz nummer 18", "sentence 18")


def test_pairs_stream_into_record_batches_of_stream_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "STREAM_CHUNK", 4)
    pairs = [(f"satz {i}", f"sentence {i}") for i in range(10)]
    assert write_pairs_arrow(iter(pairs), tmp_path / "pairs.arrow") == 10
    batches = list(pa.ipc.open_stream(pa.memory_map(str(tmp_path / "pairs.arrow"))))
    assert [batch.num_rows for batch in batches] == [4, 4, 2]
    assert pa.Table.from_batches(batches).to_pylist()[9] == {"src": "satz 9", "tgt": "sentence 9"}


def test_write_arrow_cuts_record_batches_and_casts_to_the_schema(tmp_path):
    schema = pa.schema([("ids", pa.list_(pa.int16()))])
    tables = [pa.table({"ids": [[1, 2]] * 5}), pa.table({"ids": [[3]] * 2})]  # int64 lists, cast to int16
    assert write_arrow(tables, schema=schema, path=tmp_path / "ids.arrow", rows_per_batch=2) == 7
    batches = list(pa.ipc.open_stream(pa.memory_map(str(tmp_path / "ids.arrow"))))
    assert [batch.num_rows for batch in batches] == [2, 2, 1, 2]
    assert all(batch.schema == schema for batch in batches)
