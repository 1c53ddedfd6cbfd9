"""The training objective: cross-entropy with label smoothing over the real target tokens."""

from __future__ import annotations

import torch
from torch import Tensor

from nmt.tokens import PAD_ID


def label_smoothed_loss(logits: Tensor, target: Tensor, *, smoothing: float) -> tuple[Tensor, Tensor]:
    """Summed training objective and summed NLL over the real target tokens.

    logits (B, T, V) in any dtype; target (B, T) with PAD_ID where there is no token.
    Label smoothing (Szegedy et al. 2016, 7) spreads `smoothing` of the target mass
    uniformly over the V classes, as torch's cross_entropy does. The NLL (no smoothing)
    is what gets reported, so training and validation losses are comparable.
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)                    # (B, T, V)
    padding = target == PAD_ID                                                # (B, T)
    nll = -log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1)             # (B, T)
    nll = nll.masked_fill(padding, 0.0).sum()
    if smoothing == 0:
        return nll, nll
    uniform = -log_probs.mean(dim=-1).masked_fill(padding, 0.0).sum()
    return (1.0 - smoothing) * nll + smoothing * uniform, nll
