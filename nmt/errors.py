"""The one exception type for user mistakes.

Library code raises `NMTError` with one sentence that names the file, line or
config key at fault, the value received and how to fix it. Entry points print
the message without a traceback and exit with status 2 (see `nmt.cli.common`).
"""


class NMTError(Exception):
    """A user mistake: bad input, bad config value, unreadable checkpoint."""


def error_summary(error: BaseException) -> str:
    """`Type: first line of the message` (at most 200 characters), to quote a library's error inside ours."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:200]}" if lines else type(error).__name__
