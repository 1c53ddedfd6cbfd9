"""Where nmt-serve decodes: a process born with the stop signals blocked and ignoring them, killed at stop."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from nmt.serving.decoding_process import (
    decoding_executor,
    decoding_processes,
    decoding_threads,
    run_in_executor,
    stop_executor,
)


def signal_masks() -> tuple[int, int]:
    """(blocked, ignored) signal masks of this process, from /proc."""
    fields = dict(line.split(":\t") for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines()
                  if line.startswith(("SigBlk", "SigIgn")))
    return int(fields["SigBlk"], 16), int(fields["SigIgn"], 16)


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads signal masks from Linux's /proc")
def test_a_decoding_process_never_takes_a_stop_signal_and_ends_with_stop_executor():
    executor = decoding_executor("process", threads=1)

    async def start() -> tuple[int, int]:
        return await run_in_executor(executor, signal_masks)

    try:
        blocked, ignored = asyncio.run(start())
        (process,) = decoding_processes(executor)
    finally:
        stop_executor(executor)
    for stop in (signal.SIGINT, signal.SIGTERM):
        bit = 1 << (stop - 1)
        assert blocked & bit and ignored & bit, stop.name  # blocked from birth, ignored once initialized
    assert not signal_masks()[0] & (1 << (signal.SIGINT - 1))  # the server's own thread takes Ctrl-C again
    assert not process.is_alive()


def test_threads_0_leaves_one_core_to_the_server_process_and_a_set_number_is_kept(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert decoding_threads(0, "process") == 3
    assert decoding_threads(2, "process") == 2  # what the user set
    assert decoding_threads(0, "thread") == 0  # a decoding thread shares the server's process: torch's default
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert decoding_threads(0, "process") == 1  # one core: the decoding still gets a thread
