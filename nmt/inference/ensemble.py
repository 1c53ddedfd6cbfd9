"""Ensembles: several models behind the one `Seq2Seq` contract, so every search decodes them unchanged.

At each step the members' next-token distributions are averaged in probability space,
log((1/N) sum_i p_i) = logsumexp_i(log p_i) - log N, as fairseq's ensemble does. Members
may be of any family (RNN and Transformer together); they must share one target
vocabulary, which `load_ensemble` checks by requiring the same SentencePiece models.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from nmt.checkpoint import Checkpoint
from nmt.data.tokenizer import Tokenizer
from nmt.errors import NMTError
from nmt.inference.translation import load_for_translation
from nmt.models.seq2seq import DecoderState, Seq2Seq, log_softmax_fp32

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnsembleState:
    """One decoder state per member, in member order."""

    members: tuple[DecoderState, ...]

    def select(self, indices: Tensor, *, same_sources: bool = False) -> EnsembleState:
        """Rows `indices` (B',) of every member's state (see DecoderState)."""
        return EnsembleState(tuple(state.select(indices, same_sources=same_sources) for state in self.members))


class EnsembleModel(Seq2Seq):
    """Models sharing a target vocabulary, decoded as one: the mean of their next-token probabilities."""

    def __init__(self, members: Sequence[Seq2Seq]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one model")
        self.members = nn.ModuleList(members)

    def encode(self, src: Tensor, src_mask: Tensor) -> EnsembleState:
        """src (B, S), src_mask (B, S) -> every member's initial state."""
        return EnsembleState(tuple(member.encode(src, src_mask) for member in self.members))

    def decode_step(
        self, prev_tokens: Tensor, state: EnsembleState, *, need_weights: bool = True
    ) -> tuple[Tensor, EnsembleState, Tensor | None]:
        """prev_tokens (B,) -> mixed log-probabilities (B, V) as logits, next state, attn_weights (B, 1, 1, S) or None.

        The attention is each member's cross-attention averaged over its layers and heads,
        then over the members: one map whatever the members' shapes.
        """
        steps = [member.decode_step(prev_tokens, member_state, need_weights=need_weights)
                 for member, member_state in zip(self.members, state.members)]
        log_probs = mix_log_probs([log_softmax_fp32(logits) for logits, _, _ in steps])  # (B, V)
        next_state = EnsembleState(tuple(member_state for _, member_state, _ in steps))
        if not need_weights:
            return log_probs, next_state, None
        maps = torch.stack([weights.float().mean(dim=(1, 2)) for _, _, weights in steps])  # (N, B, S)
        return log_probs, next_state, maps.mean(dim=0)[:, None, None, :]                    # (B, 1, 1, S)

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: the mixed log-probabilities (B, T, V); normalised, they serve as logits."""
        return mix_log_probs([log_softmax_fp32(member(src, src_mask, tgt_in)) for member in self.members])

    @property
    def max_src_len(self) -> int | None:
        return _smallest(member.max_src_len for member in self.members)

    @property
    def max_tgt_len(self) -> int | None:
        return _smallest(member.max_tgt_len for member in self.members)


def mix_log_probs(log_probs: Sequence[Tensor]) -> Tensor:
    """N tensors of log-probabilities (..., V) -> log of their mean probability (..., V), float32."""
    stacked = torch.stack([values.float() for values in log_probs])                  # (N, ..., V)
    return torch.logsumexp(stacked, dim=0) - math.log(len(log_probs))


def _smallest(limits: Iterable[int | None]) -> int | None:
    """The tightest of the members' limits; None (unbounded) when no member has one."""
    bounded = [limit for limit in limits if limit is not None]
    return min(bounded) if bounded else None


def load_ensemble(paths: Sequence[str | Path], *, device: torch.device) -> tuple[Checkpoint, Seq2Seq, Tokenizer]:
    """`load_for_translation` for one or more checkpoints: the first one's checkpoint and tokenizer, and
    its model, or an `EnsembleModel` of every checkpoint's model when there are several."""
    if not paths:
        raise ValueError("load_ensemble needs at least one checkpoint path")
    checkpoint, model, tokenizer = load_for_translation(paths[0], device=device)
    if len(paths) == 1:
        return checkpoint, model, tokenizer
    members = [model]
    for path in paths[1:]:
        other, member, _ = load_for_translation(path, device=device)
        if other.tokenizer_state != checkpoint.tokenizer_state:
            raise NMTError(
                f"checkpoints {paths[0]} and {path} use different SentencePiece models, and an ensemble "
                "needs one shared vocabulary: ensemble only checkpoints trained with the same tokenizer."
            )
        members.append(member)
    log.info("ensemble of %d models: %s", len(members), ", ".join(str(path) for path in paths))
    return checkpoint, EnsembleModel(members), tokenizer
