"""What a checkpoint must match to continue a run from it: training state, configs, number of processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nmt.checkpoint import Checkpoint, first_difference
from nmt.errors import NMTError
from nmt.training.inputs import RunInputs


def training_state_to_resume(checkpoint: Checkpoint, *, path: Path, inputs: RunInputs,
                             world_size: int) -> dict[str, Any]:
    """The checkpoint's training state, or the NMTError saying why this run cannot continue from it."""
    state = checkpoint.training_state
    if state is None:
        raise NMTError(f"trainer.resume={path} holds no training state (best.pt keeps weights only); "
                       "resume from last.pt or a step-N.pt checkpoint.")
    saved_world_size = state.get("world_size", 1)
    if saved_world_size != world_size:
        raise NMTError(
            f"trainer.resume={path} was written by a run on {saved_world_size} process(es) but this run has "
            f"{world_size}; resume with the same number of processes (torchrun --nproc_per_node), "
            "since the batch plan's shares and the random states are per process.")
    for name, saved, current in (("model", checkpoint.model_config, inputs.model_config),
                                 ("data", checkpoint.data_config, inputs.data_config),
                                 ("tokenizer", checkpoint.tokenizer_config, inputs.tokenizer_config)):
        _require_same_config(name, saved, current, path=path)
    return state


def _require_same_config(name: str, saved: dict[str, Any], current: dict[str, Any], *, path: Path) -> None:
    if saved == current:
        return
    key, value, saved_value = first_difference(current, saved, key=name)  # names the nested key
    raise NMTError(
        f"trainer.resume={path} was trained with {key}={saved_value!r} but this run has "
        f"{key}={value!r}; resume with the same {name} settings or start a new run."
    )
