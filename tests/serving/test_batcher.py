"""The batcher on a scripted decoder: grouping, limits, order, backpressure, cancellation, failures."""

from __future__ import annotations

import asyncio
import threading

import pytest

from nmt.serving.batcher import Batcher, Overloaded, ShuttingDown


class RecordingDecoder:
    """Upper-cases its items and remembers each call; `gate` (when set) holds calls until released."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[tuple[object, list[str]]] = []
        self.gate = gate

    def __call__(self, key, items):
        if self.gate is not None:
            self.gate.wait(timeout=5)
        self.calls.append((key, list(items)))
        return [item.upper() for item in items]


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=10))


def make(decoder, **settings) -> Batcher:
    values = {"max_batch_tokens": 100, "max_wait_s": 0.05, "max_queue_sentences": 100, **settings}
    return Batcher(decoder, **values)


async def held_batcher(decoder: RecordingDecoder, **settings) -> tuple[Batcher, asyncio.Future]:
    """A started batcher whose gated decoder has taken the job ["a"] and holds it; that job's future."""
    batcher = make(decoder, max_wait_s=0, **settings)
    batcher.start()
    busy = asyncio.ensure_future(batcher.submit("k", ["a"], cost=1))
    await asyncio.sleep(0.05)
    return batcher, busy


def test_concurrent_requests_of_one_key_are_decoded_in_one_call_and_answered_in_their_own_order():
    decoder = RecordingDecoder()

    async def scenario():
        batcher = make(decoder, max_wait_s=0.2)
        batcher.start()
        answers = await asyncio.gather(batcher.submit("k", ["a", "b"], cost=2), batcher.submit("k", ["c"], cost=1),
                                       batcher.submit("k", ["d", "e"], cost=2))
        await batcher.close()
        return answers

    assert run(scenario()) == [["A", "B"], ["C"], ["D", "E"]]
    assert decoder.calls == [("k", ["a", "b", "c", "d", "e"])]


def test_a_batch_closes_when_its_tokens_reach_the_limit_without_waiting_for_the_deadline():
    decoder = RecordingDecoder()

    async def scenario():
        batcher = make(decoder, max_batch_tokens=10, max_wait_s=30)
        batcher.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = batcher.submit("k", ["a"], cost=5)
        second = batcher.submit("k", ["b"], cost=5)  # 10 tokens queued: the limit, reached at once
        answers = await asyncio.gather(first, second)
        elapsed = loop.time() - started
        await batcher.close()
        return answers, elapsed

    answers, elapsed = run(scenario())
    assert answers == [["A"], ["B"]]
    assert elapsed < 5  # far below max_wait_s: the token limit closed the batches
    assert decoder.calls == [("k", ["a", "b"])]


def test_a_lone_sentence_is_decoded_after_the_wait_limit():
    decoder = RecordingDecoder()

    async def scenario():
        batcher = make(decoder, max_batch_tokens=10_000, max_wait_s=0.01)
        batcher.start()
        answer = await batcher.submit("k", ["x"], cost=1)
        await batcher.close()
        return answer

    assert run(scenario()) == ["X"]


def test_sentences_of_different_keys_never_share_a_call():
    decoder = RecordingDecoder()

    async def scenario():
        batcher = make(decoder, max_wait_s=0.05)
        batcher.start()
        answers = await asyncio.gather(batcher.submit("beam", ["a"], cost=1), batcher.submit("greedy", ["b"], cost=1),
                                       batcher.submit("beam", ["c"], cost=1))
        await batcher.close()
        return answers

    assert run(scenario()) == [["A"], ["B"], ["C"]]
    assert sorted(decoder.calls) == [("beam", ["a", "c"]), ("greedy", ["b"])]


def test_a_full_queue_refuses_at_once_with_a_retry_estimate_and_keeps_serving_the_queued():
    gate = threading.Event()
    decoder = RecordingDecoder(gate)

    async def scenario():
        batcher, busy = await held_batcher(decoder, max_queue_sentences=3)
        queued = asyncio.ensure_future(batcher.submit("k", ["b", "c", "d"], cost=3))
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded) as refused:
            await batcher.submit("k", ["e"], cost=1)
        gate.set()
        answers = await asyncio.gather(busy, queued)
        await batcher.close()
        return refused.value, answers

    refused, answers = run(scenario())
    assert refused.retry_after_s >= 1
    assert "busy" in str(refused)
    assert answers == [["A"], ["B", "C", "D"]]


