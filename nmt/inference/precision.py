"""The model a search runs in bf16: its weights cast to bfloat16 once, instead of at every operation.

Under `torch.autocast` every matmul casts its weight and its input to bf16 and every layer
norm casts back to float32: a Transformer's beam search on CPU spends a tenth of its time in
those copies. A search with precision bf16 therefore runs on a bf16 copy of the model
(weights, activations and the self-attention cache in bf16; every search still turns the
logits into float32 log-probabilities, `log_softmax_fp32`), made once and reused while the
model's parameters and buffers are the same tensors, unchanged: one that is replaced, given
new `.data`, or modified in place through autograd's view of it (an optimizer step, a
`load_state_dict`) gets a fresh copy at the next search. A change made through `.data` in
place (`p.data.mul_(2)`) bypasses the version counter this relies on and is not seen.

A model with an attention `weights_hook` set (analysis records or edits weights through it)
is searched under autocast as before: a copy would not carry a hook set after it was made.
"""

from __future__ import annotations

import copy
import itertools
import weakref
from contextlib import AbstractContextManager, nullcontext

import torch
from torch import Tensor, nn

from nmt.device import autocast
from nmt.models.seq2seq import Seq2Seq

Fingerprint = list[tuple["weakref.ref[Tensor]", int, int | None]]  # (tensor, storage address, version) per tensor

_copies: weakref.WeakKeyDictionary[Seq2Seq, tuple[Fingerprint, Seq2Seq]] = weakref.WeakKeyDictionary()


def bf16_copy(model: Seq2Seq) -> Seq2Seq:
    """`model` with every floating-point parameter and buffer in bfloat16, in eval mode, without gradients;
    cached while the model's tensors are unchanged (see the module docstring)."""
    cached = _copies.get(model)
    if cached is not None and _unchanged(model, cached[0]):
        return cached[1]
    converted = _cast_copy(model, torch.bfloat16)
    _copies[model] = (_fingerprint(model), converted)
    return converted


def search_model(model: Seq2Seq, precision: str) -> tuple[Seq2Seq, AbstractContextManager]:
    """The model to search with and the context to search in: `model` itself as it is for precision 32
    (and under autocast where a weights hook is set), else its bf16 copy, without autocast."""
    if precision != "bf16":
        return model, nullcontext()
    if _has_weights_hook(model):
        return model, autocast(next(model.parameters()).device, precision)
    return bf16_copy(model), nullcontext()


def _cast_copy(model: Seq2Seq, dtype: torch.dtype) -> Seq2Seq:
    """A deep copy whose floating-point tensors are created in `dtype` directly (no full-precision clone first);
    tied parameters stay one tensor."""
    memo: dict[int, object] = {}
    for parameter in model.parameters():
        if parameter.is_floating_point():
            memo[id(parameter)] = nn.Parameter(parameter.detach().to(dtype, copy=True), requires_grad=False)
    for buffer in model.buffers():
        if buffer.is_floating_point():
            memo[id(buffer)] = buffer.detach().to(dtype, copy=True)
    converted = copy.deepcopy(model, memo)
    converted.requires_grad_(False)
    return converted.eval()


def _tensors(model: Seq2Seq) -> itertools.chain[Tensor]:
    return itertools.chain(model.parameters(), model.buffers())


def _fingerprint(model: Seq2Seq) -> Fingerprint:
    return [(weakref.ref(tensor), tensor.data_ptr(), _version(tensor)) for tensor in _tensors(model)]


def _unchanged(model: Seq2Seq, fingerprint: Fingerprint) -> bool:
    tensors = list(_tensors(model))
    return len(tensors) == len(fingerprint) and all(
        ref() is tensor and tensor.data_ptr() == address and _version(tensor) == version
        for tensor, (ref, address, version) in zip(tensors, fingerprint))


def _version(tensor: Tensor) -> int | None:
    """Autograd's in-place modification counter; None for a tensor made under inference_mode, which has none."""
    return None if tensor.is_inference() else tensor._version


def _has_weights_hook(model: Seq2Seq) -> bool:
    return any(getattr(module, "weights_hook", None) is not None for module in model.modules())
