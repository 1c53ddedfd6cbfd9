"""What every entry point shares: user errors as one line on stderr, logging set-up."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from nmt.errors import NMTError

F = TypeVar("F", bound=Callable[..., object])


def report_user_errors(fn: F) -> F:
    """Turn an `NMTError` raised inside `fn` into `error: <message>` on stderr and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NMTError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def quiet_third_party_logs() -> None:
    """Keep library chatter (datasets, matplotlib) out of the run log."""
    for name in ("datasets", "matplotlib", "fsspec", "urllib3", "filelock", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
