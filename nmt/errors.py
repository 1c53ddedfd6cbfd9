"""The one exception type for user mistakes.

Library code raises `NMTError` with one sentence that names the file, line or
config key at fault, the value received and how to fix it. Entry points print
the message without a traceback and exit with status 2 (see `nmt.cli`).
"""


class NMTError(Exception):
    """A user mistake: bad input, bad config value, unreadable checkpoint."""
