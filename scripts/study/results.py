"""What the finished runs scored, and how the report compares numbers measured over several seeds.

`read_scores` reads one run's scores.json files (nmt-evaluate) and metrics.jsonl (nmt-train). A
number measured over seeds is a `Spread` (mean, min, max); `compare` calls two of them a tie when
their means differ by no more than the larger of their two min-max spreads, and a claim of a paper
is judged from such comparisons (`verdict`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from nmt.errors import NMTError
from study.runs import Run, run_state

PRONOUNS = ("il", "elle", "ils", "elles")
Comparison = Literal["higher", "lower", "tie"]
Verdict = Literal["holds", "does not hold", "tie", "not measured"]


@dataclass(frozen=True)
class RunScores:
    """One finished run's numbers."""

    seed: int
    bleu: dict[str, float]  # split -> corpus BLEU
    length_bleu: dict[str, tuple[int, float | None]]  # source-length bucket ("1-10") -> (sentences, BLEU)
    pronouns: dict[str, float] | None  # "all", il, elle, ils, elles -> contrastive accuracy in %
    updates: int | None  # optimizer updates at the last validation
    train_seconds: float | None  # training time at the last validation


def read_scores(run: Run) -> RunScores | None:
    """The run's numbers, or None until it is done. Each length bucket comes from the split with the most
    sentences in it (test for the short buckets, long_test for the long ones)."""
    if run_state(run) != "done":
        return None
    reports = {split: _read_json(run.scores_path(split)) for split in run.splits}
    first = next(iter(reports.values()), {"bleu_by_length": []})
    length_bleu: dict[str, tuple[int, float | None]] = {bucket["source_words"]: (0, None)
                                                        for bucket in first["bleu_by_length"]}  # shortest first
    for report in reports.values():
        for bucket in report["bleu_by_length"]:
            label, count = bucket["source_words"], bucket["sentences"]
            if count > length_bleu.get(label, (0, None))[0]:
                length_bleu[label] = (count, bucket["bleu"])
    pronoun_report = next((report["pronoun_accuracy"] for report in reports.values() if report.get("pronoun_accuracy")),
                          None)
    pronouns = None
    if pronoun_report is not None:
        pronouns = {"all": 100 * pronoun_report["accuracy"],
                    **{word: 100 * value["accuracy"] for word, value in pronoun_report["per_pronoun"].items()}}
    last = _last_validation(run.directory / "metrics.jsonl")
    return RunScores(seed=run.seed, bleu={split: report["bleu"]["score"] for split, report in reports.items()},
                     length_bleu=length_bleu, pronouns=pronouns,
                     updates=last.get("step"), train_seconds=last.get("elapsed_s"))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise NMTError(f"cannot read {path} ({error}); delete it and run the study's `run` again to rescore") from None


def _last_validation(path: Path) -> dict[str, Any]:
    """The last complete line of metrics.jsonl ({} when there is none)."""
    last: dict[str, Any] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                last = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
    return last


# ----------------------------------------------------------------------------- seeds


@dataclass(frozen=True)
class Spread:
    """A number over seeds: mean and range."""

    mean: float
    low: float
    high: float
    count: int  # seeds

    @property
    def width(self) -> float:
        return self.high - self.low

    def text(self, digits: int = 1) -> str:
        """"26.8 (25.9–27.4)", or "26.8 (1 seed)"."""
        if self.count == 1:
            return f"{self.mean:.{digits}f} (1 seed)"
        return f"{self.mean:.{digits}f} ({self.low:.{digits}f}–{self.high:.{digits}f})"


def spread(values: Iterable[float | None]) -> Spread | None:
    """The Spread of the values that are not None, or None when there are none."""
    present = [value for value in values if value is not None]
    if not present:
        return None
    return Spread(mean=sum(present) / len(present), low=min(present), high=max(present), count=len(present))


def compare(a: Spread, b: Spread) -> Comparison:
    """a against b: a tie when the means differ by no more than the larger min-max spread of the two."""
    difference = a.mean - b.mean
    if abs(difference) <= max(a.width, b.width):
        return "tie"
    return "higher" if difference > 0 else "lower"


def verdict(a: Spread | None, b: Spread | None, *, expected: Comparison) -> Verdict:
    """Whether "a is `expected` than b" holds; "not measured" when either has no finished run."""
    if a is None or b is None:
        return "not measured"
    found = compare(a, b)
    if found == "tie":
        return "tie"
    return "holds" if found == expected else "does not hold"


def paired_differences(a: Iterable[RunScores], b: Iterable[RunScores], value) -> Spread | None:
    """Spread over seeds of value(a) - value(b), pairing the runs of the same seed (unpaired seeds left out)."""
    by_seed = {scores.seed: scores for scores in b}
    differences = []
    for scores in a:
        other = by_seed.get(scores.seed)
        if other is not None and value(scores) is not None and value(other) is not None:
            differences.append(value(scores) - value(other))
    return spread(differences)
