"""The model families behind one interface (`Seq2Seq`), `build_model` to make one from a config and
`restore_model` to rebuild one from a checkpoint."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch

from nmt.checkpoint import Checkpoint
from nmt.errors import NMTError, error_summary
from nmt.models.rnn import RNNSeq2Seq
from nmt.models.seq2seq import DecoderState, Seq2Seq
from nmt.models.transformer import Transformer

__all__ = ["DecoderState", "MODEL_CLASSES", "RNNSeq2Seq", "Seq2Seq", "Transformer", "build_model", "restore_model"]

# A fixed table: a checkpoint's model config can only name one of these, never import arbitrary code.
MODEL_CLASSES: dict[str, type[Seq2Seq]] = {
    "nmt.models.rnn.RNNSeq2Seq": RNNSeq2Seq,
    "nmt.models.transformer.Transformer": Transformer,
}

_BUILD_TIME_KEYS = ("src_vocab_size", "tgt_vocab_size")


def build_model(model_config: Mapping[str, Any], *, src_vocab_size: int, tgt_vocab_size: int) -> Seq2Seq:
    """Make the model a Hydra `model` group describes (a plain dict with `_target_`).

    The vocabulary sizes come from the tokenizer at run time and are never part of the config.
    A misspelt, missing or extra key is one NMTError that lists the valid keys.
    """
    config = dict(model_config)
    target = config.pop("_target_", None)
    model_class = MODEL_CLASSES.get(str(target))
    if model_class is None:
        raise NMTError(f"model._target_={target!r} is not a model of this toolkit: use one of "
                       f"{', '.join(MODEL_CLASSES)}.")
    parameters = inspect.signature(model_class).parameters
    valid = [name for name in parameters if name not in _BUILD_TIME_KEYS]
    for key in config:
        if key in _BUILD_TIME_KEYS:
            raise NMTError(f"model.{key} is set from the tokenizer at run time: remove it from the model config.")
        if key not in parameters:
            raise NMTError(f"model.{key} is not an option of {model_class.__name__}: valid keys are "
                           f"{', '.join(valid)}.")
    missing = [name for name in valid if name not in config and parameters[name].default is inspect.Parameter.empty]
    if missing:
        raise NMTError(f"The model config for {model_class.__name__} lacks {', '.join(missing)}: "
                       f"add {'it' if len(missing) == 1 else 'them'} (see configs/model/).")
    return model_class(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, **config)


def restore_model(checkpoint: Checkpoint, *, device: str | torch.device = "cpu") -> Seq2Seq:
    """Rebuild the model from the checkpoint's own config (never the current configs/) and load its weights.

    Returned in eval mode on `device`.
    """
    model = build_model(
        checkpoint.model_config,
        src_vocab_size=checkpoint.src_vocab_size,
        tgt_vocab_size=checkpoint.tgt_vocab_size,
    )
    try:
        model.load_state_dict(checkpoint.model_state)
    except RuntimeError as error:
        # The first line only says "Error(s) in loading state_dict"; the next names the tensor and the shapes.
        details = [line.strip().rstrip(".") for line in str(error).splitlines()[1:] if line.strip()]
        raise NMTError(
            f"its weights do not fit the model its config describes "
            f"({details[0][:300] if details else error_summary(error)}); the file is damaged or was written "
            "by an incompatible version of nmt."
        ) from None
    return model.to(device).eval()
