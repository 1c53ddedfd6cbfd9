"""The study's experiments, in report order, and the runs they need."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nmt.errors import NMTError
from study import bahdanau, cost, luong, pronouns, vaswani
from study.budgets import Budget
from study.experiment import Experiment
from study.runs import Run, plan_runs

EXPERIMENTS: tuple[Experiment, ...] = (bahdanau.EXPERIMENT, luong.EXPERIMENT, vaswani.EXPERIMENT,
                                       pronouns.EXPERIMENT, cost.EXPERIMENT)
NAMES = tuple(experiment.name for experiment in EXPERIMENTS)


def select_experiments(names: Sequence[str] | None) -> tuple[Experiment, ...]:
    """The experiments named (all of them for None), in report order."""
    if not names:
        return EXPERIMENTS
    unknown = [name for name in names if name not in NAMES]
    if unknown:
        raise NMTError(f"--experiments {unknown[0]} is not an experiment; choose among {', '.join(NAMES)}")
    return tuple(experiment for experiment in EXPERIMENTS if experiment.name in names)


def plan(experiments: Sequence[Experiment], *, budget: Budget, seeds: Sequence[int], runs_dir: Path) -> list[Run]:
    """Every run the experiments need, each (configuration, seed) once."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise NMTError(f"--seeds {' '.join(map(str, seeds))} must name at least one seed, each once")
    needs = [(variant, experiment.splits) for experiment in experiments for variant in experiment.variants]
    return plan_runs(needs, budget=budget, seeds=seeds, runs_dir=runs_dir)
