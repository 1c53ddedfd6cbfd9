"""Weight hooks that change what attention does: mask heads, spread it evenly, shuffle it.

Each is a `nmt.models.attention.WeightsHook`: it gets the weights after the softmax,
(B, H, T, S), and the bool mask that made them (True = real key, broadcastable, or None when
nothing is masked) and returns the weights to use. Every (b, h, t) row is treated alike, so the
hooks work under teacher forcing and inside decoding steps. Set them with
`nmt.models.inspection.weights_hooks`.
"""

from __future__ import annotations

from collections.abc import Collection

import torch
from torch import Tensor

from nmt.models.attention import WeightsHook


def mask_heads(heads: Collection[int]) -> WeightsHook:
    """A hook that zeroes the weights of `heads` (0-based), so their output is zero (Michel et al. 2019)."""
    masked = sorted(set(heads))

    def hook(weights: Tensor, mask: Tensor | None) -> Tensor:
        if masked and masked[-1] >= weights.size(1):
            raise ValueError(f"head {masked[-1]} does not exist in attention with {weights.size(1)} heads")
        keep = torch.ones(weights.size(1), dtype=weights.dtype, device=weights.device)  # (H,)
        keep[masked] = 0.0
        return weights * keep[None, :, None, None]  # (B, H, T, S)

    return hook


def mask_heads_per_row(keep: Tensor) -> WeightsHook:
    """A hook that multiplies head h of batch row b by keep[b, h], keep (B, H): 1 keeps the head, 0 masks it.

    Masking is the same product as `mask_heads`, row by row; weights whose rows or heads do not
    match keep (beam search's grouped cross-attention, another batch) are refused.
    """

    def hook(weights: Tensor, mask: Tensor | None) -> Tensor:
        if weights.shape[:2] != keep.shape:
            raise ValueError(f"attention weights of {weights.size(0)} rows and {weights.size(1)} heads, but head "
                             f"masks for {keep.size(0)} rows and {keep.size(1)} heads")
        return weights * keep.to(weights.dtype)[:, :, None, None]  # (B, H, T, S)

    return hook


def real_keys(weights: Tensor, mask: Tensor | None) -> Tensor:
    """Bool (B, H, T, S): the keys each row may attend to (all of them when mask is None)."""
    if mask is None:
        return torch.ones_like(weights, dtype=torch.bool)
    return mask.expand_as(weights)


def uniform_weights(weights: Tensor, mask: Tensor | None) -> Tensor:
    """Every row spread evenly over its real keys; exactly 0 on masked keys, a fully masked row stays 0."""
    real = real_keys(weights, mask).to(weights.dtype)  # (B, H, T, S)
    return real / real.sum(dim=-1, keepdim=True).clamp_min(1.0)


def permuted_weights(generator: torch.Generator) -> WeightsHook:
    """A hook that shuffles each row's weights among its real keys, drawing the permutations from `generator`.

    The multiset of weights on real keys is kept, so a row still sums to 1; masked keys stay exactly 0.
    `generator` is a CPU generator; its state advances with every call.
    """

    def hook(weights: Tensor, mask: Tensor | None) -> Tensor:
        real = real_keys(weights, mask)  # (B, H, T, S)
        positions = torch.arange(weights.size(-1), device=weights.device).expand_as(weights)
        # Real keys first, in their order (masked keys sort after every real one).
        in_order = torch.where(real, positions, positions + weights.size(-1)).argsort(dim=-1)
        # Real keys first again, now in a random order.
        draws = torch.rand(weights.shape, generator=generator).to(weights.device)
        shuffled = torch.where(real, draws, draws + 2.0).argsort(dim=-1)
        permuted = torch.zeros_like(weights).scatter_(-1, in_order, weights.gather(-1, shuffled))
        return permuted * real.to(weights.dtype)

    return hook
