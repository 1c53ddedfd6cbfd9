"""Padding layout, flat-array splits, and length-bucketed batches that waste little."""

from __future__ import annotations

import datasets
import numpy as np
import torch

from nmt.data.batching import TokenizedSplit, collate, padding_fraction, sorted_batches, token_batches
from nmt.tokens import BOS_ID, EOS_ID, PAD_ID


def realistic_lengths(count: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Subword lengths shaped like Multi30k de-en (mean about 15, long right tail, correlated sides)."""
    rng = np.random.default_rng(seed)
    src = np.clip(np.round(rng.lognormal(mean=2.65, sigma=0.35, size=count)), 2, 60).astype(np.int64)
    tgt = np.clip(np.round(src * rng.normal(0.96, 0.15, size=count)), 1, 60).astype(np.int64)
    return src, tgt


def test_collate_adds_eos_to_source_and_bos_eos_to_target():
    batch = collate([[5, 6, 7], [8]], [[9, 10], [11, 12, 13]], [4, 2])
    assert batch.src.tolist() == [[5, 6, 7, EOS_ID], [8, EOS_ID, PAD_ID, PAD_ID]]
    assert batch.src_mask.tolist() == [[True] * 4, [True, True, False, False]]
    assert batch.tgt_in.tolist() == [[BOS_ID, 9, 10, PAD_ID], [BOS_ID, 11, 12, 13]]
    assert batch.tgt_out.tolist() == [[9, 10, EOS_ID, PAD_ID], [11, 12, 13, EOS_ID]]
    assert batch.indices.tolist() == [4, 2]
    assert batch.num_tgt_tokens == 7
    assert batch.src.dtype == batch.tgt_in.dtype == torch.long and batch.src_mask.dtype == torch.bool


def test_collate_to_one_width_pads_both_sides_to_the_longest_plus_one():
    batch = collate([[5, 6, 7], [8]], [[9], [11, 12, 13, 14]], [0, 1], one_width=True)
    assert batch.src.tolist() == [[5, 6, 7, EOS_ID, PAD_ID], [8, EOS_ID, PAD_ID, PAD_ID, PAD_ID]]
    assert batch.tgt_in.tolist() == [[BOS_ID, 9, PAD_ID, PAD_ID, PAD_ID], [BOS_ID, 11, 12, 13, 14]]
    assert batch.tgt_out.tolist() == [[9, EOS_ID, PAD_ID, PAD_ID, PAD_ID], [11, 12, 13, 14, EOS_ID]]
    assert batch.src_mask.sum().item() == 6 and batch.num_tgt_tokens == 7
    source_only = collate([[5, 6, 7], [8]], None, [0, 1], one_width=True)
    assert source_only.src.shape == (2, 4)


def test_collate_without_targets_is_source_only():
    batch = collate([[5], [6, 7]], None, [0, 1])
    assert batch.tgt_in is None and batch.tgt_out is None and batch.num_tgt_tokens == 0
    assert batch.to("cpu").src.tolist() == [[5, EOS_ID, PAD_ID], [6, 7, EOS_ID]]


def test_tokenized_split_reads_ids_through_a_selection():
    dataset = datasets.Dataset.from_dict({
        "src_ids": [[4], [5, 6], [7, 8, 9], [10]],
        "tgt_ids": [[11], [12], [13, 14], []],
    }).select([2, 0, 3])  # an indices mapping that dataset.data alone would ignore
    split = TokenizedSplit.from_dataset(dataset)
    assert len(split) == 3
    assert split.src_lengths.tolist() == [3, 1, 1] and split.tgt_lengths.tolist() == [2, 1, 0]
    batch = split.batch([0, 2])
    assert batch.src.tolist() == [[7, 8, 9, EOS_ID], [10, EOS_ID, PAD_ID, PAD_ID]]
    assert batch.tgt_out.tolist() == [[13, 14, EOS_ID], [EOS_ID, PAD_ID, PAD_ID]]
    assert batch.indices.tolist() == [0, 2]


def test_tokenized_split_of_a_saved_cache_reads_rows_across_chunks_without_copying_the_ids(tmp_path):
    rng = np.random.default_rng(0)
    src_ids = [rng.integers(4, 100, rng.integers(0, 6)).tolist() for _ in range(2500)]
    tgt_ids = [rng.integers(4, 100, rng.integers(1, 6)).tolist() for _ in range(2500)]
    features = datasets.Features({"src_ids": datasets.List(datasets.Value("int16")),
                                  "tgt_ids": datasets.List(datasets.Value("int16"))})
    datasets.Dataset.from_dict({"src_ids": src_ids, "tgt_ids": tgt_ids}, features=features).save_to_disk(
        str(tmp_path / "cache"), max_shard_size="20KB")  # several files, each of several record batches
    dataset = datasets.load_from_disk(str(tmp_path / "cache"))
    assert dataset.data.column("src_ids").num_chunks > 2

    split = TokenizedSplit.from_dataset(dataset)

    assert split.src_lengths.tolist() == [len(ids) for ids in src_ids]
    assert all(split.src(i).tolist() == src_ids[i] and split.tgt(i).tolist() == tgt_ids[i] for i in range(2500))
    rows = [2499, 0, 1234, 1000, 999]
    batch = split.batch(rows)
    width = batch.tgt_out.size(1)
    assert batch.tgt_out.tolist() == [(tgt_ids[i] + [EOS_ID] + [PAD_ID] * width)[:width] for i in rows]
    assert all(not chunk.flags.owndata for chunk in split.src_ids.chunks)  # views of the mapped files


def test_token_batches_cover_every_row_once_within_the_token_budget():
    src, tgt = realistic_lengths(3000, seed=0)
    batches = token_batches(src, tgt, batch_tokens=1000, shuffle=True, seed=1, epoch=0)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(3000))
    for batch in batches:
        assert (np.maximum(src[batch], tgt[batch]).max() + 1) * len(batch) <= 1000


def test_token_batches_pad_less_than_ten_percent_on_realistic_lengths():
    src, tgt = realistic_lengths(29000, seed=0)
    batches = token_batches(src, tgt, batch_tokens=4096, shuffle=True, seed=1, epoch=0)
    assert padding_fraction(batches, src) < 0.10
    assert padding_fraction(batches, tgt) < 0.10
    assert 100 < len(batches) < 200  # full batches: bucketing did not fragment them


def test_token_batches_are_a_function_of_seed_and_epoch():
    src, tgt = realistic_lengths(2000, seed=1)
    make = lambda seed, epoch: token_batches(src, tgt, batch_tokens=800, shuffle=True, seed=seed, epoch=epoch)  # noqa: E731
    same = [np.array_equal(a, b) for a, b in zip(make(3, 5), make(3, 5))]
    assert all(same)
    assert [b.tolist() for b in make(3, 5)] != [b.tolist() for b in make(3, 6)]
    assert [b.tolist() for b in make(3, 5)] != [b.tolist() for b in make(4, 5)]
    unshuffled = token_batches(src, tgt, batch_tokens=800, shuffle=False, seed=0, epoch=0)
    assert [b.tolist() for b in unshuffled] == [b.tolist() for b in token_batches(src, tgt, batch_tokens=800, shuffle=False, seed=9, epoch=9)]


def test_a_pair_longer_than_the_budget_gets_a_batch_of_its_own():
    src = np.array([3, 200, 4, 5])
    tgt = np.array([3, 10, 4, 5])
    batches = token_batches(src, tgt, batch_tokens=50, shuffle=True, seed=0, epoch=0)
    assert [1] in [batch.tolist() for batch in batches]
    assert sorted(np.concatenate(batches).tolist()) == [0, 1, 2, 3]


def test_sorted_batches_go_longest_first_within_both_limits():
    lengths = np.array([3, 9, 1, 9, 5, 2, 7])
    batches = sorted_batches(lengths, max_tokens=20, max_sentences=3)
    order = np.concatenate(batches)
    assert lengths[order].tolist() == sorted(lengths.tolist(), reverse=True)
    assert order[:2].tolist() == [1, 3]  # ties keep input order
    for batch in batches:
        assert len(batch) <= 3 and (lengths[batch].max() + 1) * len(batch) <= 20
