"""Dynamic batching: sentences from concurrent requests are decoded together.

A request hands its sentences to `Batcher.submit` as one job, with the key of its decoding
settings (only jobs of one key can share a decoding call). One worker task per batcher takes
the oldest job and waits until the jobs of its key reach `max_batch_tokens` or the oldest
has waited `max_wait_s`, whichever comes first; then it decodes them in one call of `decode`,
run in `executor` (off the event loop), and hands each job its results. While a call runs,
new jobs queue, so under load batches fill by themselves and an idle server answers a lone
sentence after `max_wait_s`.

Backpressure: the queue holds at most `max_queue_sentences`; a job that would exceed it is
refused at once with `Overloaded`, which carries how long the queue needs to drain. A job
whose caller stops waiting (a timeout, a client that disconnected: its task is cancelled)
leaves the queue if it is still there; a job being decoded finishes and its results are
dropped. Nothing here knows about HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
Item = TypeVar("Item")
Result = TypeVar("Result")

Decode = Callable[[Hashable, list[Any]], list[Any]]
"""(key, items of one or more jobs) -> one result per item, in order; runs in the executor."""


class Overloaded(Exception):
    """The queue is full; `retry_after_s` estimates when it will have room."""

    def __init__(self, queued: int, limit: int, retry_after_s: int) -> None:
        super().__init__(f"the server is busy ({queued} sentences queued, the limit is {limit}); "
                         f"retry in {retry_after_s} s.")
        self.retry_after_s = retry_after_s


class ShuttingDown(Exception):
    """The batcher was closed before this job was decoded."""


@dataclass(frozen=True)
class BatchReport:
    """What one decoding call did, for metrics."""

    sentences: int
    tokens: int
    seconds: float
    jobs: int


@dataclass
class _Job(Generic[Item]):
    key: Hashable
    items: list[Item]
    cost: int
    arrived: float
    future: asyncio.Future = field(repr=False)


class Batcher(Generic[Item, Result]):
    """Queue -> batches -> results for one model; see the module docstring."""

    def __init__(
        self,
        decode: Decode,
        *,
        max_batch_tokens: int,
        max_wait_s: float,
        max_queue_sentences: int,
        executor: Executor | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        self._decode = decode
        self.max_batch_tokens = max_batch_tokens
        self.max_wait_s = max_wait_s
        self.max_queue_sentences = max_queue_sentences
        self._executor = executor
        self._clock = clock
        self._on_batch = on_batch
        self._queue: deque[_Job[Item]] = deque()
        self._queued_sentences = 0
        self._arrival = asyncio.Event()
        self._worker: asyncio.Task | None = None
        self._running: list[_Job[Item]] = []  # the jobs of the decoding call in progress
        self._closed = False
        self._sentences_per_second = 0.0  # a moving average of decoding speed, for Retry-After

    @property
    def queued_sentences(self) -> int:
        """Sentences waiting (not those being decoded)."""
        return self._queued_sentences

    @property
    def has_room(self) -> bool:
        """Whether the queue can take another sentence."""
        return self._queued_sentences < self.max_queue_sentences

    def start(self) -> None:
        """Start the worker task on the running event loop."""
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="nmt-batcher")
            self._worker.add_done_callback(self._worker_ended)

    @property
    def alive(self) -> bool:
        """Whether the worker runs (False after `close`, or if it died)."""
        return self._worker is not None and not self._worker.done()

    def _worker_ended(self, worker: asyncio.Task) -> None:
        """A worker that ends without `close` has died: say why, and fail what waits for it."""
        if worker.cancelled() or self._closed:
            return
        log.error("the batcher stopped: %r", worker.exception())
        self._closed = True
        self.fail_waiting(ShuttingDown("the batcher stopped; see the server's log"))

    async def submit(self, key: Hashable, items: Sequence[Item], *, cost: int) -> list[Result]:
        """Queue `items` (one request's sentences, `cost` source tokens) and wait for their results.

        Raises `Overloaded` at once when the queue has no room, `ShuttingDown` when closed.
        Cancelling the caller removes the job from the queue if it is still waiting.
        """
        if self._closed:
            raise ShuttingDown("the server is shutting down")
        if not items:
            return []
        if self._queued_sentences + len(items) > self.max_queue_sentences:
            raise Overloaded(self._queued_sentences, self.max_queue_sentences, self.retry_after_s())
        job = _Job(key=key, items=list(items), cost=max(cost, 1), arrived=self._clock(),
                   future=asyncio.get_running_loop().create_future())
        self._queue.append(job)
        self._queued_sentences += len(job.items)
        self._arrival.set()
        try:
            return await job.future
        except asyncio.CancelledError:
            self._withdraw(job)
            raise

    def retry_after_s(self) -> int:
        """Seconds until the queue has likely drained: queued sentences at the measured speed (1 to 60)."""
        if self._sentences_per_second <= 0:
            return 1
        return min(60, max(1, math.ceil(self._queued_sentences / self._sentences_per_second)))

    async def close(self) -> None:
        """Stop the worker; jobs still queued fail with `ShuttingDown` (drain first by waiting for them)."""
        self._closed = True
        running = list(self._running)  # cancelling the worker forgets them
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        _fail(running, ShuttingDown("the server is shutting down"))
        self.fail_waiting(ShuttingDown("the server is shutting down"))

    def fail_waiting(self, error: Exception) -> None:
        """Fail the queued jobs and those of the batch being decoded (whose results would never come)."""
        _fail([*self._queue, *self._running], error)
        self._queue.clear()
        self._queued_sentences = 0

    def _withdraw(self, job: _Job[Item]) -> None:
        try:
            self._queue.remove(job)
        except ValueError:
            return  # already taken for decoding: its results will be dropped
        self._queued_sentences -= len(job.items)

    async def _work(self) -> None:
        while True:
            while not self._queue:
                self._arrival.clear()
                await self._arrival.wait()
            await self._wait_for_batch()
            jobs = self._take_batch()
            if jobs:
                await self._run(jobs)

    async def _wait_for_batch(self) -> None:
        """Until the oldest job's key has max_batch_tokens queued or the oldest job has waited max_wait_s."""
        while self._queue:
            oldest = self._queue[0]
            remaining = oldest.arrived + self.max_wait_s - self._clock()
            if remaining <= 0 or self._queued_cost(oldest.key) >= self.max_batch_tokens:
                return
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), timeout=remaining)
            except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11 on
                return

    def _queued_cost(self, key: Hashable) -> int:
        return sum(job.cost for job in self._queue if job.key == key)

    def _take_batch(self) -> list[_Job[Item]]:
        """The oldest job and the next jobs of its key, in arrival order, within max_batch_tokens."""
        if not self._queue:
            return []
        key = self._queue[0].key
        taken: list[_Job[Item]] = []
        tokens = 0
        for job in list(self._queue):
            if job.key != key:
                continue
            if taken and tokens + job.cost > self.max_batch_tokens:
                break
            taken.append(job)
            tokens += job.cost
        for job in taken:
            self._queue.remove(job)
            self._queued_sentences -= len(job.items)
        return taken

    async def _run(self, jobs: list[_Job[Item]]) -> None:
        """Decode `jobs` in one call; when it fails and holds several jobs, each is decoded alone,
        so one request's bad input never fails the requests it was batched with (a broken executor, which
        would fail each alike, fails them at once)."""
        self._running = jobs
        try:
            items = [item for job in jobs for item in job.items]
            started = self._clock()
            try:
                results = await asyncio.get_running_loop().run_in_executor(self._executor, _checked_call,
                                                                           self._decode, jobs[0].key, items)
            except Exception as error:  # noqa: BLE001 - handed to the requests
                if len(jobs) > 1 and not isinstance(error, BrokenExecutor):  # alone, each would fail alike
                    for job in jobs:
                        await self._run([job])
                    return
                _fail(jobs, error)
                return
            seconds = max(self._clock() - started, 1e-9)
            self._sentences_per_second = (len(items) / seconds if self._sentences_per_second == 0
                                          else 0.8 * self._sentences_per_second + 0.2 * len(items) / seconds)
            if self._on_batch is not None:
                self._on_batch(BatchReport(sentences=len(items), tokens=sum(job.cost for job in jobs),
                                           seconds=seconds, jobs=len(jobs)))
            start = 0
            for job in jobs:
                end = start + len(job.items)
                if not job.future.done():  # a cancelled caller's future is done (cancelled): drop its results
                    job.future.set_result(results[start:end])
                start = end
        finally:
            self._running = []


def _checked_call(decode: Decode, key: Hashable, items: list[Any]) -> list[Any]:
    """`decode(key, items)`, held to one result per item; a StopIteration (which asyncio cannot put on a
    future) becomes a RuntimeError."""
    try:
        results = decode(key, items)
    except StopIteration as error:
        raise RuntimeError(f"the decoder stopped early ({error!r})") from error
    if len(results) != len(items):
        raise RuntimeError(f"the decoder returned {len(results)} results for {len(items)} sentences")
    return results


def _fail(jobs: list[_Job], error: BaseException) -> None:
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(error)
