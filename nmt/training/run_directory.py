"""What a run owns in its directory: one writer at a time, and one clear error when a write fails.

The writer holds `<run dir>/.lock` with `flock` for the life of the run. The kernel drops
a flock when its holder ends, however it ends (SIGKILL, power loss aside), so a lock file
left by a killed run is free for the next one; the pid and host written into it only
serve the message that names the holder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from nmt.errors import NMTError

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"


class RunDirectoryLock:
    """An exclusive lock on one run directory, taken without waiting; `release()` (or the process's end) frees it."""

    def __init__(self, path: Path, file: IO[str] | None) -> None:
        self.path, self._file = path, file  # file: None where the file system cannot lock

    @classmethod
    def acquire(cls, directory: Path) -> RunDirectoryLock:
        """Take the lock of `directory` (created if needed), or raise the NMTError naming the process holding it."""
        directory = Path(directory)
        path = directory / LOCK_NAME
        try:
            directory.mkdir(parents=True, exist_ok=True)
            file = _open_locked(path)
            if file is not None:
                with _closed_on_error(file):
                    file.seek(0)
                    left_by = file.read().strip()
                    if left_by:
                        log.info("taking over %s, left by %s, which no longer holds it", path, left_by)
                    file.seek(0)
                    file.truncate()
                    file.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
                    file.flush()
        except OSError as error:
            raise write_error(error.filename or path, error) from None
        return cls(path, file)

    def release(self) -> None:
        """Free the directory; a no-op when already released."""
        if self._file is None:
            return
        # Removed while still held, so that a process that opened the old file retries on a new one.
        self.path.unlink(missing_ok=True)
        self._file.close()
        self._file = None


def refuse_if_in_use(directory: Path) -> None:
    """Raise the in-use NMTError now if another process holds `directory`: before minutes of data preparation."""
    RunDirectoryLock.acquire(directory).release()


def write_error(path: str | Path, error: OSError, *, what: str = "") -> NMTError:
    """`cannot write [what ]<path>: <OS reason>; <fix> or choose another hydra.run.dir.` as an NMTError."""
    fix = "free space" if error.errno in (errno.ENOSPC, errno.EDQUOT) else "make it writable"
    return NMTError(f"cannot write {what + ' ' if what else ''}{path}: {error.strerror or error}; "
                    f"{fix} or choose another hydra.run.dir.")


def _open_locked(path: Path) -> IO[str] | None:
    """`path` opened and flocked; None where the file system cannot lock (the run goes on unguarded)."""
    while True:
        file = path.open("a+", encoding="utf-8")  # "a+": create, never truncate the holder's pid
        with _closed_on_error(file):
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                file.seek(0)
                holder = file.read().strip() or "a process that has not written its pid yet"
                raise NMTError(f"run directory {path.parent} is in use by another nmt-train ({holder}); wait for it "
                               "to finish, or pass another hydra.run.dir.") from None
            except OSError as error:
                if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                log.warning("cannot lock %s (%s): a second run on this directory would not be refused",
                            path, error.strerror)
                file.close()
                return None
        if _is_current(file, path):
            return file
        file.close()  # its holder removed the file between our open and our lock: lock the new one


@contextlib.contextmanager
def _closed_on_error(file: IO[str]) -> Iterator[None]:
    try:
        yield
    except BaseException:
        file.close()
        raise


def _is_current(file: IO[str], path: Path) -> bool:
    """True when `path` still names the file we locked."""
    try:
        return os.path.samestat(os.fstat(file.fileno()), path.stat())
    except FileNotFoundError:
        return False
