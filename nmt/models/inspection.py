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

from torch import nn

from nmt.errors import NMTError
from nmt.models.attention import AdditiveAttention, MultiHeadAttention, MultiplicativeAttention, WeightsHook
from nmt.models.rnn import RNNSeq2Seq
from nmt.models.seq2seq import Seq2Seq
from nmt.models.transformer import Transformer

AttentionModule = AdditiveAttention | MultiplicativeAttention | MultiHeadAttention


def attention_modules(model: Seq2Seq) -> dict[str, AttentionModule]:
    """Every attention module of `model` by name, in the order the computation meets them."""
    if isinstance(model, Transformer):
        modules: dict[str, AttentionModule] = {}
        for index, layer in enumerate(model.encoder_layers):
            modules[f"encoder.{index}.self"] = layer.self_attn
        for index, layer in enumerate(model.decoder_layers):
            modules[f"decoder.{index}.self"] = layer.self_attn
            modules[f"decoder.{index}.cross"] = layer.cross_attn
        return modules
    if isinstance(model, RNNSeq2Seq):
        return {} if model.attention is None else {"cross": model.attention}
    raise NMTError(f"attention inspection supports the Transformer and RNN models, not {type(model).__name__}.")


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
