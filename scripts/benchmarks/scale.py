"""The scale section of scripts/benchmark.py: nmt-prepare and nmt-train against corpus size.

For each size, Multi30k's training split is repeated to that many pairs (scripts/make_large_corpus.py)
and prepared into an empty data folder with 1 worker and with N, alternately, --scale-repeats times
each (default SCALE_REPEATS; once with --quick): a row gives the median time, its spread (min-max), pairs/s and the peak
RSS of the largest process (SentencePiece keeps its own tokenizer.num_threads, which its result
depends on) and its anonymous part (peak RSS also counts the pages of the memory-mapped Arrow
files read, which the kernel drops under memory pressure). The machine is shared, so each row also says how busy the rest of it was during its
runs: the CPU seconds other processes used, at nice 0 and niced, from /proc/stat. Then nmt-train
starts on the warm cache: seconds from launch to the first logged update, and peak RSS.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from peers.processes import run_measured, thread_env

REPO = Path(__file__).resolve().parents[2]
FIRST_UPDATE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]\[[\w.]+\]\[INFO\] - step=1 ", re.MULTILINE)
TIME_LINE = re.compile(r"time +([\d.]+) s")
SCALE_REPEATS = 3  # nmt-prepare runs per (size, workers), alternating the worker counts


def run_scale(args: argparse.Namespace, sizes: tuple[int, ...], *, workers: int,
              repeats: int = SCALE_REPEATS) -> list[dict[str, Any]]:
    """One row per (size, workers) of nmt-prepare, plus the train start-up of the last prepared cache."""
    rows = []
    for pairs in sizes:
        corpus = args.work_dir / f"corpus-{pairs}"
        if not (corpus / "train.de").is_file():
            run_measured([sys.executable, str(REPO / "scripts" / "make_large_corpus.py"), str(pairs), str(corpus),
                          "--from-multi30k", str(args.corpus)], log_path=args.work_dir / "logs" / f"corpus-{pairs}.log",
                         env=thread_env(1), cwd=REPO)
        data = args.work_dir / f"scale-data-{pairs}"
        counts = sorted({1, workers})
        runs: dict[int, list[dict[str, float]]] = {count: [] for count in counts}
        for repeat in range(repeats):
            for count in counts:
                runs[count].append(prepare_once(args, corpus, data, pairs=pairs, workers=count, repeat=repeat))
        rows.extend(summarize(pairs, count, runs[count]) for count in counts)
        rows[-1].update(train_start(args, corpus, data, pairs))
    return rows


def prepare_once(args: argparse.Namespace, corpus: Path, data: Path, *, pairs: int, workers: int,
                 repeat: int) -> dict[str, float]:
    """One nmt-prepare into an empty data folder: its time, peak RSS, CPU, and what the rest of the machine used."""
    shutil.rmtree(data, ignore_errors=True)
    overrides = data_overrides(corpus, data) + [f"data.num_workers={workers}"]
    machine_before, ours_before = machine_cpu_s(), children_cpu_s()
    process = run_measured([sys.executable, "-m", "nmt.cli.prepare", *overrides],
                           log_path=args.work_dir / "logs" / f"prepare-{pairs}-{workers}-{repeat}.log",
                           env=thread_env(workers), cwd=REPO)
    ours = children_cpu_s() - ours_before
    machine_after = machine_cpu_s()
    if machine_before is None or machine_after is None:
        busy = niced = float("nan")
    else:
        busy, niced = (after - before for before, after in zip(machine_before, machine_after))
    return {"prepare_s": float(TIME_LINE.findall(process.log)[-1]), "wall_s": process.wall_s,
            "rss_mb": process.peak_rss_mb, "anon_mb": process.peak_anon_mb, "cpu_s": ours, "others_nice0_s": busy - ours, "others_niced_s": niced}


def summarize(pairs: int, workers: int, runs: list[dict[str, float]]) -> dict[str, Any]:
    times = [run["prepare_s"] for run in runs]
    median = statistics.median(times)
    wall = sum(run["wall_s"] for run in runs)
    return {"pairs": pairs, "workers": workers, "runs": len(runs), "prepare_s": median,
            "prepare_min_s": min(times), "prepare_max_s": max(times), "pairs_per_s": pairs / median,
            "prepare_rss_mb": max(run["rss_mb"] for run in runs),
            "prepare_anon_mb": max((run["anon_mb"] for run in runs if run.get("anon_mb") is not None), default=None),
            "cpu_s": statistics.median(run["cpu_s"] for run in runs),
            # The rest of the machine during these runs, in cores (2.0 = both cores of a 2-core machine).
            "others_nice0_cores": sum(run["others_nice0_s"] for run in runs) / wall,
            "others_niced_cores": sum(run["others_niced_s"] for run in runs) / wall,
            "prepare_times_s": times}


def machine_cpu_s() -> tuple[float, float] | None:
    """CPU seconds the whole machine has run since boot: (at nice 0, niced), from /proc/stat; None elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in stat.readline().split()[1:8])
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return (user + system + irq + softirq) / tick, nice / tick


def children_cpu_s() -> float:
    """CPU seconds of every child process this one has waited for (run_measured's wait4 adds them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def data_overrides(corpus: Path, data: Path) -> list[str]:
    return ["data=local", f"data.local_dir={corpus}", "data.src_lang=de", "data.tgt_lang=en", "data.name=scale",
            f"paths.data_dir={data}"]


def train_start(args: argparse.Namespace, corpus: Path, data: Path, pairs: int) -> dict[str, Any]:
    """Seconds from launching nmt-train on the warm cache to its first update, and its peak RSS."""
    run_dir = args.work_dir / f"scale-run-{pairs}"
    shutil.rmtree(run_dir, ignore_errors=True)
    launched = datetime.now()
    started = time.monotonic()
    process = run_measured(
        [sys.executable, "-m", "nmt.cli.train", "experiment=multi30k_transformer", *data_overrides(corpus, data),
         "trainer.max_steps=1", "trainer.log_every=1", "trainer.val_max_sentences=1", "trainer.threads=1",
         f"hydra.run.dir={run_dir}"],
        log_path=args.work_dir / "logs" / f"train-start-{pairs}.log", env=thread_env(1), cwd=REPO)
    match = FIRST_UPDATE.search(process.log)
    first_update = (datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f") - launched).total_seconds() \
        if match else None
    return {"first_update_s": first_update, "train_wall_s": time.monotonic() - started,
            "train_rss_mb": process.peak_rss_mb, "train_anon_mb": process.peak_anon_mb}


SCALE_COLUMNS = (("pairs", "pairs", "{:,}"), ("workers", "workers", "{}"), ("runs", "runs", "{}"),
                 ("prepare s", "prepare_s", "{:.1f}"), ("min", "prepare_min_s", "{:.1f}"),
                 ("max", "prepare_max_s", "{:.1f}"), ("pairs/s", "pairs_per_s", "{:,.0f}"),
                 ("prepare RSS MB", "prepare_rss_mb", "{:,.0f}"), ("anon MB", "prepare_anon_mb", "{:,.0f}"),
                 ("CPU s", "cpu_s", "{:.1f}"),
                 ("others nice 0", "others_nice0_cores", "{:.2f}"), ("others niced", "others_niced_cores", "{:.2f}"),
                 ("first update s", "first_update_s", "{:.1f}"), ("train RSS MB", "train_rss_mb", "{:,.0f}"),
                 ("train anon MB", "train_anon_mb", "{:,.0f}"))
