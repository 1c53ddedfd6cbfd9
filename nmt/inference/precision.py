"""The model a search runs in bf16: its weights cast to bfloat16 once, instead of at every operation.

Under `torch.autocast` every matmul casts its weight and its input to bf16 and every layer
norm casts back to float32: a Transformer's beam search on CPU spends a tenth of its time in
those copies. A search with precision bf16 therefore runs on a bf16 copy of the model
(weights, activations and the self-attention cache in bf16; every search still turns the
logits into float32 log-probabilities, `log_softmax_fp32`), made once and reused until the
model's parameters change: training's validation decodes a model an optimizer step has
changed, and gets a fresh copy.

A model with an attention `weights_hook` set (analysis records or edits weights through it)
is searched under autocast as before: a copy would not carry a hook set after it was made.
"""

from __future__ import annotations

import copy
import weakref
from contextlib import AbstractContextManager, nullcontext

import torch

from nmt.device import autocast
from nmt.models.seq2seq import Seq2Seq

_copies: weakref.WeakKeyDictionary[Seq2Seq, tuple[tuple[int, ...], Seq2Seq]] = weakref.WeakKeyDictionary()


def bf16_copy(model: Seq2Seq) -> Seq2Seq:
    """`model` with every floating-point parameter and buffer in bfloat16, in eval mode; cached while
    the model's parameters are unchanged (the same tensors, none modified in place since)."""
    key = _parameter_versions(model)
    cached = _copies.get(model)
    if cached is not None and cached[0] == key:
        return cached[1]
    converted = copy.deepcopy(model).to(torch.bfloat16).eval()
    converted.requires_grad_(False)
    _copies[model] = (key, converted)
    return converted


def search_model(model: Seq2Seq, precision: str) -> tuple[Seq2Seq, AbstractContextManager]:
    """The model to search with and the context to search in: `model` itself as it is for precision 32
    (and under autocast where a weights hook is set), else its bf16 copy, without autocast."""
    device = next(model.parameters()).device
    if precision != "bf16":
        return model, nullcontext()
    if _has_weights_hook(model):
        return model, autocast(device, precision)
    return bf16_copy(model), nullcontext()


def _parameter_versions(model: Seq2Seq) -> tuple[int, ...]:
    """Identity and in-place version counter of every parameter: any optimizer step or load changes it."""
    return tuple(value for parameter in model.parameters() for value in (id(parameter), parameter._version))


def _has_weights_hook(model: Seq2Seq) -> bool:
    return any(getattr(module, "weights_hook", None) is not None for module in model.modules())
