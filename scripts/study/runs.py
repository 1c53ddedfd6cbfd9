"""The runs of the study: one directory per (configuration, seed), what state it is in, and the commands that finish it.

Each run gets its own explicit `hydra.run.dir` (no Hydra multirun), `<runs dir>/<budget>/<variant>-seed<N>`, so a
run is found again by its name and resumed in place. Its state is read from what the commands write:

- new: no `checkpoints/last.pt` (never started, or killed before its first checkpoint): train from scratch;
- interrupted: `last.pt` but no `learning_curves.png`, which nmt-train draws only after a run that a stopping
  rule ended (a signal, a crash or a kill leaves none): train again with `trainer.resume=true`;
- trained: training finished, some `checkpoints/best.<corpus>.<split>.beam<K>.scores.json` of nmt-evaluate
  missing: evaluate those splits;
- done: every scores.json there: reused as it is.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nmt.errors import NMTError
from nmt.metrics import evaluation_files
from study.budgets import BEAM_SIZE, LENGTH_EDGES, Budget, quoted_path

State = Literal["new", "interrupted", "trained", "done"]
CURVES = "learning_curves.png"  # written by nmt-train after a finished run only


@dataclass(frozen=True)
class Variant:
    """One configuration of an experiment: a model preset and its model.* overrides."""

    name: str  # run-directory stem, one per configuration: "rnn_luong-dot-feed"
    description: str  # what it is, for report rows: "Luong dot score, input feeding"
    preset: str  # rnn_plain | rnn_bahdanau | rnn_luong | transformer
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Run:
    """One training run and the splits it is scored on."""

    variant: Variant
    seed: int
    directory: Path
    overrides: tuple[str, ...]  # nmt-train overrides, without the seed, threads, paths and resume
    splits: tuple[str, ...]  # evaluation splits (nmt-evaluate split=...)
    corpus: str

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def checkpoint(self) -> Path:
        return self.directory / "checkpoints" / "best.pt"

    def scores_path(self, split: str) -> Path:
        """Where nmt-evaluate writes the scores of `split` (beside the checkpoint)."""
        return evaluation_files(self.checkpoint.parent, [self.checkpoint.stem], self.corpus, split,
                                f"beam{BEAM_SIZE}").scores


def plan_runs(needs: Iterable[tuple[Variant, Sequence[str]]], *, budget: Budget, seeds: Sequence[int],
              runs_dir: Path) -> list[Run]:
    """One run per (variant, seed), in order of first appearance; a variant needed by several experiments
    is trained once and scored on the union of their splits (those the budget's corpus has)."""
    splits: dict[str, list[str]] = {}
    variants: dict[str, Variant] = {}
    for variant, wanted in needs:
        known = variants.setdefault(variant.name, variant)
        if (known.preset, known.overrides) != (variant.preset, variant.overrides):
            raise NMTError(f"two configurations are both named {variant.name}: {known} and {variant}")
        splits.setdefault(variant.name, [])
        splits[variant.name] += [split for split in wanted if split in budget.splits and split not in splits[variant.name]]
    return [Run(variant=variant, seed=seed, directory=runs_dir / budget.name / f"{variant.name}-seed{seed}",
                overrides=budget.train_overrides(variant.preset, variant.overrides),
                splits=tuple(splits[variant.name]), corpus=budget.corpus)
            for variant in variants.values() for seed in seeds]


def run_state(run: Run) -> State:
    """What the run directory holds (see the module docstring)."""
    if not (run.directory / "checkpoints" / "last.pt").is_file():
        return "new"
    if not ((run.directory / CURVES).is_file() and run.checkpoint.is_file()):
        return "interrupted"
    if any(not run.scores_path(split).is_file() for split in run.splits):
        return "trained"
    return "done"


def check_runs_dir(runs_dir: Path) -> Path:
    """The runs directory as an absolute path that Hydra overrides can carry."""
    quoted_path(runs_dir, option="--runs-dir")
    return runs_dir.expanduser().resolve()


def _quoted(path: Path) -> str:
    return quoted_path(path, option="a path")


def train_command(run: Run, *, resume: bool, threads: int, data_dir: Path) -> list[str]:
    """`nmt-train` of the run, in this Python; `resume` continues from its last.pt."""
    return [sys.executable, "-m", "nmt.cli.train", *run.overrides, f"trainer.seed={run.seed}",
            f"trainer.threads={threads}", f"paths.data_dir={_quoted(data_dir)}",
            f"hydra.run.dir={_quoted(run.directory)}", *(["trainer.resume=true"] if resume else [])]


def evaluate_command(run: Run, split: str, *, threads: int, data_dir: Path) -> list[str]:
    """`nmt-evaluate` of the run's best.pt on `split`: beam BEAM_SIZE, BLEU by source length with LENGTH_EDGES."""
    edges = ",".join(str(edge) for edge in LENGTH_EDGES)
    return [sys.executable, "-m", "nmt.cli.evaluate", f"ckpt={_quoted(run.checkpoint)}", f"split={split}",
            f"beam_size={BEAM_SIZE}", f"length_buckets=[{edges}]", f"threads={threads}",
            f"paths.data_dir={_quoted(data_dir)}"]


def prepare_command(budget: Budget, *, data_dir: Path) -> list[str]:
    """`nmt-prepare` of the budget's corpus: built once before the runs, which then all reuse the cache."""
    return [sys.executable, "-m", "nmt.cli.prepare", *budget.prepare, f"paths.data_dir={_quoted(data_dir)}"]


def remaining_commands(run: Run, *, threads: int, data_dir: Path) -> list[tuple[str, list[str]]]:
    """(what, command) still to run for `run`, from its state: training (fresh or resumed), then the missing scores."""
    state = run_state(run)
    steps: list[tuple[str, list[str]]] = []
    if state in ("new", "interrupted"):  # the checkpoint changes: every split is scored again
        what = "train" if state == "new" else "resume training"
        steps.append((what, train_command(run, resume=state == "interrupted", threads=threads, data_dir=data_dir)))
    for split in run.splits:
        if state in ("new", "interrupted") or not run.scores_path(split).is_file():
            steps.append((f"evaluate {split}", evaluate_command(run, split, threads=threads, data_dir=data_dir)))
    return steps
