"""The one policy for bytes that become lines: UTF-8 only, BOM dropped, CRLF a line end, NUL refused."""

from __future__ import annotations

import pytest

from nmt.data.text import check_text, decode_lines
from nmt.errors import NMTError


def test_byte_order_mark_and_crlf_leave_no_trace():
    raw = b"\xef\xbb\xbfein hund\r\nzwei\r\n\r\ndrei"
    assert decode_lines(raw, source="in.txt") == ["ein hund", "zwei", "", "drei"]


def test_only_newline_ends_a_line_not_unicode_separators_or_form_feeds():
    raw = "eins\u2028zwei\x0cdrei\x85vier\n".encode()
    assert decode_lines(raw, source="in.txt") == ["eins\u2028zwei\x0cdrei\x85vier"]


def test_no_bytes_are_no_lines_and_a_missing_last_newline_loses_nothing():
    assert decode_lines(b"", source="in.txt") == []
    assert decode_lines(b"\xef\xbb\xbf", source="in.txt") == []
    assert decode_lines(b"a\n\nb", source="in.txt") == ["a", "", "b"]


def test_invalid_utf8_names_the_source_line_byte_and_column():
    with pytest.raises(NMTError, match=r"^input\.txt line 3 is not valid UTF-8 \(byte 0xff at column 5\); "
                                       r"convert it to UTF-8, e\.g\. iconv -f latin1 -t utf-8$"):
        decode_lines(b"one\ntwo\nthre\xffe\n", source="input.txt")


def test_utf16_is_named_by_its_byte_order_mark():
    with pytest.raises(NMTError, match=r"stdin line 1 is not valid UTF-8 \(byte 0xff at column 1\).*iconv -f utf-16"):
        decode_lines("hi\n".encode("utf-16"), source="stdin")


def test_nul_byte_is_refused_naming_line_and_column():
    with pytest.raises(NMTError, match=r"^in\.txt line 2 holds a NUL byte \(column 3\), so it is binary or UTF-16"):
        decode_lines(b"ok\nab\x00c\n", source="in.txt")


def test_line_numbers_continue_from_first_line_and_a_late_bom_is_text():
    with pytest.raises(NMTError, match=r"stdin line 7 is not valid UTF-8"):
        decode_lines(b"\xe9t\xe9\n", source="stdin", first_line=7)
    assert decode_lines(b"\xef\xbb\xbfx\n", source="stdin", first_line=2) == ["\ufeffx"]


@pytest.mark.parametrize(("text", "expected"), [
    ("a\x00b", r"f\.jsonl line 4 holds a NUL character"),
    ("\ud800x", r"f\.jsonl line 4 holds \\ud800, an unpaired surrogate"),
])
def test_strings_from_json_get_the_same_refusals(text, expected):
    with pytest.raises(NMTError, match=expected):
        check_text(text, source="f.jsonl", line=4)
    assert check_text("fine ünïcode", source="f.jsonl", line=4) == "fine ünïcode"
