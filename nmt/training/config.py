"""The trainer's settings and the process-wide set-up they imply (seeds, threads, device, RNG states).

`TrainerConfig(**cfg.trainer)` is built once in the entry point; nothing below it
sees a DictConfig. Defaults live in configs/trainer/default.yaml, not here.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from nmt.data.validation import check_at_least, check_fields, from_mapping
from nmt.device import Device, Precision, bound_onednn_primitive_cache, builds_kernels_per_shape, configure_cpu
from nmt.errors import NMTError

ScheduleChoice = Literal["auto", "inverse_sqrt", "plateau", "constant"]
Metric = Literal["bleu", "chrf", "loss"]


@dataclass(frozen=True, kw_only=True)
class TrainerConfig:
    """Every key of the Hydra `trainer` group; see configs/trainer/default.yaml for units."""

    seed: int
    device: Device
    precision: Precision
    threads: int
    compile: bool
    deterministic: bool
    batch_tokens: int
    accumulate: int
    lr: float
    lr_schedule: ScheduleChoice
    warmup_steps: int
    plateau_factor: float
    plateau_patience: int
    min_lr: float
    adam_betas: tuple[float, float]
    adam_eps: float
    weight_decay: float
    label_smoothing: float
    clip_grad_norm: float
    max_epochs: int
    max_steps: int
    max_time: str | int | None
    validate_every: int
    val_max_sentences: int
    val_batch_tokens: int
    val_max_len_a: float
    val_max_len_b: int
    metric: Metric
    patience: int
    log_every: int
    checkpoint_every: int
    keep_checkpoints: int
    average_last: int
    resume: bool | str
    tensorboard: bool
    distributed_timeout: float

    def __post_init__(self) -> None:
        check_fields(self, prefix="trainer")
        check_at_least(self, 1, "batch_tokens", "accumulate", "log_every", "val_batch_tokens", prefix="trainer")
        check_at_least(self, 0, "max_epochs", "max_steps", "validate_every", "checkpoint_every", "keep_checkpoints",
                       "average_last", "patience", "warmup_steps", "plateau_patience", "threads", "val_max_sentences",
                       "min_lr", "weight_decay", "clip_grad_norm", "val_max_len_a", "val_max_len_b", prefix="trainer")
        if not self.distributed_timeout > 0:
            raise NMTError(f"trainer.distributed_timeout={self.distributed_timeout} must be a positive number of "
                           "seconds, e.g. 1800.")
        if self.average_last > self.keep_checkpoints:
            raise NMTError(f"trainer.average_last={self.average_last} averages more checkpoints than the "
                           f"trainer.keep_checkpoints={self.keep_checkpoints} a run keeps; raise keep_checkpoints "
                           f"to {self.average_last} or lower average_last.")
        if not self.lr > 0:
            raise NMTError(f"trainer.lr={self.lr} must be a positive number.")
        if not self.adam_eps > 0:
            raise NMTError(f"trainer.adam_eps={self.adam_eps} must be a positive number, e.g. 1e-9.")
        if not all(0 <= beta < 1 for beta in self.adam_betas):
            raise NMTError(f"trainer.adam_betas={list(self.adam_betas)} must both be in [0, 1), e.g. [0.9, 0.98].")
        if not 0 <= self.label_smoothing < 1:
            raise NMTError(f"trainer.label_smoothing={self.label_smoothing} must be in [0, 1).")
        if not 0 < self.plateau_factor < 1:
            raise NMTError(f"trainer.plateau_factor={self.plateau_factor} must be in (0, 1).")
        max_time = self.max_time_seconds  # checks the format
        if self.max_epochs == 0 and self.max_steps == 0 and max_time is None and self.patience == 0:
            raise NMTError(
                "trainer.max_epochs, trainer.max_steps, trainer.max_time and trainer.patience are all unset, "
                "so training would never stop; set at least one of them."
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainerConfig:
        """Build from the plain dict of cfg.trainer; a misspelt or missing key is one clear error."""
        return from_mapping(cls, values, prefix="trainer")

    @property
    def max_time_seconds(self) -> float | None:
        """trainer.max_time as seconds: "HH:MM:SS" (hours may pass 24), or a plain number of seconds."""
        return parse_duration(self.max_time)


def parse_duration(value: str | float | None) -> float | None:
    """ "01:30:00" -> 5400.0; 90 -> 90.0; None -> None."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 01:30:00 as the base-60 integer 5400: already seconds.
        seconds = float(value)
    else:
        match = re.fullmatch(r"(\d+):([0-5]?\d):([0-5]?\d)", str(value).strip())
        if match is None:
            raise NMTError(f"trainer.max_time={value!r} is not a duration; write it as HH:MM:SS, e.g. 00:20:00.")
        hours, minutes, secs = (int(group) for group in match.groups())
        seconds = float(hours * 3600 + minutes * 60 + secs)
    if seconds <= 0:
        raise NMTError(f"trainer.max_time={value!r} must be a positive duration such as 00:20:00.")
    return seconds


def configure_torch(config: TrainerConfig, device: torch.device, *, shapes_repeat: bool = True) -> None:
    """Threads, determinism and seeds, before the model is built so initial weights follow the seed.

    shapes_repeat: the model's `matmul_shapes_repeat`, which sizes oneDNN's cache of bf16 kernels on a CPU."""
    configure_cpu(config.threads, key="trainer.threads")
    if builds_kernels_per_shape(device, bf16=config.precision == "bf16"):
        bound_onednn_primitive_cache(shapes_repeat=shapes_repeat)
    # The CPU eager path is bit-identical at a fixed thread count without the flag (the resume tests
    # check it); there it would only import the compiler (2 s at every start) and fill each new
    # tensor with NaN before use.
    if config.deterministic and (device.type != "cpu" or config.compile):
        if device.type == "cuda":
            # cuBLAS needs a fixed workspace to be deterministic; it is read when CUDA starts.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False
        # warn_only: an op without a deterministic kernel warns instead of stopping a long run.
        torch.use_deterministic_algorithms(True, warn_only=True)
    seed_everything(config.seed)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict[str, Any]:
    """The state of every random generator training touches, as plain containers and tensors."""
    _, keys, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_as_tuples(state["python"]))
    numpy_state = state["numpy"]
    np.random.set_state(("MT19937", numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                         numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(value: Any) -> Any:
    """random.setstate wants tuples all the way down."""
    return tuple(_as_tuples(item) for item in value) if isinstance(value, (list, tuple)) else value
