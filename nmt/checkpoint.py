"""Self-contained, atomically written, safe-to-load checkpoints.

One file holds everything needed to translate (model weights, the model's config
dict with its `_target_`, the corpus config, the SentencePiece models) and, for
checkpoints written during training, everything needed to resume exactly
(optimizer, schedule, step, epoch, position in the epoch, RNG states, early
stopping counters). The payload is plain Python containers and tensors only, so
it loads with `torch.load(weights_only=True)` and never runs pickled code.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import pickle
import re
import tempfile
import zipfile
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


def periodic_checkpoints(directory: str | Path) -> dict[int, Path]:
    """The periodic checkpoints nmt-train keeps in `directory`, by step: {N: directory/step-N.pt}."""
    return {int(match.group(1)): path for path in Path(directory).glob("step-*.pt")
            if (match := re.fullmatch(r"step-(\d+)\.pt", path.name))}


_REQUIRED = ("model_state", "model_config", "src_vocab_size", "tgt_vocab_size", "tokenizer_state")


def first_difference(value: Any, reference: Any, *, key: str) -> tuple[str, Any, Any] | None:
    """(dotted key, value, reference value) at the first place two nested configs differ; None when equal."""
    if isinstance(value, Mapping) and isinstance(reference, Mapping):
        for name in sorted(set(value) | set(reference), key=str):
            found = first_difference(value.get(name), reference.get(name), key=f"{key}.{name}")
            if found is not None:
                return found
        return None
    return None if _equal_values(value, reference) else (key, value, reference)


def _equal_values(value: Any, reference: Any) -> bool:
    if isinstance(value, Tensor) or isinstance(reference, Tensor):
        return isinstance(value, Tensor) and isinstance(reference, Tensor) and torch.equal(value, reference)
    return type(value) is type(reference) and value == reference


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
        os.fchmod(handle, 0o666 & ~_umask())  # mkstemp makes the file private; a checkpoint is an ordinary file
        with os.fdopen(handle, "wb") as file:
            # Field by field, not dataclasses.asdict: that would deep-copy every tensor first.
            torch.save({name: getattr(checkpoint, name) for name in Checkpoint.__dataclass_fields__}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        # Disk full, a read-only file system, a second SIGINT: the previous file stays, the temporary goes,
        # and the caller sees the original error, not one from the clean-up.
        with contextlib.suppress(OSError):
            Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint`, on the CPU, without unpickling code.

    Any other file is one `NMTError` naming it and saying what it is instead.
    """
    path = Path(path)
    _check_is_torch_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - on damaged bytes torch's unpickler raises whatever it trips over
        # weights_only refuses any global it does not know: a pickle that would call
        # os.system or build arbitrary objects stops here, before anything runs.
        refused = [line.strip() for line in str(error).splitlines() if "GLOBAL" in line]
        if isinstance(error, pickle.UnpicklingError) and refused:
            raise NMTError(
                f"checkpoint {path} was refused because it holds pickled code, not plain weights "
                f"({refused[0].rstrip('.')}); load only checkpoints written by nmt-train."
            ) from None
        # Otherwise the bytes of a torch archive (checked above) are damaged: RuntimeError from
        # the zip reader; KeyError, IndexError, struct.error ... from the unpickler.
        raise NMTError(f"checkpoint {path} is truncated or corrupt ({error_summary(error)}); {_USE_ANOTHER}") from None
    if not isinstance(payload, Mapping) or not any(key in payload for key in _REQUIRED):
        held = (f"a dict with keys {_first_keys(payload)}" if isinstance(payload, Mapping)
                else f"a {type(payload).__name__}")
        raise NMTError(f"checkpoint {path} is a torch file but not an nmt checkpoint (it holds {held}); "
                       "pass a .pt file written by nmt-train.")
    return _from_mapping(payload, source=str(path))


