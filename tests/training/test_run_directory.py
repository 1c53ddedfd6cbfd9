"""One writer per run directory: the lock refuses a second holder, outlives nobody, and write errors are one line."""

from __future__ import annotations

import errno
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nmt.errors import NMTError
from nmt.training.run_directory import LOCK_NAME, RunDirectoryLock, write_error

HOLD_THE_LOCK = """
import sys, time
from pathlib import Path
from nmt.training.run_directory import RunDirectoryLock
lock = RunDirectoryLock.acquire(Path(sys.argv[1]))
print("locked", flush=True)
time.sleep(60)
"""


def test_a_lock_held_by_another_process_is_refused_naming_it_and_free_once_that_process_is_killed(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(NMTError) as error:
            RunDirectoryLock.acquire(tmp_path)
        message = str(error.value)
        assert f"run directory {tmp_path} is in use by another nmt-train (pid {holder.pid} on " in message
        assert message.endswith("wait for it to finish, or pass another hydra.run.dir.")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / LOCK_NAME).exists()  # a killed holder cannot clean up; its lock went with it
    RunDirectoryLock.acquire(tmp_path).release()


def test_a_lock_file_left_with_a_dead_pid_is_taken_over_and_removed_on_release(tmp_path, caplog):
    (tmp_path / LOCK_NAME).write_text("pid 999999 on another-host\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="nmt.training.run_directory"):
        lock = RunDirectoryLock.acquire(tmp_path)
    assert (tmp_path / LOCK_NAME).read_text(encoding="utf-8").startswith(f"pid {os.getpid()} on ")
    assert "left by pid 999999 on another-host, which no longer holds it" in caplog.text
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()


def test_an_unwritable_run_directory_is_one_error_naming_it(tmp_path, monkeypatch):
    def read_only(path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(Path, "open", read_only)
    with pytest.raises(NMTError) as error:
        RunDirectoryLock.acquire(tmp_path)
    assert str(error.value) == (f"cannot write {tmp_path / LOCK_NAME}: Read-only file system; "
                                "make it writable or choose another hydra.run.dir.")


@pytest.mark.parametrize(("code", "fix"), [(errno.ENOSPC, "free space"), (errno.EROFS, "make it writable")])
def test_write_error_names_the_path_the_reason_and_the_fix(code, fix):
    error = write_error("/runs/a/checkpoints/last.pt", OSError(code, os.strerror(code)), what="checkpoint")
    assert str(error) == (f"cannot write checkpoint /runs/a/checkpoints/last.pt: {os.strerror(code)}; "
                          f"{fix} or choose another hydra.run.dir.")