def test_a_cancelled_request_leaves_the_queue_and_is_never_decoded():
    gate = threading.Event()
    decoder = RecordingDecoder(gate)

    async def scenario():
        batcher, busy = await held_batcher(decoder)
        gone = asyncio.ensure_future(batcher.submit("k", ["gone"], cost=1))
        stays = asyncio.ensure_future(batcher.submit("k", ["b"], cost=1))
        await asyncio.sleep(0.01)
        assert batcher.queued_sentences == 2
        gone.cancel()
        await asyncio.sleep(0.01)
        queued_after_cancel = batcher.queued_sentences
        gate.set()
        answers = await asyncio.gather(busy, stays)
        await batcher.close()
        return queued_after_cancel, answers

    queued_after_cancel, answers = run(scenario())
    assert queued_after_cancel == 1
    assert answers == [["A"], ["B"]]
    assert all("gone" not in items for _, items in decoder.calls)


def test_a_request_that_breaks_the_decoder_fails_alone_and_its_batch_mates_are_answered():
    class BrokenByBad(RecordingDecoder):
        def __call__(self, key, items):
            if "bad" in items:
                self.calls.append((key, list(items)))
                raise RuntimeError("decoder broke")
            return super().__call__(key, items)

    decoder = BrokenByBad()

    async def scenario():
        batcher = make(decoder, max_wait_s=0.05)
        batcher.start()
        answers = await asyncio.gather(batcher.submit("k", ["a"], cost=1), batcher.submit("k", ["bad"], cost=1),
                                       batcher.submit("k", ["b"], cost=1), return_exceptions=True)
        later = await batcher.submit("k", ["c"], cost=1)
        await batcher.close()
        return answers, later

    answers, later = run(scenario())
    assert answers[0] == ["A"] and answers[2] == ["B"]
    assert str(answers[1]) == "decoder broke"
    assert decoder.calls[0] == ("k", ["a", "bad", "b"])  # tried together first, then each alone
    assert later == ["C"]


def test_a_decoder_that_returns_too_few_results_or_stops_iteration_is_an_error_not_a_hang():
    def short(key, items):
        return items[:-1]

    def stopping(key, items):
        return [next(iter([]))]

    async def scenario(decode):
        batcher = make(decode, max_wait_s=0)
        batcher.start()
        outcome = await asyncio.gather(batcher.submit("k", ["a", "b"], cost=2), return_exceptions=True)
        alive = batcher.alive
        await batcher.close()
        return outcome[0], alive

    for decode, words in ((short, "1 results for 2 sentences"), (stopping, "stopped early")):
        error, alive = run(scenario(decode))
        assert isinstance(error, RuntimeError) and words in str(error)
        assert alive  # the worker goes on serving


def test_closing_fails_the_queued_requests_and_refuses_new_ones():
    gate = threading.Event()
    decoder = RecordingDecoder(gate)

    async def scenario():
        batcher, busy = await held_batcher(decoder)
        waiting = asyncio.ensure_future(batcher.submit("k", ["b"], cost=1))
        await asyncio.sleep(0.01)
        await batcher.close()
        gate.set()
        with pytest.raises(ShuttingDown):
            await waiting
        with pytest.raises(ShuttingDown):  # the batch being decoded when closed gets an answer too
            await busy
        with pytest.raises(ShuttingDown):
            await batcher.submit("k", ["c"], cost=1)

    run(scenario())


def test_an_injected_clock_decides_when_the_oldest_sentence_has_waited_long_enough():
    now = [0.0]
    decoder = RecordingDecoder()

    async def scenario():
        batcher = make(decoder, max_wait_s=100.0, clock=lambda: now[0])
        batcher.start()
        pending = asyncio.ensure_future(batcher.submit("k", ["a"], cost=1))
        await asyncio.sleep(0.05)
        assert not pending.done()  # the clock has not moved: still waiting for company
        now[0] = 101.0
        later = asyncio.ensure_future(batcher.submit("k", ["b"], cost=1))  # an arrival wakes the worker
        answers = await asyncio.gather(pending, later)
        await batcher.close()
        return answers

    assert run(scenario()) == [["A"], ["B"]]
    assert decoder.calls == [("k", ["a", "b"])]
