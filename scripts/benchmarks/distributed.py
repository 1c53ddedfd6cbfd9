"""The ddp section of scripts/benchmark.py: one process with 2 threads against 2 processes with 1 thread.

Both runs make the same updates on Multi30k (the Transformer preset): the single process
accumulates 2 batches per update, torchrun's 2 ranks take one batch each. Throughput is
the median of the logged target tokens/s over the run (the first interval, warm-up, left
out); memory is the peak RSS of the largest process (wait4 reports the maximum over the
processes torchrun waited for, so per rank under torchrun).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

from peers.processes import run_measured, thread_env

REPO = Path(__file__).resolve().parents[2]
TOKENS_PER_S = re.compile(r"\] - step=(\d+) .* tok/s=(\d+)")


def run_distributed(args: argparse.Namespace, *, steps: int) -> list[dict[str, Any]]:
    """Rows for (1 process x 2 threads, accumulate 2) and (2 processes x 1 thread), the same updates."""
    common = ["experiment=multi30k_transformer", f"data.local_dir={args.corpus}", f"paths.data_dir={args.data_dir}",
              f"trainer.max_steps={steps}", "trainer.max_epochs=0", "trainer.log_every=10",
              "trainer.validate_every=0", "trainer.val_max_sentences=1", "trainer.tensorboard=false"]
    layouts = (("1 x 2 threads", [sys.executable, "-m", "nmt.cli.train"], ["trainer.accumulate=2", "trainer.threads=2"], 2),
               ("2 x 1 thread", [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                                 "-m", "nmt.cli.train"], ["trainer.threads=1"], 1))
    rows = []
    for name, launcher, overrides, threads in layouts:
        run_dir = args.work_dir / f"ddp-{threads}"
        shutil.rmtree(run_dir, ignore_errors=True)
        process = run_measured([*launcher, *common, *overrides, f"hydra.run.dir={run_dir}"],
                               log_path=args.work_dir / "logs" / f"ddp-{threads}.log", env=thread_env(threads), cwd=REPO)
        rates = [float(rate) for step, rate in TOKENS_PER_S.findall(process.log) if int(step) > 10]
        rows.append({"layout": name, "updates": steps, "tgt_tokens_per_s": statistics.median(rates) if rates else None,
                     "wall_s": process.wall_s, "peak_rss_mb": process.peak_rss_mb})
    single = rows[0]["tgt_tokens_per_s"]
    for row in rows:
        row["speedup"] = row["tgt_tokens_per_s"] / single if single and row["tgt_tokens_per_s"] else None
    return rows


DISTRIBUTED_COLUMNS = (("layout", "layout", "{}"), ("updates", "updates", "{}"),
                       ("tgt tok/s", "tgt_tokens_per_s", "{:,.0f}"), ("vs 1 process", "speedup", "{:.2f}x"),
                       ("wall s", "wall_s", "{:.1f}"), ("peak RSS MB / process", "peak_rss_mb", "{:,.0f}"))
