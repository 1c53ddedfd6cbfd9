"""Where nmt-serve decodes: a process of its own (the default) or a thread of the server's process.

Decoding is Python driving torch: the beam loop holds the GIL between operators. In a thread of
the server's process, the event loop that accepts, parses, refuses and answers requests waits
for it at every step, so a busy server answers late and refuses late. In a process of its own
the event loop never waits: it tokenizes (for costs and limits), queues and answers, while the
decoding process holds the models and does nothing else.

Both are a one-worker `concurrent.futures.Executor`: the models load in it (one OpenMP team,
in the thread or process that decodes) and every batch is decoded in it. What crosses into a
decoding process is pickled: the functions are module-level, the jobs and results plain data.

A decoding process ignores SIGINT and SIGTERM (a Ctrl-C reaches the whole process group, but
the server drains first and then stops it) and ends itself when the server's process is gone,
however it went.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Literal, TypeVar

from nmt.device import configure_cpu

DecoderKind = Literal["process", "thread"]
T = TypeVar("T")
PARENT_POLL_S = 1.0  # how often a decoding process checks that the server's process is alive
STOP_WAIT_S = 5.0  # how long to wait for a killed decoding process to be reaped


def decoding_threads(threads: int, kind: DecoderKind) -> int:
    """The torch threads of a decoding process: `threads` when set; for threads=0, every core this process may
    use but one, which is left to the server's process that accepts, refuses and answers requests (2 cores: 1).
    A decoding thread shares the server's process: 0 keeps torch's default there.

    Measured on 2 cores with 4x the capacity in requests (docs/benchmarks.md): a decoding process on both
    cores answered refusals within 50 ms for 91 of 1,703 of them; on one core, 280 of 280, with 32 clients
    served at 65.7 against 74.0 sentences/s.
    """
    if threads > 0 or kind == "thread":
        return threads
    return max(1, len(os.sched_getaffinity(0)) - 1)


def decoding_executor(kind: DecoderKind, *, threads: int) -> Executor:
    """A one-worker executor of `kind` whose worker runs torch on `threads` threads (0: torch's default)."""
    if kind == "thread":
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="nmt-decode")
    # spawn, not fork: the server's process already runs threads (the event loop's helpers, torch's).
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(threads, os.getpid()))


def stop_executor(executor: Executor) -> None:
    """Stop `executor` without waiting for a batch still decoding (the server has drained: what runs now
    answers nobody); a decoding process is killed, which loses nothing, since it holds nothing but models."""
    processes = decoding_processes(executor)
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()
        process.join(timeout=STOP_WAIT_S)


def run_in_executor(executor: Executor, function: Callable[[], T]) -> asyncio.Future[T]:
    """`function()` in `executor`, from the event loop's thread. The first call starts a decoding process:
    it is started with SIGINT and SIGTERM blocked, so a Ctrl-C in the second it takes to import torch, before
    its initializer ignores them, cannot kill it (a spawned process inherits the blocked mask)."""
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        return asyncio.get_running_loop().run_in_executor(executor, function)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def decoding_processes(executor: Executor) -> list[multiprocessing.process.BaseProcess]:
    """The processes of a process executor (none for a thread), copied in one step: its manager thread
    removes a process from the executor's table when it ends."""
    return list((getattr(executor, "_processes", None) or {}).values())


def _start_worker(threads: int, parent_pid: int) -> None:
    """Initializer of a decoding process: ignore stop signals (a Ctrl-C or a SIGTERM sent to the whole
    process group must not end decoding before the server has drained; the server stops this process
    itself), use `threads` torch threads, and end when the server's process `parent_pid` is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_cpu(threads)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="nmt-parent-watch", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    os._exit(0)  # the server's process is gone (even killed): nobody will ask for another translation
