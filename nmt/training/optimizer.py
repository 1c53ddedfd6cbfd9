"""The optimizer every training run uses: AdamW (Loshchilov & Hutter 2019)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

FUSED_DEVICE_TYPES = ("cpu", "cuda")
"""Devices with torch's fused AdamW kernel: one pass over each parameter instead of a dozen
elementwise ones (8% of a Transformer update in float32 on a 2-core Xeon, 6% in bfloat16)."""


def adamw(
    parameters: Iterable[nn.Parameter], *, lr: float, betas: tuple[float, float], eps: float, weight_decay: float,
    device: torch.device,
) -> torch.optim.AdamW:
    """AdamW over `parameters` on `device`, fused where the device has the kernel.

    A checkpoint's optimizer state keeps the choice it was written with, so a run resumes
    with the same arithmetic it started with.
    """
    return torch.optim.AdamW(parameters, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                             fused=device.type in FUSED_DEVICE_TYPES or None)
