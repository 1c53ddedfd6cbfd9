"""Self-contained, atomically written, safe-to-load checkpoints.

One file holds everything needed to translate (model weights, the model's config
dict with its `_target_`, the corpus config, the SentencePiece models) and, for
checkpoints written during training, everything needed to resume exactly
(optimizer, schedule, step, epoch, position in the epoch, RNG states, early
stopping counters). The payload is plain Python containers and tensors only, so
it loads with `torch.load(weights_only=True)` and never runs pickled code.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nmt.errors import NMTError, error_summary

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """The contents of one checkpoint file.

    model_config is the plain dict of the Hydra `model` group (with `_target_`);
    data_config the plain dict of the `data` group; tokenizer_config the plain dict
    of the `tokenizer` group; tokenizer_state is `Tokenizer.to_state()`.
    training_state is None for a checkpoint that can only translate.
    metrics holds what was measured when it was written (step, epoch, val scores).
    """

    model_state: dict[str, Tensor]
    model_config: dict[str, Any]
    src_vocab_size: int
    tgt_vocab_size: int
    tokenizer_state: dict[str, Any]
    data_config: dict[str, Any] = field(default_factory=dict)
    tokenizer_config: dict[str, Any] = field(default_factory=dict)
    training_state: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def step(self) -> int | None:
        """The optimizer update count when this checkpoint was written, when known."""
        return self.metrics.get("step")


_REQUIRED = ("model_state", "model_config", "src_vocab_size", "tgt_vocab_size", "tokenizer_state")


def save_checkpoint(path: str | Path, payload: Checkpoint | Mapping[str, Any]) -> Path:
    """Write `payload` to `path` atomically: a kill at any moment leaves the old file or the new one.

    The bytes go to a temporary file in the same directory, which is flushed and
    fsynced, then renamed over `path` (atomic on POSIX), and the directory is fsynced
    so the rename itself survives a power loss.
    """
    path = Path(path)
    checkpoint = payload if isinstance(payload, Checkpoint) else _from_mapping(payload, source=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            # Field by field, not dataclasses.asdict: that would deep-copy every tensor first.
            torch.save({name: getattr(checkpoint, name) for name in Checkpoint.__dataclass_fields__}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint`, on the CPU, without unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise NMTError(f"checkpoint {path} does not exist; pass the path of a .pt file written by nmt-train.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only refuses any global it does not know: a pickle that would call
        # os.system or build arbitrary objects stops here, before anything runs.
        refused = [line.strip() for line in str(error).splitlines() if "GLOBAL" in line]
        if refused:
            raise NMTError(
                f"checkpoint {path} was refused because it holds pickled code, not plain weights "
                f"({refused[0].rstrip('.')}); load only checkpoints written by nmt-train."
            ) from None
        raise NMTError(
            f"checkpoint {path} is not a readable nmt checkpoint (not a torch file, or truncated); "
            "pass a .pt file written by nmt-train."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise NMTError(
            f"checkpoint {path} is not a readable nmt checkpoint ({error_summary(error)}); "
            "pass a .pt file written by nmt-train."
        ) from None
    if not isinstance(payload, Mapping):
        raise NMTError(f"checkpoint {path} holds a {type(payload).__name__}, not an nmt checkpoint; "
                       "pass a .pt file written by nmt-train.")
    return _from_mapping(payload, source=str(path))


def _from_mapping(payload: Mapping[str, Any], *, source: str) -> Checkpoint:
    missing = [key for key in _REQUIRED if key not in payload]
    if missing:
        raise NMTError(
            f"checkpoint {source} lacks {', '.join(missing)}; pass a .pt file written by nmt-train."
        )
    version = payload.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise NMTError(
            f"checkpoint {source} has format_version={version} but this nmt reads version {FORMAT_VERSION}; "
            "use the nmt version that wrote it."
        )
    known = set(Checkpoint.__dataclass_fields__)
    unknown = sorted(set(payload) - known)
    if unknown:
        raise NMTError(
            f"checkpoint {source} has unknown fields {', '.join(unknown)}; valid fields are {', '.join(sorted(known))}."
        )
    return Checkpoint(**{key: payload[key] for key in payload})



def _fsync_directory(directory: Path) -> None:
    """Persist a rename in `directory`; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
