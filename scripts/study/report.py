"""The study's report: reports/attention_study.md with its figures, from the finished runs.

Each experiment is a section: the paper and its numbers, what was compared, the tables (mean and
min-max range over seeds), one line per qualitative outcome saying whether it holds here, and its
figures (PNG and SVG in the figures folder, the PNG linked).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from nmt.errors import NMTError
from study.budgets import Budget
from study.experiment import Experiment, Findings, StudyResults, Table
from study.figures import save
from study.results import read_scores
from study.runs import Run, run_state

FIGURE_PREFIX = "attention_study-"
VERDICT_TEXT = {"holds": "**Holds**", "does not hold": "**Does not hold**", "tie": "**Tie**",
                "not measured": "**Not measured**"}


def collect(runs: Sequence[Run], *, budget: Budget, seeds: Sequence[int], cost_path: Path) -> StudyResults:
    """The finished runs' scores by variant name, and the cost measurement when it exists."""
    scores: dict[str, list] = {}
    for run in runs:
        found = read_scores(run)
        if found is not None:
            scores.setdefault(run.variant.name, []).append(found)
    cost = None
    if cost_path.is_file():
        try:
            cost = json.loads(cost_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise NMTError(f"cannot read {cost_path} ({error}); delete it and run `run --experiments cost`") from None
    return StudyResults(budget=budget, seeds=tuple(seeds), scores=scores, cost=cost)


def write_report(experiments: Sequence[Experiment], results: StudyResults, runs: Sequence[Run], *, output: Path,
                 figures_dir: Path, command: str) -> list[Path]:
    """Analyse every experiment, save its figures and write the markdown; returns every file written."""
    findings = [(experiment, experiment.analyse(results)) for experiment in experiments]
    written = []
    links: dict[str, str] = {}
    for _, found in findings:
        for stem, figure in found.figures.items():
            paths = save(figure, figures_dir, FIGURE_PREFIX + stem)
            written += paths
            links[stem] = os.path.relpath(paths[0], output.parent)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report_markdown(findings, results, runs, links=links, command=command), encoding="utf-8")
    return [output, *written]


def report_markdown(findings: Sequence[tuple[Experiment, Findings]], results: StudyResults, runs: Sequence[Run], *,
                    links: dict[str, str], command: str) -> str:
    finished = [run for run in runs if run_state(run) == "done"]
    newest = max((run.scores_path(split).stat().st_mtime for run in finished for split in run.splits), default=None)
    when = "" if newest is None else f", the newest scored {datetime.fromtimestamp(newest, timezone.utc):%Y-%m-%d}"
    lines = [
        "# Classic attention experiments, in miniature",
        "",
        f"Written by `{command}` from {len(finished)} of {len(runs)} runs finished{when}.",
        (f"Budget `{results.budget.name}`: {results.budget.description}. "
         f"Seeds: {', '.join(map(str, results.seeds))}."),
        "",
        ("How to read it: a number is the mean over seeds with its range (min–max) in brackets. Two numbers whose "
         "means differ by no more than the larger of their ranges are a **tie**: the seeds disagree more than the "
         "models do. Each experiment ends with the paper's qualitative outcomes and whether this study's runs show "
         "them." + (" With one seed there is no range, so every difference counts." if len(results.seeds) < 2
                    else "")),
        "",
        "## Summary",
        "",
        "| experiment | outcome | here |",
        "| --- | --- | --- |",
    ]
    for experiment, found in findings:
        for claim in found.claims:
            lines.append(f"| {experiment.title} | {claim.statement} | {claim.verdict} |")
        if not found.claims:
            lines.append(f"| {experiment.title} | – | {' '.join(found.notes) or 'no outcome'} |")
    for number, (experiment, found) in enumerate(findings, start=1):
        lines += _section(number, experiment, found, links)
    return "\n".join(lines) + "\n"


def _section(number: int, experiment: Experiment, found: Findings, links: dict[str, str]) -> list[str]:
    lines = ["", f"## {number}. {experiment.title}", "", f"*Paper*: {experiment.paper}.", "", "*Published*:", ""]
    lines += [f"- {line}" for line in experiment.published]
    lines += ["", f"*Compared here*: {experiment.compared}", ""]
    for note in found.notes:
        lines += [f"> {note}", ""]
    for table in found.tables:
        lines += _table(table)
    for claim in found.claims:
        lines += [f"- {VERDICT_TEXT[claim.verdict]}: {claim.statement}. {claim.evidence}."]
    if found.claims:
        lines.append("")
    for stem in found.figures:
        lines += [f"![{experiment.title}]({links[stem]})", ""]
    return lines


def _table(table: Table) -> list[str]:
    return [f"*{table.caption}*", "", "| " + " | ".join(table.header) + " |",
            "| " + " | ".join(["---"] + ["---:"] * (len(table.header) - 1)) + " |",
            *("| " + " | ".join(row) + " |" for row in table.rows), ""]
