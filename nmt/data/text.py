"""Bytes in, lines out: the one policy for text entering nmt.

Corpus files (nmt-prepare, and the references nmt-evaluate reads through them), the
`input=` file, stdin and `text=` of nmt-translate all go through `decode_lines`:

- UTF-8 only. An invalid byte is an `NMTError` naming the source, the 1-based line, the
  byte and its column; nothing is guessed or replaced, so no sentence is silently wrong.
- A UTF-8 byte-order mark at the very start is dropped: it marks the encoding, it is not text.
- Only "\\n" ends a line, with an optional "\\r" before it (CRLF). `str.splitlines` would also
  split on U+2028, U+0085 or a form feed inside a sentence and break the one-line-in,
  one-line-out rule (and the alignment of parallel files).
- A NUL byte is an `NMTError` naming the line: text never holds one; binary files and
  UTF-16 do.
- The last line needs no "\\n"; no bytes at all is no lines.

Strings that were never bytes here (the fields of a JSON line) get the same refusals
through `check_text`.

This module imports nothing heavy: nmt-translate uses it without loading `datasets`.
"""

from __future__ import annotations

from nmt.errors import NMTError

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def decode_lines(raw: bytes, *, source: str, first_line: int = 1) -> list[str]:
    """The lines of `raw` under the policy above, without their line ends.

    `source` names the input in errors (a path, "stdin"); `first_line` is the number of
    the first line of `raw` when it is one piece of a longer input (a line typed at a
    terminal); a byte-order mark is only dropped from line 1.
    """
    if first_line == 1:
        raw = raw.removeprefix(UTF8_BOM)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _position(raw, error.start, first_line)
        fix = ("iconv -f utf-16 -t utf-8 (it starts with a UTF-16 byte-order mark)"
               if first_line == 1 and raw.startswith(UTF16_BOMS) else "iconv -f latin1 -t utf-8")
        raise NMTError(
            f"{source} line {line} is not valid UTF-8 (byte 0x{raw[error.start]:02x} at column {column}); "
            f"convert it to UTF-8, e.g. {fix}"
        ) from None
    nul = raw.find(b"\x00")
    if nul >= 0:
        line, column = _position(raw, nul, first_line)
        raise NMTError(
            f"{source} line {line} holds a NUL byte (column {column}), so it is binary or UTF-16 rather than "
            "UTF-8 text; convert it to UTF-8"
        )
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def check_text(text: str, *, source: str, line: int) -> str:
    """`text` unchanged, or an `NMTError` when it holds what `decode_lines` refuses.

    For strings that were not bytes we decoded: a JSON string may hold "\\u0000" or an
    unpaired surrogate ("\\ud800"), neither of which is text SentencePiece or Arrow accepts.
    """
    if "\x00" in text:
        raise NMTError(f"{source} line {line} holds a NUL character (\\u0000), which is not text; remove it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise NMTError(
            f"{source} line {line} holds \\u{ord(text[error.start]):04x}, an unpaired surrogate that is not a "
            "character; write the character itself or its full surrogate pair"
        ) from None
    return text


def _position(raw: bytes, offset: int, first_line: int) -> tuple[int, int]:
    """1-based line and byte column of `offset` in `raw`."""
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return first_line + raw.count(b"\n", 0, offset), offset - line_start + 1
