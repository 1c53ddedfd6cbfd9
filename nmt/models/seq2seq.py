"""The one contract every model offers; decoding, evaluation and plotting use only this.

Shapes: B batch, S source length, T target length, V target vocabulary,
L layers, H heads. Masks are bool with True = real token.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Protocol

import torch
from torch import Tensor, nn


class DecoderState(Protocol):
    """Everything a model needs to produce the next target position for a batch.

    A state is a value: `decode_step` returns a new one and never mutates its input.
    """

    def select(self, indices: Tensor, *, same_sources: bool = False) -> DecoderState:
        """Rows `indices` (B',) of the batch, in that order (beam search reorders and expands with it).

        same_sources=True promises that row i of the result decodes the same source sentence
        as row i of this state (beams reordered within their sentences, none dropped): the
        source-side tensors then stay as they are instead of being copied row by row.
        """
        ...


class Seq2Seq(nn.Module, ABC):
    """Base class of every encoder-decoder: RNN with any attention, and the Transformer."""

    matmul_shapes_repeat: ClassVar[bool] = True
    """Whether training batches of one width give the model's matmuls shapes that recur from batch to batch; an RNN
    over packed sequences runs each time step over the sentences still that long, in ever new row counts. In bf16
    on a CPU each shape is a oneDNN kernel kept in a cache (`nmt.device.bound_onednn_primitive_cache`)."""

    @abstractmethod
    def encode(self, src: Tensor, src_mask: Tensor) -> DecoderState:
        """src (B, S) token ids, src_mask (B, S) -> the state before the first target position."""

    @abstractmethod
    def decode_step(
        self, prev_tokens: Tensor, state: DecoderState, *, need_weights: bool = True
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """prev_tokens (B,) -> logits (B, V), the next state, attn_weights (B, L, H, S) or None.

        logits are the next position's scores in the model's compute dtype (bfloat16 for a bf16
        copy), as `forward` gives them: log_softmax of a row is the next-token distribution. The
        searches normalise them in float32 (`log_softmax_fp32`; greedy and beam search a slice of rows at a time).
        attn_weights are the decoder's weights over source positions for this step:
        one layer and one head for the RNN models (L = H = 1), every cross-attention
        layer and head for the Transformer. Exactly 0 on padded source positions.
        need_weights=False returns None instead, so a model need not gather and stack
        them for every step (greedy and beam search ask only when attention is returned).
        """

    @abstractmethod
    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: src (B, S), src_mask (B, S), tgt_in (B, T) = BOS + y -> logits (B, T, V).

        Equal (up to float rounding) to stepping `decode_step` over tgt_in.
        """

    @property
    def max_src_len(self) -> int | None:
        """The longest source the model accepts (learned positions), or None when unbounded."""
        return None

    @property
    def max_tgt_len(self) -> int | None:
        """The most decoder input positions (BOS included) the model accepts, or None when unbounded."""
        return None

    def num_parameters(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters())


def log_softmax_fp32(logits: Tensor) -> Tensor:
    """log-softmax in float32 whatever the autocast dtype, so beam scores add up exactly; a new tensor."""
    return torch.log_softmax(logits, dim=-1, dtype=torch.float32)
