"""The k largest scores of each row of a (N, V) vocabulary block, in one pass over the block.

Every search step picks tokens from an (N, V) block of log-probabilities: greedy search the best
of each row, beam search the 2K best. `Tensor.topk` and `Tensor.max(dim)` keep a running
selection per element; on a CPU that costs ~10 times an `amax` over the same block (a 1,280 x
8,000 block: top-10 ~20 ms, max with its index ~14 ms, amax ~1.6 ms, one thread). So the row is
cut into chunks of C columns, the chunks' maxima come from one vectorised `amax` pass, and the
exact top-k is taken among the columns of the k chunks with the largest maxima only (k * C
values instead of V).

Why that is exact: if a value x lies in a chunk outside those k, that chunk's maximum is at most
the smallest of the k maxima, so each of the k chunks holds a value >= x, and at least k values
are >= x: the k largest values are found among the k chunks. The values returned equal
`Tensor.topk`'s; between equal values the index returned may differ (`topk` leaves that order
unspecified too).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

CHUNK_RANGE = (32, 128)  # columns per chunk: a divisor of V from this range, the one closest to 64
PREFERRED_CHUNK = 64
MIN_CHUNKS_PER_K = 4  # below this many chunks per selected one, the chunked pass saves little: plain topk


@functools.cache  # asked at every search step with the same few (V, k)
def chunk_size(vocab: int, k: int) -> int | None:
    """The chunk width for a row of `vocab` columns and a top-`k`, or None where plain `topk` serves as well.

    The width divides `vocab`, so the chunks are a view of the block without a padded copy.
    """
    widths = [width for width in range(CHUNK_RANGE[0], CHUNK_RANGE[1] + 1) if vocab % width == 0]
    if not widths:
        return None
    width = min(widths, key=lambda width: abs(width - PREFERRED_CHUNK))
    return width if vocab // width >= MIN_CHUNKS_PER_K * k else None


def row_topk(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """scores (N, V) -> each row's k largest values (N, k), largest first, and their columns (N, k) long.

    The same values as `scores.topk(k, dim=1)` (see the module docstring for why), faster when
    V is much larger than k. `scores` must be contiguous along V (a search's fresh block is).
    """
    rows, vocab = scores.shape
    width = chunk_size(vocab, k)
    if width is None or not scores.is_contiguous():
        return scores.topk(k, dim=1)
    maxima = scores.view(rows, vocab // width, width).amax(dim=2)                   # (N, V / C)
    chunks = maxima.topk(k, dim=1).indices                                          # (N, k)
    offsets = torch.arange(width, device=scores.device)                             # (C,)
    columns = (chunks.unsqueeze(2) * width + offsets).view(rows, k * width)         # (N, k * C)
    values, where = scores.gather(1, columns).topk(k, dim=1)                        # (N, k) each
    return values, columns.gather(1, where)
