"""Any bytes in, a clear answer out: random and damaged inputs give an NMTError or a result, never a crash.

Deterministic (`derandomize=True`, no example database) and bounded, so the suite stays
reproducible and fast.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_checkpoint import build_tiny_checkpoint, one_cpu_thread  # noqa: F401 (one_cpu_thread: autouse fixture)

from nmt.cli.translate import _read_lines
from nmt.data import readers
from nmt.errors import NMTError
from nmt.inference.translation import load_for_translation

FUZZ = settings(derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Bytes that look like text with the odd bad byte in them find more than uniform noise does.
AWKWARD = [b"\n", b"\r\n", b"\t", b"\x00", b"\xef\xbb\xbf", b"\xff", b"\xc3", b"\xed\xa0\x80"]  # ends, BOM, bad bytes
TEXTISH = st.lists(st.one_of(st.text(max_size=12).map(str.encode), st.sampled_from(AWKWARD)), max_size=30).map(b"".join)
ANY_BYTES = st.one_of(st.binary(max_size=600), TEXTISH)


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory) -> bytes:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("fuzz")).read_bytes()


def loads_or_refuses(path: Path) -> None:
    try:
        load_for_translation(path, device=torch.device("cpu"))
    except NMTError as error:
        assert str(path) in str(error) and "\n" not in str(error)


@settings(FUZZ, max_examples=60)
@given(raw=ANY_BYTES)
def test_any_bytes_as_a_checkpoint_load_or_are_refused(tmp_path, raw):
    (tmp_path / "any.pt").write_bytes(raw)
    loads_or_refuses(tmp_path / "any.pt")


@settings(FUZZ, max_examples=40)
@given(fraction=st.floats(min_value=0.0, max_value=1.0))
def test_a_checkpoint_cut_anywhere_loads_or_is_refused(tmp_path, real_checkpoint, fraction):
    (tmp_path / "cut.pt").write_bytes(real_checkpoint[: int(len(real_checkpoint) * fraction)])
    loads_or_refuses(tmp_path / "cut.pt")


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_a_checkpoint_with_damaged_bytes_loads_or_is_refused(tmp_path, real_checkpoint, data):
    damaged = bytearray(real_checkpoint)
    for _ in range(data.draw(st.integers(1, 4))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    (tmp_path / "damaged.pt").write_bytes(bytes(damaged))
    loads_or_refuses(tmp_path / "damaged.pt")


@settings(FUZZ, max_examples=80)
@given(raw=ANY_BYTES)
def test_any_bytes_as_a_corpus_file_read_or_are_refused(tmp_path, raw):
    for name, read in (("any.de", readers.read_lines), ("any.tsv", lambda path: list(readers.iter_tsv(path))),
                       ("any.jsonl", lambda path: list(readers.iter_jsonl(path, src_lang="de", tgt_lang="en")))):
        (tmp_path / name).write_bytes(raw)
        try:
            read(tmp_path / name)
        except NMTError as error:
            assert name in str(error)


@settings(FUZZ, max_examples=80)
@given(raw=ANY_BYTES)
def test_any_bytes_on_stdin_give_one_line_per_newline_or_are_refused(raw):
    try:
        lines = _read_lines(None, io.BytesIO(raw))
    except NMTError as error:
        assert str(error).startswith("stdin line ")
        return
    body = raw.removeprefix(b"\xef\xbb\xbf")
    assert len(lines) == body.count(b"\n") + (not body.endswith(b"\n") and body != b"")
    assert not any(line.endswith("\r") or "\n" in line for line in lines)
