"""What an experiment of the study is: its paper and numbers, its runs, and what it found.

An `Experiment` is declarative: the published result it reproduces, the configurations it trains
(`Variant`s, each trained once per seed), the splits it scores, and `analyse`, which turns the
finished runs into tables, figures and one `Claim` per qualitative outcome of the paper, each
judged holds / does not hold / tie (see `study.results.compare`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure

from study.budgets import Budget
from study.results import RunScores, Spread, Verdict
from study.runs import Variant

# The four presets at the budget's size; the Luong and Vaswani experiments share two of them.
RNN_PLAIN = Variant("rnn_plain", "no attention (Cho et al. 2014)", "rnn_plain")
RNN_BAHDANAU = Variant("rnn_bahdanau", "additive attention (Bahdanau et al. 2015)", "rnn_bahdanau")
RNN_LUONG = Variant("rnn_luong-general-feed", "Luong general score, input feeding", "rnn_luong",
                    ("model.score=general", "model.input_feeding=true"))
TRANSFORMER = Variant("transformer-heads4", "Transformer, 4 heads", "transformer", ("model.num_heads=4",))


@dataclass(frozen=True)
class Table:
    caption: str
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Claim:
    """A qualitative outcome of the paper and whether this study's runs show it."""

    statement: str
    verdict: Verdict
    evidence: str  # the numbers behind the verdict


@dataclass
class Findings:
    tables: list[Table] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)  # file stem -> figure
    notes: list[str] = field(default_factory=list)  # what does not apply, what is missing


@dataclass(frozen=True)
class StudyResults:
    """Everything the report reads: the finished runs' scores per variant name and the attention-cost measurement."""

    budget: Budget
    seeds: tuple[int, ...]
    scores: dict[str, list[RunScores]]
    cost: dict[str, Any] | None = None

    def of(self, variant: Variant) -> list[RunScores]:
        return self.scores.get(variant.name, [])


@dataclass(frozen=True)
class Experiment:
    name: str  # what --experiments takes
    title: str
    paper: str  # the reference
    published: tuple[str, ...]  # the paper's numbers, one line each
    compared: str  # what this study compares, in a sentence
    variants: tuple[Variant, ...]  # trained once per seed; empty for a measurement
    splits: tuple[str, ...]  # evaluation splits the runs need (those the budget's corpus has)
    analyse: Callable[[StudyResults], Findings]


def missing_note(results: StudyResults, variants: tuple[Variant, ...]) -> list[str]:
    """One note naming the runs that have not finished, or none."""
    missing = [f"{variant.name}-seed{seed}" for variant in variants for seed in results.seeds
               if seed not in {scores.seed for scores in results.of(variant)}]
    if not missing:
        return []
    return [f"Not finished yet, left out of the numbers: {', '.join(missing)} (`run` trains them)."]


def cell(value: Spread | None, digits: int = 1) -> str:
    return "–" if value is None else value.text(digits)
