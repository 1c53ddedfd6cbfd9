"""Batch calibration: each tool's batching rule replayed on the corpus, to equalise real target tokens per batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from peers.data import PieceData


def calibrate_batches(tools: Sequence[str], data: PieceData, target: float) -> dict[str, tuple[int, float]]:
    """Each tool's batch-size setting that gives about `target` real target tokens per batch."""
    rules = {
        "joeynmt": lambda size: joey_batches(data.train_src_lengths, data.train_tgt_lengths, size),
        "onmt": lambda size: onmt_batches(data.train_src_lengths, data.train_tgt_lengths, size),
        "nmt": lambda size: nmt_batches(data.train_src_lengths, data.train_tgt_lengths, size),
    }
    return {tool: calibrate(rules[tool], data.train_tgt_lengths, target) for tool in tools}


def joey_batches(src_lengths: np.ndarray, tgt_lengths: np.ndarray, batch_size: int, *, seed: int = 1) -> list[np.ndarray]:
    """Joey NMT's TokenBatchSampler: random order, cut when rows * max(src+1, tgt+1) >= batch_size."""
    batches, current, longest = [], [], 0
    for index in np.random.default_rng(seed).permutation(len(src_lengths)):
        longest = max(longest, src_lengths[index] + 1, tgt_lengths[index] + 1)
        current.append(index)
        if longest * len(current) >= batch_size:
            batches.append(np.array(current))
            current, longest = [], 0
    return batches + ([np.array(current)] if current else [])


def onmt_batches(src_lengths: np.ndarray, tgt_lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """OpenNMT-py's batch_iter over one sorted bucket (the whole corpus fits its 262,144 examples):
    rows * max(src, BOS+tgt+EOS) >= batch_size closes a batch, without the row that overflowed it."""
    order = np.lexsort((tgt_lengths, src_lengths))
    batches, current, longest = [], [], 0
    for index in order:
        current.append(index)
        longest = max(longest, src_lengths[index], tgt_lengths[index] + 2)
        size = longest * len(current)
        if size >= batch_size:
            if size > batch_size and len(current) > 1:
                batches.append(np.array(current[:-1]))
                current = current[-1:]
                longest = max(src_lengths[current[0]], tgt_lengths[current[0]] + 2)
            else:
                batches.append(np.array(current))
                current, longest = [], 0
    return batches + ([np.array(current)] if current else [])


def nmt_batches(src_lengths: np.ndarray, tgt_lengths: np.ndarray, batch_tokens: int) -> list[np.ndarray]:
    from nmt.data.batching import token_batches
    return token_batches(src_lengths, tgt_lengths, batch_tokens=batch_tokens, shuffle=True, seed=1, epoch=1)


def mean_real_tgt(batches: Sequence[np.ndarray], tgt_lengths: np.ndarray) -> float:
    """Mean real target tokens per batch: target pieces + EOS, as every tool counts them."""
    return float(np.mean([(tgt_lengths[batch] + 1).sum() for batch in batches]))


def calibrate(make_batches: Callable[[int], list[np.ndarray]], tgt_lengths: np.ndarray, target: float) -> tuple[int, float]:
    """Smallest batch-size setting whose batches hold >= `target` real target tokens on average."""
    low, high = int(target) // 2, int(target) * 8
    while high - low > 8:
        middle = (low + high) // 2
        if mean_real_tgt(make_batches(middle), tgt_lengths) >= target:
            high = middle
        else:
            low = middle
    return high, mean_real_tgt(make_batches(high), tgt_lengths)

