"""The classic attention experiments, reproduced in miniature: plan, train, score, report.

    python scripts/attention_study.py list --runs-dir ~/study               # every run, its overrides, its state
    python scripts/attention_study.py run --runs-dir ~/study --jobs 2       # train and score what is missing
    python scripts/attention_study.py report --runs-dir ~/study             # reports/attention_study.md + figures
    python scripts/attention_study.py run --runs-dir ~/study --experiments luong vaswani --seeds 1 2 3
    python scripts/attention_study.py run --runs-dir ~/study --budget multi30k --multi30k-dir ../shared/data/multi30k
    python scripts/attention_study.py quick --runs-dir ~/study-quick      # every experiment end to end, in minutes

Experiments (scripts/study/, one module each): bahdanau (BLEU against sentence length with and
without attention, Bahdanau et al. 2015 Fig. 2), luong (dot/general/concat scores with and without
input feeding, Luong et al. 2015 Tables 1 and 4), vaswani (1/2/4/8 heads, Vaswani et al. 2017
Table 3 (A)), pronouns (contrastive il/elle/ils/elles accuracy per architecture), cost (time and
memory of additive, multiplicative and multi-head attention against source length). Runs shared
by experiments (the four presets) are trained once.

Budgets: `sample` trains small models on the bundled corpus (with 10 % long sentences and a
long_test split) for 1,000 updates each (trainer.max_steps, about 4 minutes on one idle thread):
12 configurations x 2 seeds = 24 runs, plus preparing the corpus once and scoring each run (beam 5
on 1,000 test and, for the four length runs, 500 long sentences). `multi30k` trains each preset at
its configs/experiment/multi30k_<preset>.yaml size for 20 minutes: 4 hours of training with --jobs 2
(the pronoun experiment and the long split do not apply there). `quick` (the `quick` command) runs
every experiment on a cut-down sample corpus with tiny models for 150 updates, one seed, and writes
its report into the runs directory: a check that the whole study works, not a result.

Every run is an `nmt-train` then `nmt-evaluate` child process (this Python, -m nmt.cli.train) with
an explicit hydra.run.dir, <runs dir>/<budget>/<configuration>-seed<N> (no Hydra multirun): a
finished run is reused, an interrupted one resumed in place with trainer.resume=true. --jobs N runs
N at a time with trainer.threads = cores / N. Corpus caches go to <runs dir>/data, the cost
measurement to <runs dir>/attention_cost.json (attention_cost-quick.json for the quick budget).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study.budgets import BUDGETS, Budget, budget_named
from study.cost import EXPERIMENT as COST
from study.cost import measure_cost
from study.execute import execute, threads_per_job
from study.experiment import Experiment
from study.experiments import NAMES, plan, select_experiments
from study.report import collect, write_report
from study.runs import Run, check_runs_dir, run_state

from nmt.errors import NMTError

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REPORT = REPO / "reports" / "attention_study.md"
QUICK_REPORT = "attention_study-quick.md"  # in the runs directory: the quick budget's numbers mean nothing


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--runs-dir", type=Path, required=True,
                        help="where run directories, corpus caches and the cost measurement go")
    common.add_argument("--experiments", nargs="+", metavar="NAME", help=f"some of {', '.join(NAMES)} (default all)")
    budgeted = argparse.ArgumentParser(add_help=False)
    budgeted.add_argument("--budget", default="sample", choices=BUDGETS,
                          help="corpus and training time per run (default sample)")
    budgeted.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="trainer.seed of each repetition")
    budgeted.add_argument("--multi30k-dir", help="--budget multi30k: read the raw Multi30k release from here "
                                                 "(data.local_dir) instead of the Hub")
    jobs = argparse.ArgumentParser(add_help=False)
    jobs.add_argument("--jobs", type=int, default=2, help="runs at a time, sharing the cores (default 2)")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", parents=[common, budgeted], help="print every run with its overrides and state")
    commands.add_parser("run", parents=[common, budgeted, jobs], help="train and score what is missing")
    quick = commands.add_parser("quick", parents=[common, jobs],
                                help=f"run and report every experiment with the quick budget (report: <runs dir>/"
                                     f"{QUICK_REPORT})")
    quick.add_argument("--seeds", type=int, nargs="+", default=[1], help="trainer.seed of each repetition (default 1)")
    quick.set_defaults(budget="quick", multi30k_dir=None)
    report = commands.add_parser("report", parents=[common, budgeted], help="write the markdown report and its figures")
    report.add_argument("--output", type=Path, default=DEFAULT_REPORT, help="the markdown file (default %(default)s)")
    report.add_argument("--figures", type=Path, help="folder of the figures (default: figures/ beside --output)")
    return parser.parse_args(argv)


def format_plan(runs: Sequence[Run], experiments: Sequence[Experiment], *, budget: Budget, cost_path: Path) -> str:
    """The `list` output: a count by state, then per run its state, name, experiments, overrides and splits."""
    states = [run_state(run) for run in runs]
    counts = ", ".join(f"{states.count(state)} {state}" for state in ("done", "trained", "interrupted", "new")
                       if state in states)
    lines = [f"budget {budget.name}: {len(runs)} runs ({counts or 'none'})"]
    if COST in experiments:
        lines.append(f"cost measurement: {'done' if cost_path.is_file() else 'to measure'} ({cost_path})")
    for run, state in zip(runs, states):
        users = [experiment.name for experiment in experiments if run.variant in experiment.variants]
        lines += [f"{state:<11} {run.name}  [{', '.join(users)}]",
                  f"    nmt-train {shlex.join(run.overrides)} trainer.seed={run.seed}",
                  f"    nmt-evaluate split={','.join(run.splits)}"]
    return "\n".join(lines)


def command_run(args: argparse.Namespace, runs: list[Run], experiments: Sequence[Experiment], budget: Budget,
                runs_dir: Path) -> int:
    cost_path = runs_dir / budget.cost_file
    if COST in experiments and not cost_path.is_file():
        import torch

        torch.set_num_threads(threads_per_job(args.jobs))
        print("measuring the cost of attention against source length")
        runs_dir.mkdir(parents=True, exist_ok=True)
        cost = measure_cost(budget.cost_lengths, repeats=budget.cost_repeats)
        cost_path.write_text(json.dumps(cost, indent=2) + "\n", encoding="utf-8")
    missing = [run for run in runs if run_state(run) != "done"]
    print(f"{len(runs) - len(missing)} of {len(runs)} runs done; {len(missing)} to finish with --jobs {args.jobs}")
    if not missing:
        return 0
    outcomes = execute(missing, budget=budget, jobs=args.jobs, data_dir=runs_dir / "data")
    failed = [outcome for outcome in outcomes if outcome.failed]
    print(f"{len(outcomes) - len(failed)} runs finished, {len(failed)} not: "
          + ("; ".join(f"{outcome.run.name} ({outcome.failed})" for outcome in failed) or "none"))
    if failed:
        print("run the same command again to resume them")
    return 1 if failed else 0


def command_report(args: argparse.Namespace, runs: list[Run], experiments: Sequence[Experiment], budget: Budget,
                   runs_dir: Path, *, output: Path, figures_dir: Path | None) -> None:
    results = collect(runs, budget=budget, seeds=args.seeds, cost_path=runs_dir / budget.cost_file)
    command = shlex.join(["python", "scripts/attention_study.py", "report", "--runs-dir", "RUNS", "--budget",
                          budget.name, "--seeds", *map(str, args.seeds),
                          *(["--experiments", *args.experiments] if args.experiments else [])])
    written = write_report(experiments, results, runs, output=output,
                           figures_dir=figures_dir or output.parent / "figures", command=command)
    print("\n".join(f"wrote {path}" for path in written))


def command_quick(args: argparse.Namespace, runs: list[Run], experiments: Sequence[Experiment], budget: Budget,
                  runs_dir: Path) -> int:
    """`run` then `report` with the quick budget, the report in the runs directory; prints the wall time."""
    started = time.monotonic()
    status = command_run(args, runs, experiments, budget, runs_dir)
    if status == 0:
        output = runs_dir / QUICK_REPORT
        command_report(args, runs, experiments, budget, runs_dir, output=output,
                       figures_dir=runs_dir / "figures-quick")
    print(f"quick study: {len(runs)} runs, {(time.monotonic() - started) / 60:.1f} min")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        runs_dir = check_runs_dir(args.runs_dir)
        budget = budget_named(args.budget, multi30k_dir=args.multi30k_dir)
        experiments = select_experiments(args.experiments)
        runs = plan(experiments, budget=budget, seeds=args.seeds, runs_dir=runs_dir)
        if args.command == "list":
            print(format_plan(runs, experiments, budget=budget, cost_path=runs_dir / budget.cost_file))
            return 0
        if args.command == "run":
            return command_run(args, runs, experiments, budget, runs_dir)
        if args.command == "quick":
            return command_quick(args, runs, experiments, budget, runs_dir)
        command_report(args, runs, experiments, budget, runs_dir, output=args.output, figures_dir=args.figures)
        return 0
    except NMTError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the same command resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
