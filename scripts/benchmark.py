"""nmt's own performance figures on Multi30k German->English, CPU: a table on stdout and JSON.

    python scripts/benchmark.py                       # full run (~30 min on 2 cores)
    python scripts/benchmark.py --quick               # smoke run (a few minutes): checks the harness
    python scripts/benchmark.py --sections ceiling attention
    python scripts/benchmark.py --checkpoint transformer=outputs/.../best.pt   # decode a trained model

Sections (each figure is the median of repeated timing windows or repetitions):
- ceiling: this machine's matmul ceiling, one large torch.mm in fp32 and in bf16 (FLOP/s);
- prepare: `nmt-prepare data=multi30k` into an empty data folder, then the cached re-run (wall s);
- train: per model preset at its default size and the default trainer.batch_tokens, target and
  source+target tokens/s for precision 32/bf16 x compile false/true, model FLOPs utilisation
  (FLOPs of a training step counted with torch.utils.flop_counter.FlopCounterMode: every matmul,
  bmm, addmm and scaled-dot-product attention of forward and backward; over the ceiling of the
  same precision) and peak RSS of the process;
- scaling: Transformer tokens/s and peak RSS with 1k, 4k and 29k training pairs;
- decode: sentences/s and wall seconds for the test sentences, greedy and beam 5, with the
  translate defaults (configs/translate.yaml), BLEU, peak RSS; a preset without --checkpoint is
  decoded untrained, which bounds the cost (outputs run to the length limit) but not the BLEU;
- attention: forward+backward time and saved-activation memory of additive, multiplicative
  (general) and scaled-dot-product attention as the source grows from 32 to 512 tokens;
- scale: nmt-prepare and nmt-train start-up against corpus size (29k to 1M pairs);
- ddp: the same Transformer updates on 1 process x 2 threads (accumulate 2) and on torchrun's
  2 processes x 1 thread: tokens/s and peak RSS per process.

Each training and decoding configuration runs in its own process (peak RSS from wait4), with
torch threads = --threads. The step timed is the library's: model forward, the label-smoothed
loss, backward, gradient clipping and AdamW, on length-bucketed token batches
(nmt.data.batching.token_batches), as nmt.training.Trainer runs it; validation and checkpoints
are left out. Method and notes: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmarks.children import RESULT_PREFIX, child_decode, child_train  # noqa: E402
from benchmarks.distributed import run_distributed  # noqa: E402
from benchmarks.kernels import attention_scaling, matmul_ceiling  # noqa: E402
from benchmarks.report import report_text  # noqa: E402
from benchmarks.scale import SCALE_REPEATS, run_scale  # noqa: E402
from peers.processes import ProcessResult, run_measured, thread_env  # noqa: E402

from nmt.device import configure_cpu  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PRESETS = ("transformer", "rnn_bahdanau", "rnn_luong", "rnn_plain")
SECTIONS = ("ceiling", "prepare", "train", "scaling", "decode", "attention", "scale", "ddp")
SCALE_SIZES = (29_000, 290_000, 1_015_000)  # pairs; --scale-large adds 4.5 M


@dataclass(frozen=True)
class Budget:
    warmup_steps: int  # untimed steps first (allocator, caches, torch.compile)
    window_steps: int  # steps per timing window
    windows: int  # timing windows; the figure is their median
    train_configs: tuple[tuple[str, str, bool], ...]  # (preset, precision, compile)
    scaling_pairs: tuple[int, ...]
    decode_presets: tuple[str, ...]
    decode_sentences: int  # 0 = the whole test set
    attention_lengths: tuple[int, ...]
    attention_repeats: int


def _grid(presets: Sequence[str]) -> tuple[tuple[str, str, bool], ...]:
    return tuple((preset, precision, compiled) for preset in presets for precision in ("32", "bf16")
                 for compiled in (False, True))


FULL = Budget(warmup_steps=5, window_steps=8, windows=3, train_configs=_grid(PRESETS),
              scaling_pairs=(1000, 4000, 29000), decode_presets=PRESETS, decode_sentences=0,
              attention_lengths=(32, 64, 128, 256, 512), attention_repeats=5)
QUICK = Budget(warmup_steps=1, window_steps=2, windows=2,
               train_configs=(("transformer", "32", False), ("transformer", "bf16", False),
                              ("transformer", "32", True), ("rnn_bahdanau", "32", False)),
               scaling_pairs=(1000, 4000), decode_presets=("transformer", "rnn_bahdanau"), decode_sentences=20,
               attention_lengths=(32, 128, 512), attention_repeats=2)


# ----------------------------------------------------------------------------- child processes

def child_result(process: ProcessResult) -> dict[str, Any]:
    lines = [line for line in process.log.splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        raise RuntimeError("the child process printed no result line")
    return {**json.loads(lines[-1][len(RESULT_PREFIX):]), "peak_rss_mb": round(process.peak_rss_mb, 1),
            "process_wall_s": round(process.wall_s, 2)}


def run_child(args: argparse.Namespace, name: str, child_args: Sequence[str]) -> dict[str, Any]:
    command = [sys.executable, Path(__file__).resolve(), *child_args, "--threads", str(args.threads),
               "--corpus", str(args.corpus), "--data-dir", str(args.data_dir)]
    try:
        return child_result(run_measured(command, log_path=args.work_dir / "logs" / f"{name}.log",
                                         env=thread_env(args.threads), cwd=REPO))
    except RuntimeError as error:
        print(f"  {name}: FAILED: {error}", file=sys.stderr, flush=True)
        return {"error": str(error).splitlines()[0]}


# ----------------------------------------------------------------------------- sections

def run_prepare(args: argparse.Namespace) -> dict[str, Any]:
    """First nmt-prepare into an empty folder, then the cached re-run."""
    folder = args.work_dir / "prepare-data"
    shutil.rmtree(folder, ignore_errors=True)
    command = [sys.executable, "-m", "nmt.cli.prepare", "data=multi30k", f"data.local_dir={args.corpus}",
               f"paths.data_dir={folder}"]
    result = {}
    for label in ("first", "cached"):
        process = run_measured(command, log_path=args.work_dir / "logs" / f"prepare-{label}.log",
                               env=thread_env(args.threads), cwd=REPO)
        result[f"{label}_s"], result[f"{label}_peak_rss_mb"] = process.wall_s, process.peak_rss_mb
    return result


def run_training(args: argparse.Namespace, budget: Budget, configs, *, pairs: int = 0) -> list[dict[str, Any]]:
    rows = []
    for preset, precision, compiled in configs:
        name = f"train-{preset}-{precision}-{'compile' if compiled else 'eager'}" + (f"-{pairs}" if pairs else "")
        print(f"  {name}", flush=True)
        child = ["child-train", "--preset", preset, "--precision", precision, "--pairs", str(pairs),
                 "--warmup-steps", str(budget.warmup_steps), "--window-steps", str(budget.window_steps),
                 "--windows", str(budget.windows), *(["--compile"] if compiled else [])]
        rows.append({"preset": preset, "precision": precision, "compile": compiled, **run_child(args, name, child)})
    return rows


def add_mfu(rows: list[dict[str, Any]], ceilings: dict[str, float]) -> None:
    """Achieved FLOP/s = FLOPs per target token x target tokens/s, over the same precision's ceiling."""
    for row in rows:
        if "tgt_tokens_per_s" in row and ceilings:
            achieved = row["flops_per_tgt_token"] * row["tgt_tokens_per_s"]
            row["achieved_gflops"] = achieved / 1e9
            row["mfu"] = achieved / ceilings["bf16" if row["precision"] == "bf16" else "fp32"]


