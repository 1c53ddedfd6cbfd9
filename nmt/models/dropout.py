"""Dropout whose CPU mask costs a third of torch's: 16-bit random integers, a boolean mask kept for backward.

On a CPU, `F.dropout` draws one 32-bit random number per element (`bernoulli_`) and keeps
a float mask; on 2 cores that made dropout ~10% of a Transformer training step. Here one
64-bit draw of torch's generator gives four elements their 16-bit uniform integers, so the
drop probability is p rounded to a multiple of 1/65536 (0.1 -> 0.099998). Seeding and
`torch.get_rng_state` govern it as they govern `F.dropout`, so runs stay reproducible and
resumable. On other devices and under `torch.compile`, whose kernels are fused and fast,
it is `F.dropout`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_LEVELS = 1 << 16  # 16-bit uniform integers in [-32768, 32767]


def keep_mask(shape: torch.Size, p: float) -> Tensor:
    """Boolean mask of `shape`, each element False (dropped) with probability round(p * 65536) / 65536."""
    count = shape.numel()
    words = torch.empty((count + 3) // 4, dtype=torch.int64).random_(-(1 << 63), None)
    uniform = words.view(torch.int16)[:count].view(shape)
    return uniform >= round(p * _LEVELS) - _LEVELS // 2


class _CpuDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, p: float) -> Tensor:
        keep = keep_mask(x.shape, p)
        ctx.save_for_backward(keep)
        ctx.scale = 1.0 / (1.0 - p)
        return x.mul(keep).mul_(ctx.scale)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (keep,) = ctx.saved_tensors
        return grad.mul(keep).mul_(ctx.scale), None


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1 / (1 - p)."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or torch.compiler.is_compiling():
        return F.dropout(x, p, training=True)
    return _CpuDropout.apply(x, p)


class Dropout(nn.Module):
    """`nn.Dropout` with the CPU mask above."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
