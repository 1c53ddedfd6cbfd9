"""The scale section of scripts/benchmark.py: nmt-prepare and nmt-train against corpus size.

For each size, Multi30k's training split is repeated to that many pairs (scripts/make_large_corpus.py),
prepared once with 1 tokenizing worker and once with N (time, pairs/s, peak RSS; SentencePiece keeps
its own tokenizer.num_threads, which its result depends on), then nmt-train starts on the warm cache: seconds from launch to the first logged update,
and peak RSS.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from peers.processes import run_measured, thread_env

REPO = Path(__file__).resolve().parents[2]
FIRST_UPDATE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]\[[\w.]+\]\[INFO\] - step=1 ", re.MULTILINE)
TIME_LINE = re.compile(r"time +([\d.]+) s")


def run_scale(args: argparse.Namespace, sizes: tuple[int, ...], *, workers: int) -> list[dict[str, Any]]:
    """One row per (size, workers) of nmt-prepare, plus the train start-up of the last prepared cache."""
    rows = []
    for pairs in sizes:
        corpus = args.work_dir / f"corpus-{pairs}"
        if not (corpus / "train.de").is_file():
            run_measured([sys.executable, str(REPO / "scripts" / "make_large_corpus.py"), str(pairs), str(corpus),
                          "--from-multi30k", str(args.corpus)], log_path=args.work_dir / "logs" / f"corpus-{pairs}.log",
                         env=thread_env(1), cwd=REPO)
        data = args.work_dir / f"scale-data-{pairs}"
        for count in sorted({1, workers}):
            shutil.rmtree(data, ignore_errors=True)
            overrides = data_overrides(corpus, data) + [f"data.num_workers={count}"]
            process = run_measured([sys.executable, "-m", "nmt.cli.prepare", *overrides],
                                   log_path=args.work_dir / "logs" / f"prepare-{pairs}-{count}.log",
                                   env=thread_env(count), cwd=REPO)
            seconds = float(TIME_LINE.findall(process.log)[-1])
            rows.append({"pairs": pairs, "workers": count, "prepare_s": seconds, "pairs_per_s": pairs / seconds,
                         "prepare_rss_mb": process.peak_rss_mb})
        rows[-1].update(train_start(args, corpus, data, pairs))
    return rows


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
            "train_rss_mb": process.peak_rss_mb}


SCALE_COLUMNS = (("pairs", "pairs", "{:,}"), ("workers", "workers", "{}"), ("prepare s", "prepare_s", "{:.1f}"),
                 ("pairs/s", "pairs_per_s", "{:,.0f}"), ("prepare RSS MB", "prepare_rss_mb", "{:,.0f}"),
                 ("first update s", "first_update_s", "{:.1f}"), ("train RSS MB", "train_rss_mb", "{:,.0f}"))
