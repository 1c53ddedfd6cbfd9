"""Running what the plan still needs: the corpus once, then each run's commands, `jobs` runs at a time.

A run's commands (train or resume, then evaluate) run one after the other in the run's directory
log (`study.log`); runs go in parallel. Ctrl-C reaches the commands as well (one process group):
nmt-train saves last.pt and stops, no further command starts, and the next `run` resumes. A
SIGTERM to the study is passed on to the running commands once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from nmt.errors import NMTError
from study.budgets import Budget
from study.runs import Run, prepare_command, remaining_commands

REPO = Path(__file__).resolve().parents[2]
LOG_NAME = "study.log"


@dataclass(frozen=True)
class Outcome:
    run: Run
    done: tuple[str, ...]  # the steps that finished
    failed: str | None  # the step that failed or was not started, and why; None when all finished
    seconds: float


def threads_per_job(jobs: int) -> int:
    """The cores shared out between the jobs (at least one thread each)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // jobs)


class Executor:
    """Runs commands as children of this process and keeps them, so a SIGTERM can be passed on."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.stopping = threading.Event()
        self._children: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def command(self, command: list[str], log_path: Path) -> int:
        """Run `command` from the repository root, its output appended to `log_path`; its exit status."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a", encoding="utf-8") as log:
            log.write(f"\n$ {' '.join(command)}\n")
            log.flush()
            child = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
            with self._lock:
                self._children.add(child)
            try:
                return child.wait()
            finally:
                with self._lock:
                    self._children.discard(child)

    def terminate(self, signum: int, frame: object) -> None:
        """SIGTERM handler: stop starting commands and pass the signal on to the running ones."""
        self.stopping.set()
        with self._lock:
            for child in self._children:
                child.send_signal(signal.SIGTERM)

    def finish(self, run: Run, *, threads: int, data_dir: Path) -> Outcome:
        """Run the commands `run` still needs; stop at the first that fails."""
        started, done = time.monotonic(), []
        for what, command in remaining_commands(run, threads=threads, data_dir=data_dir):
            if self.stopping.is_set():
                return Outcome(run, tuple(done), f"{what}: not started (stopping)", time.monotonic() - started)
            self.say(f"{run.name}: {what}")
            status = self.command(command, run.directory / LOG_NAME)
            if status != 0:
                if status in (130, 143, -signal.SIGINT, -signal.SIGTERM):
                    self.stopping.set()
                return Outcome(run, tuple(done), f"{what}: exit status {status} (see {run.directory / LOG_NAME})",
                               time.monotonic() - started)
            done.append(what)
        return Outcome(run, tuple(done), None, time.monotonic() - started)


def execute(runs: list[Run], *, budget: Budget, jobs: int, data_dir: Path,
            say: Callable[[str], None] = print) -> list[Outcome]:
    """Prepare the budget's corpus once, then finish `runs`, `jobs` at a time with their share of the cores."""
    if jobs < 1:
        raise NMTError(f"--jobs {jobs} must be 1 or more")
    executor = Executor(say)
    threads = threads_per_job(jobs)
    say(f"preparing the {budget.name} corpus in {data_dir}")
    if executor.command(prepare_command(budget, data_dir=data_dir), data_dir / "prepare.log") != 0:
        raise NMTError(f"nmt-prepare failed for the {budget.name} corpus; its output is in {data_dir / 'prepare.log'}")
    previous = signal.signal(signal.SIGTERM, executor.terminate)
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(executor.finish, run, threads=threads, data_dir=data_dir) for run in runs]
            try:
                for future in as_completed(futures):
                    outcome = future.result()
                    say(f"{outcome.run.name}: " + (f"failed, {outcome.failed}" if outcome.failed else
                                                   f"finished in {outcome.seconds / 60:.1f} min"))
            except KeyboardInterrupt:  # the children got the Ctrl-C too: they save and stop
                executor.stopping.set()
                say("interrupted: waiting for the running commands to save and stop")
    finally:
        signal.signal(signal.SIGTERM, previous)
    return [future.result() for future in futures]  # the pool has waited for every one
