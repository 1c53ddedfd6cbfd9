"""Reaching into a model's attention: name every attention module, and set weight hooks on them for a while.

Names:
- Transformer: `encoder.{i}.self`, `decoder.{i}.self`, `decoder.{i}.cross` (layer i from 0);
- RNN with attention: `cross` (its one attention, one head);
- RNN without attention: none.

A hook (`nmt.models.attention.WeightsHook`) gets the weights after the softmax, (B, H, T, S),
and the bool mask that made them (broadcastable, None when nothing is masked), and returns
the weights to use. Under teacher forcing (`model(src, src_mask, tgt_in)`) B is the batch
and T the target length; in a decoding step of the Transformer the beams of one sentence
may share a row (T = beams), so a hook should treat every (b, h, t) row alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import torch
from torch import Tensor, nn

from nmt.errors import NMTError
from nmt.models.attention import AdditiveAttention, MultiHeadAttention, MultiplicativeAttention, WeightsHook
from nmt.models.rnn import RNNSeq2Seq
from nmt.models.seq2seq import Seq2Seq
from nmt.models.transformer import Transformer

AttentionModule = AdditiveAttention | MultiplicativeAttention | MultiHeadAttention
ENCODER_PREFIX = "encoder."  # the names of the encoder's attention modules start with it


def attention_modules(model: Seq2Seq) -> dict[str, AttentionModule]:
    """Every attention module of `model` by name, in the order the computation meets them."""
    if isinstance(model, Transformer):
        modules: dict[str, AttentionModule] = {}
        for index, layer in enumerate(model.encoder_layers):
            modules[f"{ENCODER_PREFIX}{index}.self"] = layer.self_attn
        for index, layer in enumerate(model.decoder_layers):
            modules[f"decoder.{index}.self"] = layer.self_attn
            modules[f"decoder.{index}.cross"] = layer.cross_attn
        return modules
    if isinstance(model, RNNSeq2Seq):
        return {} if model.attention is None else {"cross": model.attention}
    raise NMTError(f"attention inspection supports the Transformer and RNN models, not {type(model).__name__}.")


def in_encoder(name: str) -> bool:
    """Whether the attention module `name` belongs to the encoder: it runs in `encode`, once per sentence."""
    return name.startswith(ENCODER_PREFIX)


def num_heads(module: nn.Module) -> int:
    """Heads of an attention module: its num_heads, 1 for the RNN attentions."""
    return module.num_heads if isinstance(module, MultiHeadAttention) else 1


@contextlib.contextmanager
def weights_hooks(model: Seq2Seq, hooks: Mapping[str, WeightsHook]) -> Iterator[None]:
    """Set `hooks` (name -> hook) on the named attention modules inside the block; removed on exit, even on error."""
    modules = attention_modules(model)
    unknown = sorted(set(hooks) - set(modules))
    if unknown:
        raise NMTError(f"no attention module named {', '.join(unknown)} in {type(model).__name__}; "
                       f"it has {', '.join(modules) or 'none'}.")
    previous = {name: modules[name].weights_hook for name in hooks}
    try:
        for name, hook in hooks.items():
            modules[name].weights_hook = hook
        yield
    finally:
        for name, hook in previous.items():
            modules[name].weights_hook = hook


@torch.no_grad()
def forced_attention(model: Seq2Seq, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Teacher forcing with every attention module's weights recorded.

    src (B, S), src_mask (B, S), tgt_in (B, T) -> logits (B, T, V) and name -> weights (B, H, rows, cols),
    float32 on the CPU: (B, H, S, S) for encoder self-attention, (B, H, T, T) for decoder
    self-attention, (B, H, T, S) for cross-attention (an RNN decoder attends once per step: its
    calls are joined along T). Padded rows and columns are kept; the caller trims them.
    """
    recorded: dict[str, list[Tensor]] = {}

    def recorder(name: str):
        def hook(weights: Tensor, mask: Tensor | None) -> Tensor:
            recorded.setdefault(name, []).append(weights.detach().float().cpu())
            return weights
        return hook

    with weights_hooks(model, {name: recorder(name) for name in attention_modules(model)}):
        logits = model(src, src_mask, tgt_in)
    return logits, {name: torch.cat(calls, dim=2) for name, calls in recorded.items()}


def real_positions(name: str, weights: Tensor, *, src_len: int, tgt_len: int) -> Tensor:
    """weights (H, rows, cols) of module `name` for one padded batch row -> its real rows and columns.

    src_len and tgt_len count EOS (source) and BOS + target pieces (decoder inputs).
    """
    rows = src_len if in_encoder(name) else tgt_len
    cols = tgt_len if name.startswith("decoder") and name.endswith(".self") else src_len
    return weights[:, :rows, :cols]
