"""What training changes as it goes: the learning-rate schedule and early stopping.

Both are small state machines whose whole state is plain numbers, so a checkpoint
restores them exactly (a resumed run gets the same learning rate at the same
update and the same patience counter, the two things peers most often lose).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

Schedule = Literal["inverse_sqrt", "plateau", "constant"]
Mode = Literal["max", "min"]


def is_improvement(value: float, best: float | None, *, mode: Mode) -> bool:
    """True when `value` beats `best` (strictly); anything beats no best yet."""
    if best is None:
        return True
    return value > best if mode == "max" else value < best


@dataclass
class LearningRateSchedule:
    """Learning rate for each optimizer update, with an optional linear warm-up.

    - inverse_sqrt: linear warm-up to `peak_lr`, then `peak_lr * sqrt(warmup_steps / step)`
      (Vaswani et al. 2017, 5.3, "Noam", with the d_model^-0.5 factor folded into `peak_lr`
      so the number in the config is the largest rate actually used).
    - plateau: warm-up, then constant, multiplied by `plateau_factor` each time the
      validation metric has not improved for `plateau_patience` validations in a row
      (the usual recipe for attentional RNNs, e.g. Luong et al. 2015 halve the rate), never below `min_lr`.
    - constant: warm-up, then `peak_lr`.
    """

    kind: Schedule
    peak_lr: float
    warmup_steps: int
    mode: Mode
    plateau_factor: float
    plateau_patience: int
    min_lr: float
    scale: float = 1.0  # product of the plateau reductions so far
    best: float | None = None
    bad_validations: int = 0

    def lr(self, step: int) -> float:
        """The rate for update number `step` (1-based)."""
        step = max(step, 1)
        if step <= self.warmup_steps:
            return self.peak_lr * step / self.warmup_steps
        if self.kind == "inverse_sqrt":
            return self.peak_lr * math.sqrt(max(self.warmup_steps, 1) / step)
        return self.peak_lr * self.scale

    def observe(self, value: float) -> bool:
        """Record a validation result; True when the plateau schedule just lowered the rate."""
        if self.kind != "plateau":
            return False
        if is_improvement(value, self.best, mode=self.mode):
            self.best, self.bad_validations = value, 0
            return False
        self.bad_validations += 1
        if self.bad_validations < self.plateau_patience or self.peak_lr * self.scale <= self.min_lr:
            return False
        self.scale = max(self.scale * self.plateau_factor, self.min_lr / self.peak_lr)
        self.bad_validations = 0
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "best": self.best, "bad_validations": self.bad_validations}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.best, self.bad_validations = state["scale"], state["best"], state["bad_validations"]


@dataclass
class EarlyStopping:
    """Stop when the validation metric has not improved for `patience` validations (0 = never stop).

    Also remembers the best value and its step: the same test decides when best.pt is written.
    """

    mode: Mode
    patience: int
    best: float | None = None
    best_step: int | None = None
    bad_validations: int = 0

    def observe(self, value: float, *, step: int) -> bool:
        """Record a validation result; True when it is the best so far."""
        if is_improvement(value, self.best, mode=self.mode):
            self.best, self.best_step, self.bad_validations = value, step, 0
            return True
        self.bad_validations += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_validations >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_step, self.bad_validations = state["best"], state["best_step"], state["bad_validations"]


def resolve_schedule(choice: str, model_config: dict[str, Any]) -> str:
    """`auto`: inverse-sqrt warm-up for the Transformer, reduce-on-plateau for the RNNs."""
    if choice != "auto":
        return choice
    return "inverse_sqrt" if str(model_config.get("_target_", "")).endswith("Transformer") else "plateau"


def warmup_outlasts_budget(*, warmup_steps: int, updates_per_epoch: int, max_epochs: int, max_steps: int) -> str | None:
    """A sentence naming the numbers when the run's update budget ends before its warm-up does; None otherwise.

    The budget is the smaller of max_epochs x updates_per_epoch and max_steps (0 = no limit); a run
    bounded only by max_time or early stopping has no budget known in advance, so it is never warned.
    """
    budgets = []
    if max_epochs:
        budgets.append((max_epochs * updates_per_epoch,
                        f"trainer.max_epochs={max_epochs} x {updates_per_epoch} updates per epoch"))
    if max_steps:
        budgets.append((max_steps, f"trainer.max_steps={max_steps}"))
    if not warmup_steps or not budgets:
        return None
    updates, limit = min(budgets)
    if updates >= warmup_steps:
        return None
    return (f"the run stops after {updates:,} updates ({limit}) but trainer.warmup_steps={warmup_steps}: the learning "
            f"rate never gets past {updates / warmup_steps:.0%} of trainer.lr; lower trainer.warmup_steps or raise "
            "that limit")
