"""A results table from finished runs: what each run trained, how long, why it stopped, what it scored.

    nmt-evaluate ckpt=RUN/checkpoints/best.pt "length_buckets=[8,12,16,20]"      # each run, first
    python scripts/results_table.py RUN [RUN ...]
    python scripts/results_table.py RUNS/m30k_* --figure reports/figures/multi30k-bleu_by_length

Reads, per run directory: checkpoints/best.pt (the model, its corpus and direction, its size, the
update and validation score it was chosen at), checkpoints/last.pt (seed, precision, threads,
epochs, updates and the training time summed over resumes), train.log (why training stopped: the
last line nmt-train wrote about it) and the nmt-evaluate scores beside best.pt for --split (beam
search; the newest when there are several). Prints two markdown tables: one row per run with its
results, and BLEU by source length with one column per run. "BLEU lc" is nmt-evaluate's lowercased
BLEU, the metric of the Multi30k papers; "—" where the scores were written before nmt-evaluate
computed it. --figure STEM also draws BLEU by source length per model and direction, the mean over
seeds with a min-max band, as STEM.png and STEM.svg.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study.figures import lines, new_figure, save
from study.results import spread

from nmt.checkpoint import load_checkpoint
from nmt.errors import NMTError
from nmt.metrics import evaluation_files
from nmt.models import build_model

# What nmt-train logs when a run ends: "stopped: <reason> at step N" after a stopping rule,
# "interrupted by SIGTERM at step N; resume with ..." after a signal.
STOPPED = re.compile(r"(?:stopped: (.+?)|(interrupted by SIG\w+)) at step (\d+)")
EARLY_STOPPING = "(early stopping)"


@dataclass(frozen=True)
class RunResult:
    """One finished and evaluated run."""

    directory: Path
    model: str  # "rnn_bahdanau", "rnn_luong (general, input feeding)", "transformer"
    direction: str  # "de→en"
    seed: int | None
    precision: str | None
    threads: int | None
    parameters: int
    epochs: int | None  # completed epochs
    updates: int | None
    train_seconds: float | None  # summed over resumes, validation included
    stopped_by: str  # "early stopping", "max_epochs=30 reached", "SIGTERM", "unfinished"
    best_epoch: int | None
    best_step: int | None
    metric: str
    best_value: float | None  # validation score of best.pt
    scores: dict[str, float]  # bleu, bleu_lc (absent from older evaluations), chrf, ter on --split
    length_bleu: list[tuple[str, int, float | None]]  # (source words, sentences, BLEU), shortest first

    @property
    def label(self) -> str:
        return f"{self.model} {self.direction}" + ("" if self.seed is None else f" seed {self.seed}")


def model_name(model_config: dict[str, Any]) -> str:
    """The preset a model config is, in the README's words."""
    target = str(model_config.get("_target_", ""))
    if target.endswith("Transformer"):
        return "transformer"
    attention = model_config.get("attention", "none")
    if attention == "none":
        return "rnn_plain"
    if attention == "luong":
        feeding = ", input feeding" if model_config.get("input_feeding") else ""
        return f"rnn_luong ({model_config.get('score', 'general')}{feeding})"
    return f"rnn_{attention}"


def stop_line(log_path: Path) -> tuple[str, int | None]:
    """Why the run's training last stopped and at which update, from its train.log; ("unfinished", None) when
    it never said (still running, or killed without a chance to log)."""
    found: tuple[str, int | None] = ("unfinished", None)
    if log_path.is_file():
        for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = STOPPED.search(line)
            if match:
                reason = match.group(1) or match.group(2)
                if reason.endswith(EARLY_STOPPING):
                    reason = "early stopping"
                found = (reason.removeprefix("interrupted by "), int(match.group(3)))
    return found


def scores_path(checkpoint: Path, split: str) -> Path:
    """The newest nmt-evaluate beam-search scores of `split` beside `checkpoint`."""
    pattern = evaluation_files(checkpoint.parent, [checkpoint.stem], "*", split, "beam*").scores
    found = sorted(checkpoint.parent.glob(pattern.name),
                   key=lambda path: path.stat().st_mtime)
    if not found:
        raise NMTError(f"{checkpoint} has no nmt-evaluate scores of the {split} split beside it; "
                       f"run: nmt-evaluate ckpt={checkpoint} split={split}")
    return found[-1]