def run_decoding(args: argparse.Namespace, budget: Budget) -> list[dict[str, Any]]:
    rows = []
    for preset in budget.decode_presets:
        for beam in (1, 5):
            name = f"decode-{preset}-beam{beam}"
            print(f"  {name}", flush=True)
            child = ["child-decode", "--preset", preset, "--beam", str(beam), "--sentences",
                     str(budget.decode_sentences)]
            if preset in args.checkpoints:
                child += ["--ckpt", str(args.checkpoints[preset])]
            rows.append({"preset": preset, "beam": beam, **run_child(args, name, child)})
    return rows


# ----------------------------------------------------------------------------- main

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    def add_common(target: argparse.ArgumentParser) -> None:
        target.add_argument("--threads", type=int, default=2, help="torch threads of every process")
        target.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "multi30k",
                            help="folder with {train,val,test_2016_flickr}.{de,en}.gz")
        target.add_argument("--data-dir", type=Path, default=REPO / "data", help="nmt's paths.data_dir (the cache)")

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common(parser)
    common = argparse.ArgumentParser(add_help=False)
    add_common(common)
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("child-train", parents=[common], help="internal: one training configuration")
    train.add_argument("--preset", choices=PRESETS, required=True)
    train.add_argument("--precision", choices=("32", "bf16"), required=True)
    train.add_argument("--compile", action="store_true")
    train.add_argument("--pairs", type=int, default=0)
    train.add_argument("--batch-tokens", type=int, default=0, help="0 = the trainer default")
    train.add_argument("--warmup-steps", type=int, required=True)
    train.add_argument("--window-steps", type=int, required=True)
    train.add_argument("--windows", type=int, required=True)
    decode = sub.add_parser("child-decode", parents=[common], help="internal: one decoding configuration")
    decode.add_argument("--preset", choices=PRESETS, required=True)
    decode.add_argument("--beam", type=int, required=True)
    decode.add_argument("--sentences", type=int, default=0)
    decode.add_argument("--ckpt", type=Path)

    parser.add_argument("--quick", action="store_true", help="smoke run: few steps, few configurations")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--presets", nargs="+", choices=PRESETS, help="limit train/decode to these presets")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="PRESET=PATH",
                        help="a trained checkpoint to decode for a preset (repeatable)")
    parser.add_argument("--scale-large", action="store_true", help="scale section: add a 4.5 M-pair corpus")
    parser.add_argument("--scale-sizes", type=int, nargs="+", metavar="PAIRS",
                        help="scale section: these corpus sizes instead of 29k, 290k and 1M (and 4.5M)")
    parser.add_argument("--scale-repeats", type=int, default=SCALE_REPEATS,
                        help="scale section: nmt-prepare runs per size and worker count (median reported)")
    parser.add_argument("--scale-workers", type=int, default=os.cpu_count() or 1,
                        help="scale section: nmt-prepare workers compared with 1 (default: cores)")
    parser.add_argument("--work-dir", type=Path, default=REPO / "bench" / "nmt", help="logs and scratch data")
    parser.add_argument("--json", type=Path, help="results file (default <work-dir>/benchmark.json)")
    args = parser.parse_args(argv)
    args.corpus, args.data_dir = args.corpus.resolve(), args.data_dir.resolve()
    if args.scale_repeats < 1 or any(pairs < 1 for pairs in args.scale_sizes or ()):
        parser.error("--scale-repeats and every --scale-sizes value must be at least 1")
    if args.command is None:
        args.work_dir = args.work_dir.resolve()
        args.json = args.json or args.work_dir / "benchmark.json"
        args.checkpoints = {}
        for item in args.checkpoint:
            preset, _, path = item.partition("=")
            if preset not in PRESETS or not Path(path).is_file():
                parser.error(f"--checkpoint {item!r}: expected PRESET=PATH with PRESET in {', '.join(PRESETS)} "
                             "and an existing file")
            args.checkpoints[preset] = Path(path).resolve()
    return args


