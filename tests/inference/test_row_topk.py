"""The chunked top-k of a vocabulary block gives `Tensor.topk`'s values, at real, distinct columns."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nmt.inference.row_topk import chunk_size, row_topk


def assert_same_selection(scores: torch.Tensor, k: int) -> None:
    values, columns = row_topk(scores, k)
    expected = scores.topk(k, dim=1).values
    assert torch.equal(values, expected)
    assert torch.equal(scores.gather(1, columns), values)  # each value sits at the column returned
    assert all(len(set(row)) == k for row in columns.tolist())  # no column twice in a row


def test_chunk_width_divides_the_vocabulary_and_is_skipped_where_it_cannot_pay():
    assert chunk_size(8000, 10) == 64
    assert chunk_size(10000, 10) == 50
    assert chunk_size(32000, 10) == 64
    assert chunk_size(8009, 1) is None  # prime: no chunk width divides it
    assert chunk_size(1000, 10) is None  # 20 chunks of 50 for a top-10: the plain kernel
    assert chunk_size(1000, 1) == 50


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("vocab", "k"), [(8000, 10), (8000, 1), (10000, 10), (1000, 1), (8009, 10), (1000, 10)])
def test_values_equal_topk_on_random_logits(vocab, k, dtype):
    generator = torch.Generator().manual_seed(vocab + k)
    scores = (torch.randn(37, vocab, generator=generator) * 4).to(dtype)
    assert_same_selection(scores, k)


def test_the_best_values_bunched_in_one_chunk_are_all_found():
    scores = torch.zeros(2, 8000)
    scores[0, 128:138] = torch.arange(10, 20, dtype=torch.float32)  # the ten best in one chunk of 64
    scores[1, torch.arange(10) * 800] = 5.0                        # ten equal best in ten chunks
    assert_same_selection(scores, 10)
    assert sorted(row_topk(scores, 10)[1][0].tolist()) == list(range(128, 138))


def test_rows_with_few_finite_scores_give_minus_infinity_at_real_columns():
    scores = torch.full((3, 8000), float("-inf"))
    scores[0, 4321] = -0.5  # the only finite score of its row
    scores[1, [7, 7000]] = -1.0
    values, columns = row_topk(scores, 10)
    assert values[0, 0] == -0.5 and columns[0, 0] == 4321
    assert torch.isinf(values[0, 1:]).all() and torch.isinf(values[2]).all()
    assert sorted(columns[1, :2].tolist()) == [7, 7000]
    assert ((columns >= 0) & (columns < 8000)).all()
    assert all(len(set(row)) == 10 for row in columns.tolist())


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 6),
    chunks=st.integers(40, 90),
    k=st.integers(1, 10),
    levels=st.integers(2, 50),
    seed=st.integers(0, 2**16),
)
def test_values_equal_topk_with_many_ties(rows, chunks, k, levels, seed):
    """Few distinct values, so the k-th best is tied across chunks: the values still match `topk`'s."""
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, levels, (rows, chunks * 64), generator=generator).float()
    assert_same_selection(scores, k)
