"""How an update's batches are shared out between ranks: every pair once per epoch, the same updates everywhere."""

from __future__ import annotations

import numpy as np
import pytest

from nmt.data.batching import token_batches
from nmt.training.distributed import Ranks, rank_share


@pytest.mark.parametrize(("world_size", "accumulate"), [(2, 1), (2, 3), (3, 2), (4, 1)])
def test_an_epoch_is_shared_out_so_every_pair_is_seen_once_and_ranks_make_equal_updates(world_size, accumulate):
    rng = np.random.default_rng(0)
    src_lengths, tgt_lengths = rng.integers(1, 40, size=997), rng.integers(1, 40, size=997)
    batches = token_batches(src_lengths, tgt_lengths, batch_tokens=600, shuffle=True, seed=3, epoch=2)
    assert len(batches) % (world_size * accumulate) != 0  # the last update is short: some rank is idle there
    per_update = world_size * accumulate
    seen: list[int] = []
    updates = [0] * world_size
    idle_updates = 0
    for start in range(0, len(batches), per_update):
        group = batches[start:start + per_update]
        for rank in range(world_size):
            share, idle = rank_share(group, Ranks(rank=rank, world_size=world_size))
            updates[rank] += 1
            assert len(share) >= 1  # an idle rank still runs a batch (with weight 0) to join the all-reduce
            if idle:
                idle_updates += 1
            else:
                seen.extend(int(row) for batch in share for row in batch)
    assert sorted(seen) == list(range(997))  # each pair exactly once
    assert len(set(updates)) == 1  # equal step counts
    assert idle_updates >= 1


def test_one_process_takes_the_whole_group():
    group = [np.array([0, 1]), np.array([2])]
    assert rank_share(group, Ranks()) == (group, False)