def read_run(directory: Path, *, split: str = "test") -> RunResult:
    """Everything the tables say about one run directory."""
    best_path, last_path = directory / "checkpoints" / "best.pt", directory / "checkpoints" / "last.pt"
    for path in (best_path, last_path):
        if not path.is_file():
            raise NMTError(f"{directory} is not a trained run: it has no checkpoints/{path.name}; "
                           "pass run directories written by nmt-train.")
    best, last = load_checkpoint(best_path), load_checkpoint(last_path)
    state = last.training_state or {}
    trainer = state.get("trainer_config", {})
    model = build_model(best.model_config, src_vocab_size=best.src_vocab_size, tgt_vocab_size=best.tgt_vocab_size)
    report = json.loads(scores_path(best_path, split).read_text(encoding="utf-8"))
    stopped_by, stop_step = stop_line(directory / "train.log")
    if stop_step != state.get("step"):  # a line of an earlier, resumed part of the run
        stopped_by = "unfinished"
    return RunResult(
        directory=directory, model=model_name(best.model_config),
        direction=f"{best.data_config.get('src_lang', '?')}→{best.data_config.get('tgt_lang', '?')}",
        seed=trainer.get("seed"), precision=trainer.get("precision"), threads=trainer.get("threads"),
        parameters=model.num_parameters(), epochs=state.get("latest_metrics", {}).get("epoch"),
        updates=state.get("step"), train_seconds=state.get("elapsed_s"), stopped_by=stopped_by,
        best_epoch=best.metrics.get("epoch"), best_step=best.step, metric=trainer.get("metric", "bleu"),
        best_value=best.metrics.get(f"val_{trainer.get('metric', 'bleu')}"),
        scores={name: report[name]["score"] for name in ("bleu", "bleu_lc", "chrf", "ter") if name in report},
        length_bleu=[(bucket["source_words"], bucket["sentences"], bucket["bleu"])
                     for bucket in report["bleu_by_length"]],
    )


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def _number(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def results_table(runs: Sequence[RunResult]) -> str:
    """One markdown row per run."""
    header = ["model", "direction", "seed", "precision", "parameters", "epochs", "updates", "training time",
              "stopped by", "best at epoch", "val", "test BLEU", "BLEU lc", "chrF", "TER"]
    rows = [[run.model, run.direction, _text(run.seed), run.precision or "",
             f"{run.parameters / 1e6:.1f} M", _text(run.epochs), "" if run.updates is None else f"{run.updates:,}",
             _duration(run.train_seconds) + (f" ({run.threads} thread{'s' * (run.threads != 1)})"
                                             if run.threads else ""),
             run.stopped_by, _text(run.best_epoch), f"{run.metric} {_number(run.best_value)}",
             f"**{_number(run.scores.get('bleu'))}**", _number(run.scores.get("bleu_lc")) or "—",
             _number(run.scores.get("chrf")), _number(run.scores.get("ter"))]
            for run in runs]
    return _markdown(header, rows)


def length_table(runs: Sequence[RunResult]) -> str:
    """BLEU by source length: a row per bucket, a column per run (every run must use the same buckets), with
    one column of sentence counts, or each run's count beside its BLEU where they differ (another source language)."""
    buckets = list(zip(shared_buckets(runs), (count for _, count, _ in runs[0].length_bleu)))
    if all(run.length_bleu[index][1] == count for run in runs for index, (_, count) in enumerate(buckets)):
        header = ["source words", "sentences", *(run.label for run in runs)]
        rows = [[label, str(count), *(_number(run.length_bleu[index][2]) for run in runs)]
                for index, (label, count) in enumerate(buckets)]
    else:  # other test sets or source languages: each run's own count beside its BLEU
        header = ["source words", *(f"{run.label} (sentences)" for run in runs)]
        rows = [[label, *(f"{_number(run.length_bleu[index][2])} ({run.length_bleu[index][1]})" for run in runs)]
                for index, (label, _) in enumerate(buckets)]
    return _markdown(header, rows)


def shared_buckets(runs: Sequence[RunResult]) -> list[str]:
    """The length-bucket labels every run was scored with, or the error saying which run differs."""
    labels = [label for label, _, _ in runs[0].length_bleu]
    for run in runs[1:]:
        if [label for label, _, _ in run.length_bleu] != labels:
            raise NMTError(f"{run.directory} was scored with other length buckets than {runs[0].directory}; "
                           "evaluate every run with the same length_buckets=[...]")
    return labels


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, ["---"] * len(header), *rows])


def length_figure(runs: Sequence[RunResult], stem: Path) -> list[Path]:
    """BLEU by source length, one line per model and direction (mean over its seeds, min-max band)."""
    labels = shared_buckets(runs)
    groups: dict[str, list[RunResult]] = {}
    for run in runs:
        groups.setdefault(f"{run.model} {run.direction}", []).append(run)
    figure, (axes,) = new_figure()
    lines(axes, list(range(len(labels))),
          {name: [spread(run.length_bleu[index][2] for run in members) for index in range(len(labels))]
           for name, members in groups.items()},
          xlabel="source sentence length (words)", ylabel="BLEU", tick_labels=labels)
    axes.set_title("BLEU by source length: mean and min–max over seeds")
    return save(figure, stem.parent, stem.name)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (hydra.run.dir of nmt-train)")
    parser.add_argument("--split", default="test", help="the split whose nmt-evaluate scores are read")
    parser.add_argument("--figure", type=Path, help="draw BLEU by source length into FIGURE.png and FIGURE.svg")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        runs = [read_run(directory, split=args.split) for directory in args.runs]
        print(results_table(runs), end="\n\n")
        print(length_table(runs))
        if args.figure is not None:
            for path in length_figure(runs, args.figure):
                print(f"figure: {path}")
    except NMTError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