_USE_ANOTHER = "use another checkpoint of the run (last.pt, step-N.pt) or train again."
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save has written zip archives since torch 1.6
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"  # pickled 0x1950a86a20f9469cfc6c


def _check_is_torch_archive(path: Path) -> None:
    """Refuse, naming what it is, anything at `path` but a torch zip archive.

    torch.load reads other bytes with its legacy unpickler, which fails with whatever
    error it happens to hit (a text file: KeyError), so the kind is told from the bytes first.
    """
    if path.is_dir():
        found = sorted(child.name for child in path.glob("*.pt"))
        hint = f"one of its checkpoints: {', '.join(found[:4])}" if found else "a .pt file written by nmt-train"
        raise NMTError(f"checkpoint {path} is a directory; pass {hint}.")
    if not path.exists():
        raise NMTError(f"checkpoint {path} does not exist; pass the path of a .pt file written by nmt-train.")
    try:
        with path.open("rb") as file:
            head = file.read(256)
    except OSError as error:
        raise NMTError(f"checkpoint {path} cannot be read ({error_summary(error)}); check its permissions.") from None
    if not head.startswith(_ZIP_MAGIC):
        raise NMTError(f"checkpoint {path} {_describe(head)}; pass a .pt file written by nmt-train.")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:  # a cut or damaged central directory
        raise NMTError(f"checkpoint {path} is truncated or corrupt ({error_summary(error)}); {_USE_ANOTHER}") from None
    if not any(name.endswith("data.pkl") for name in names):
        raise NMTError(f"checkpoint {path} is a zip archive but not a torch file (it holds "
                       f"{', '.join(names[:4]) or 'nothing'}); pass a .pt file written by nmt-train.")


def _describe(head: bytes) -> str:
    """What a file that is not a zip archive is, from its first bytes."""
    if not head:
        return "is empty"
    if head.startswith(_LEGACY_TORCH_MAGIC):
        return "is a torch file in the legacy format of torch < 1.6, not an nmt checkpoint"
    try:
        start = codecs.getincrementaldecoder("utf-8")().decode(head)  # not final: a character cut at byte 256 is fine
    except UnicodeDecodeError:
        start = ""
    start = start.removeprefix("\ufeff")
    if start and all(char.isprintable() or char in "\t\n\r\f" for char in start):
        first_line = start.strip().split("\n")[0][:40]
        return "is a text file, not a checkpoint" + (f" (it starts {first_line!r})" if first_line else "")
    return f"is not a torch file (its first bytes are {head[:8].hex(' ')})"


def _first_keys(mapping: Mapping[Any, Any]) -> str:
    """Up to six keys of `mapping`, to say what a torch file from another tool holds."""
    if not mapping:
        return "none"
    return ", ".join(str(key) for key in list(mapping)[:6]) + (", ..." if len(mapping) > 6 else "")


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
    unknown = sorted(map(str, set(payload) - known))
    if unknown:
        raise NMTError(
            f"checkpoint {source} has unknown fields {', '.join(unknown)}; valid fields are {', '.join(sorted(known))}."
        )
    for key, expected in _FIELD_TYPES.items():
        if key in payload and not isinstance(payload[key], expected):
            wanted = "dict" if Mapping in expected else expected[0].__name__
            raise NMTError(f"checkpoint {source} is damaged or from another tool: its {key} is a "
                           f"{type(payload[key]).__name__}, not a {wanted}; pass a .pt file written by nmt-train.")
    return Checkpoint(**{key: payload[key] for key in payload})


# What each field holds, for the loader's check (a None training_state: a translate-only checkpoint).
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "model_state": (Mapping,), "model_config": (Mapping,), "src_vocab_size": (int,), "tgt_vocab_size": (int,),
    "tokenizer_state": (Mapping,), "data_config": (Mapping,), "tokenizer_config": (Mapping,),
    "training_state": (Mapping, type(None)), "metrics": (Mapping,),
}



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


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
