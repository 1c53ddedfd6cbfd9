"""Weight hooks: masked heads are exactly zero, uniform and permuted rows stay distributions over the real keys."""

from __future__ import annotations

import pytest
import torch

from nmt.analysis.interventions import mask_heads, mask_heads_per_row, permuted_weights, uniform_weights
from nmt.models.attention import masked_softmax


def attention_weights(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax weights (B=2, H=3, T=4, S=6) and a key mask (B, 1, 1, S): the second sentence has 4 real keys."""
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(2, 3, 4, 6, generator=generator)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])[:, None, None, :]
    return masked_softmax(scores, mask), mask


def test_masking_a_head_zeroes_exactly_that_head() -> None:
    weights, mask = attention_weights()
    masked = mask_heads([1])(weights, mask)
    assert torch.equal(masked[:, 1], torch.zeros_like(weights[:, 1]))
    assert torch.equal(masked[:, 0], weights[:, 0]) and torch.equal(masked[:, 2], weights[:, 2])
    assert torch.equal(mask_heads([])(weights, mask), weights)
    with pytest.raises(ValueError, match="head 3 does not exist"):
        mask_heads([3])(weights, mask)


def test_masking_per_row_gives_each_row_the_mask_of_its_own() -> None:
    weights, mask = attention_weights()
    keep = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # row 0 masks head 1, row 1 heads 0 and 2
    masked = mask_heads_per_row(keep)(weights, mask)
    assert torch.equal(masked[:1], mask_heads([1])(weights[:1], mask[:1]))
    assert torch.equal(masked[1:], mask_heads([0, 2])(weights[1:], mask[1:]))
    with pytest.raises(ValueError, match="3 rows and 3 heads"):
        mask_heads_per_row(torch.ones(3, 3))(weights, mask)


def test_uniform_weights_spread_each_row_over_its_real_keys() -> None:
    weights, mask = attention_weights()
    uniform = uniform_weights(weights, mask)
    assert torch.allclose(uniform[0], torch.full((3, 4, 6), 1 / 6))
    assert torch.allclose(uniform[1, ..., :4], torch.full((3, 4, 4), 1 / 4))
    assert torch.equal(uniform[1, ..., 4:], torch.zeros(3, 4, 2))
    assert torch.allclose(uniform_weights(weights, None), torch.full_like(weights, 1 / 6))
    nothing_real = torch.zeros(1, 1, 1, 6, dtype=torch.bool)
    assert torch.equal(uniform_weights(weights[:1], nothing_real), torch.zeros_like(weights[:1]))


def test_permuted_weights_shuffle_each_row_among_its_real_keys() -> None:
    weights, mask = attention_weights()
    permuted = permuted_weights(torch.Generator().manual_seed(3))(weights, mask)
    assert torch.equal(permuted[1, ..., 4:], torch.zeros(3, 4, 2))
    torch.testing.assert_close(permuted.sum(-1), torch.ones(2, 3, 4))
    real = mask.expand_as(weights)
    for row, original, mask_row in zip(permuted.reshape(-1, 6), weights.reshape(-1, 6), real.reshape(-1, 6)):
        assert torch.equal(row[mask_row].sort().values, original[mask_row].sort().values)
    assert not torch.equal(permuted, weights)


def test_permutations_repeat_with_the_seed_and_change_with_it() -> None:
    weights, mask = attention_weights()
    first = permuted_weights(torch.Generator().manual_seed(5))(weights, mask)
    again = permuted_weights(torch.Generator().manual_seed(5))(weights, mask)
    other = permuted_weights(torch.Generator().manual_seed(6))(weights, mask)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_permuted_weights_without_a_mask_use_every_key() -> None:
    weights, _ = attention_weights()
    permuted = permuted_weights(torch.Generator().manual_seed(0))(weights, None)
    assert torch.equal(permuted.sort(dim=-1).values, weights.sort(dim=-1).values)


def test_a_masked_head_changes_only_that_heads_part_of_the_output_and_uniform_weights_average_the_values() -> None:
    from nmt.models.attention import MultiHeadAttention
    from nmt.models.inspection import weights_hooks  # noqa: F401  (the hooks act through the module attribute)

    torch.manual_seed(0)
    attention = MultiHeadAttention(d_model=8, num_heads=2, dropout=0.0).eval()
    with torch.no_grad():  # identity projections: the output is the two heads' contexts side by side
        attention.in_proj.weight.copy_(torch.cat([torch.eye(8)] * 3))
        attention.in_proj.bias.zero_()
        attention.out_proj.weight.copy_(torch.eye(8))
        attention.out_proj.bias.zero_()
        x = torch.randn(2, 5, 8)
        mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
        plain, _ = attention(x, x, x, mask)
        attention.weights_hook = mask_heads([1])
        masked, _ = attention(x, x, x, mask)
        attention.weights_hook = uniform_weights
        uniform, _ = attention(x, x, x, mask)
    assert torch.equal(masked[..., :4], plain[..., :4])  # head 0 untouched
    assert torch.equal(masked[..., 4:], torch.zeros_like(masked[..., 4:]))  # head 1 silenced
    torch.testing.assert_close(uniform[0], x[0].mean(0).expand(5, 8))  # the mean of the values
    torch.testing.assert_close(uniform[1], x[1, :3].mean(0).expand(5, 8))  # of the real ones only