def budget_for(args: argparse.Namespace) -> Budget:
    budget = QUICK if args.quick else FULL
    if not args.presets:
        return budget
    return Budget(**{**budget.__dict__,
                     "train_configs": tuple(c for c in budget.train_configs if c[0] in args.presets),
                     "decode_presets": tuple(p for p in budget.decode_presets if p in args.presets)})


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.command == "child-train":
        return child_train(args)
    if args.command == "child-decode":
        return child_decode(args)
    if not args.corpus.is_dir():
        sys.exit(f"--corpus {args.corpus} is not a folder; point it at the Multi30k files "
                 "({train,val,test_2016_flickr}.{de,en}.gz).")
    configure_cpu(args.threads)
    budget = budget_for(args)
    report: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "scripts/benchmark.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__},
        "threads": args.threads, "smoke": args.quick, "budget": {k: v for k, v in budget.__dict__.items()},
    }
    ceilings: dict[str, float] = {}
    if "ceiling" in args.sections or "train" in args.sections or "scaling" in args.sections:
        print("matmul ceiling", flush=True)
        ceilings = {"fp32": matmul_ceiling(torch.float32), "bf16": matmul_ceiling(torch.bfloat16)}
        report["ceiling"] = ceilings
    if "prepare" in args.sections:
        print("prepare (first run, cached run)", flush=True)
        report["prepare"] = run_prepare(args)
    if "train" in args.sections:
        print("training throughput", flush=True)
        report["train"] = run_training(args, budget, budget.train_configs)
        add_mfu(report["train"], ceilings)
    if "scaling" in args.sections:
        print("training vs corpus size", flush=True)
        report["scaling"] = [row for pairs in budget.scaling_pairs
                             for row in run_training(args, budget, (("transformer", "32", False),), pairs=pairs)]
        add_mfu(report["scaling"], ceilings)
    if "decode" in args.sections:
        print("decoding", flush=True)
        report["decode"] = run_decoding(args, budget)
    if "attention" in args.sections:
        print("attention vs source length", flush=True)
        report["attention"] = attention_scaling(budget.attention_lengths, repeats=budget.attention_repeats)
    if "scale" in args.sections:
        print("nmt-prepare and nmt-train start-up vs corpus size", flush=True)
        sizes = SCALE_SIZES[:1] if args.quick else SCALE_SIZES + ((4_500_000,) if args.scale_large else ())
        report["scale"] = run_scale(args, tuple(args.scale_sizes or sizes), workers=args.scale_workers,
                                    repeats=1 if args.quick else args.scale_repeats)
    if "ddp" in args.sections:
        print("one process x 2 threads vs torchrun 2 processes x 1 thread", flush=True)
        report["ddp"] = run_distributed(args, steps=30 if args.quick else 200)
    text = report_text(report)
    print("\n" + text)
    report["table"] = text
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
