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
  (general) and scaled-dot-product attention as the source grows from 32 to 512 tokens.

Each training and decoding configuration runs in its own process (peak RSS from wait4), with
torch threads = --threads. The step timed is the library's: model forward, the label-smoothed
loss, backward, gradient clipping and AdamW, on length-bucketed token batches
(nmt.data.batching.token_batches), as nmt.training.Trainer runs it; validation and checkpoints
are left out. Method and notes: scripts/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_peers import ProcessResult, run_measured, thread_env  # noqa: E402

from nmt.device import configure_cpu  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PRESETS = ("transformer", "rnn_bahdanau", "rnn_luong", "rnn_plain")
SECTIONS = ("ceiling", "prepare", "train", "scaling", "decode", "attention")
RESULT_PREFIX = "RESULT "


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


# ----------------------------------------------------------------------------- shared set-up

def compose(overrides: Sequence[str], config_name: str = "config"):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module="nmt.configs", version_base=None):
        return hydra_compose(config_name, overrides=list(overrides))


def plain(node: Any) -> Any:
    from omegaconf import OmegaConf
    return OmegaConf.to_container(node, resolve=True)


def data_overrides(args: argparse.Namespace) -> list[str]:
    return ["data=multi30k", f"data.local_dir={args.corpus}", f"paths.data_dir={args.data_dir}"]


def prepared_corpus(args: argparse.Namespace, preset: str):
    """(composed config, PreparedCorpus) for Multi30k with the preset's model group."""
    from nmt.data.corpus import CorpusConfig
    from nmt.data.pipeline import prepare_corpus
    from nmt.data.tokenizer import TokenizerConfig

    cfg = compose([*data_overrides(args), f"model={preset}"])
    corpus = prepare_corpus(CorpusConfig(**plain(cfg.data)), TokenizerConfig(**plain(cfg.tokenizer)),
                            data_dir=Path(cfg.paths.data_dir))
    return cfg, corpus


def emit(result: dict[str, Any]) -> None:
    """A child's one result line, read by the parent."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


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


# ----------------------------------------------------------------------------- ceiling

def matmul_ceiling(dtype: torch.dtype, *, size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of one large square torch.mm (2 n^3 FLOPs), the median of `repeats` after one warm-up."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times)


# ----------------------------------------------------------------------------- training child

def child_train(args: argparse.Namespace) -> None:
    """Time the training step of one (preset, precision, compile, pairs) configuration."""
    import numpy as np
    from torch.utils.flop_counter import FlopCounterMode

    from nmt.data.batching import TokenizedSplit, token_batches
    from nmt.loss import label_smoothed_loss
    from nmt.models import build_model

    configure_cpu(args.threads)
    torch.manual_seed(1)
    cfg, corpus = prepared_corpus(args, args.preset)
    train = corpus.splits["train"]
    if args.pairs and args.pairs < len(train):
        train = train.select(range(args.pairs))
    split = TokenizedSplit.from_dataset(train)
    tokenizer = corpus.tokenizer
    model = build_model(plain(cfg.model), src_vocab_size=tokenizer.src_vocab_size,
                        tgt_vocab_size=tokenizer.tgt_vocab_size)
    model.train()
    forward = torch.compile(model) if args.compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
    batch_tokens = args.batch_tokens or int(cfg.trainer.batch_tokens)
    batches = []
    epoch = 1
    needed = args.warmup_steps + args.window_steps * args.windows
    while len(batches) < needed:
        batches += token_batches(split.src_lengths, split.tgt_lengths, batch_tokens=batch_tokens, shuffle=True,
                                 seed=1, epoch=epoch)
        epoch += 1

    def step(batch) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            logits = forward(batch.src, batch.src_mask, batch.tgt_in)  # (B, T, V)
        loss, _ = label_smoothed_loss(logits, batch.tgt_out, smoothing=0.1)
        (loss / batch.num_tgt_tokens).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    loaded = [split.batch(indices) for indices in batches[:needed]]
    for batch in loaded[:args.warmup_steps]:
        step(batch)
    windows = []
    for window in range(args.windows):
        start = args.warmup_steps + window * args.window_steps
        chunk = loaded[start:start + args.window_steps]
        started = time.perf_counter()
        for batch in chunk:
            step(batch)
        seconds = time.perf_counter() - started
        tgt = sum(batch.num_tgt_tokens for batch in chunk)
        src = sum(int(batch.src_mask.sum()) for batch in chunk)
        windows.append({"seconds": seconds, "tgt_tokens": tgt, "src_tokens": src})

    probe = loaded[args.warmup_steps]
    with FlopCounterMode(display=False) as counter:  # fp32 eager: the model's FLOPs, not the kernels'
        logits = model(probe.src, probe.src_mask, probe.tgt_in)
        loss, _ = label_smoothed_loss(logits, probe.tgt_out, smoothing=0.1)
        loss.backward()
    optimizer.zero_grad(set_to_none=True)
    padded = [int(np.prod(batch.tgt_out.shape)) for batch in loaded]
    real = [batch.num_tgt_tokens for batch in loaded]
    emit({
        "preset": args.preset, "precision": args.precision, "compile": args.compile, "pairs": len(split),
        "batch_tokens": batch_tokens, "parameters": model.num_parameters(),
        "tgt_tokens_per_s": statistics.median(w["tgt_tokens"] / w["seconds"] for w in windows),
        "src_tgt_tokens_per_s": statistics.median((w["tgt_tokens"] + w["src_tokens"]) / w["seconds"] for w in windows),
        "step_s": statistics.median(w["seconds"] / args.window_steps for w in windows),
        "windows": windows, "flops_per_tgt_token": counter.get_total_flops() / probe.num_tgt_tokens,
        "tgt_tokens_per_batch": statistics.mean(real), "tgt_padding": 1 - sum(real) / sum(padded),
    })


# ----------------------------------------------------------------------------- decoding child

def child_decode(args: argparse.Namespace) -> None:
    """Translate the test sentences with nmt's Translator (greedy or beam) and time it."""
    from nmt import metrics
    from nmt.checkpoint import load_checkpoint, restore_model, restore_tokenizer
    from nmt.models import build_model
    from nmt.translation import Translator

    configure_cpu(args.threads)
    torch.manual_seed(1)
    cfg, corpus = prepared_corpus(args, args.preset)
    defaults = compose(["ckpt=unused"], config_name="translate")
    if args.ckpt:
        checkpoint = load_checkpoint(args.ckpt)
        model, tokenizer = restore_model(checkpoint, device="cpu"), restore_tokenizer(checkpoint)
    else:
        tokenizer = corpus.tokenizer
        model = build_model(plain(cfg.model), src_vocab_size=tokenizer.src_vocab_size,
                            tgt_vocab_size=tokenizer.tgt_vocab_size)
    model.eval()
    test = corpus.splits["test"]
    count = args.sentences or len(test)
    sources, references = list(test["src"][:count]), list(test["tgt"][:count])
    translator = Translator(model, tokenizer, beam_size=args.beam, length_penalty=float(defaults.length_penalty),
                            max_len_a=float(defaults.max_len_a), max_len_b=int(defaults.max_len_b),
                            batch_tokens=int(defaults.batch_tokens), device="cpu")
    started = time.perf_counter()
    hypotheses = translator.translate(sources)
    seconds = time.perf_counter() - started
    emit({"preset": args.preset, "beam": args.beam, "trained": bool(args.ckpt), "sentences": count,
          "seconds": seconds, "sentences_per_s": count / seconds,
          "bleu": metrics.corpus_bleu(hypotheses, references).score,
          "mean_hypothesis_words": statistics.mean(len(line.split()) for line in hypotheses)})


# ----------------------------------------------------------------------------- attention

def saved_bytes(run: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Run a forward and count the bytes autograd saves for backward: the activation memory."""
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = run()
    return output, total


def attention_scaling(lengths: Sequence[int], *, repeats: int, batch_size: int = 32, queries: int = 32) -> list[dict]:
    """Forward+backward of `queries` target positions attending over S source positions, B sentences.

    Sizes are the presets': RNN attention with 512-dim decoder states over 512-dim bidirectional
    encoder states; multi-head attention with d_model 256 and 4 heads (a cross-attention layer).
    """
    from nmt.models.attention import AdditiveAttention, MultiHeadAttention, MultiplicativeAttention

    torch.manual_seed(1)
    modules = {
        "additive": AdditiveAttention(query_dim=512, key_dim=512, attention_dim=512),
        "multiplicative": MultiplicativeAttention(score="general", query_dim=512, key_dim=512, attention_dim=512),
        "sdpa": MultiHeadAttention(d_model=256, num_heads=4, dropout=0.0),
    }
    rows = []
    for length in lengths:
        mask = torch.ones(batch_size, length, dtype=torch.bool)  # (B, S)
        for name, module in modules.items():
            width = 256 if name == "sdpa" else 512
            query = torch.randn(batch_size, queries, width, requires_grad=True)  # (B, T, Dq)
            memory = torch.randn(batch_size, length, width, requires_grad=True)  # (B, S, Dk)

            def forward() -> torch.Tensor:
                if name == "sdpa":
                    return module(query, memory, memory, mask)[0]
                return module(query, module.project_keys(memory), memory, mask)[0]

            times, activation = [], 0
            for _ in range(repeats + 1):  # the first is a warm-up
                started = time.perf_counter()
                output, activation = saved_bytes(forward)
                output.sum().backward()
                times.append(time.perf_counter() - started)
            rows.append({"attention": name, "src_len": length, "ms": statistics.median(times[1:]) * 1000,
                         "saved_mb": activation / 2**20})
    return rows


# ----------------------------------------------------------------------------- sections

def run_prepare(args: argparse.Namespace) -> dict[str, Any]:
    """First nmt-prepare into an empty folder, then the cached re-run."""
    folder = args.work_dir / "prepare-data"
    shutil.rmtree(folder, ignore_errors=True)
    command = [sys.executable, "-m", "nmt.prepare", "data=multi30k", f"data.local_dir={args.corpus}",
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


# ----------------------------------------------------------------------------- report

def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """Rows of dicts as a fixed-width text table; columns are (header, key, format)."""
    cells = [[header for header, _, _ in columns]]
    for row in rows:
        cells.append(["-" if row.get(key) is None else fmt.format(row[key]) for _, key, fmt in columns])
    widths = [max(len(line[column]) for line in cells) for column in range(len(columns))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(line, widths)) for line in cells)


TRAIN_COLUMNS = (("preset", "preset", "{}"), ("prec", "precision", "{}"), ("compile", "compile", "{}"),
                 ("pairs", "pairs", "{:,}"), ("tgt tok/s", "tgt_tokens_per_s", "{:,.0f}"),
                 ("src+tgt tok/s", "src_tgt_tokens_per_s", "{:,.0f}"), ("step s", "step_s", "{:.3f}"),
                 ("GFLOP/s", "achieved_gflops", "{:.1f}"), ("MFU", "mfu", "{:.1%}"),
                 ("tgt/batch", "tgt_tokens_per_batch", "{:,.0f}"), ("pad", "tgt_padding", "{:.1%}"),
                 ("peak RSS MB", "peak_rss_mb", "{:,.0f}"), ("error", "error", "{}"))
DECODE_COLUMNS = (("preset", "preset", "{}"), ("beam", "beam", "{}"), ("trained", "trained", "{}"),
                  ("sentences", "sentences", "{:,}"), ("sent/s", "sentences_per_s", "{:,.1f}"),
                  ("wall s", "seconds", "{:,.1f}"), ("BLEU", "bleu", "{:.2f}"),
                  ("hyp words", "mean_hypothesis_words", "{:.1f}"), ("peak RSS MB", "peak_rss_mb", "{:,.0f}"),
                  ("error", "error", "{}"))
ATTENTION_COLUMNS = (("attention", "attention", "{}"), ("src len", "src_len", "{}"), ("fwd+bwd ms", "ms", "{:.2f}"),
                     ("saved MB", "saved_mb", "{:.1f}"))


def report_text(report: dict[str, Any]) -> str:
    parts = []
    if "ceiling" in report:
        ceiling = report["ceiling"]
        parts.append(f"matmul ceiling: fp32 {ceiling['fp32'] / 1e9:.1f} GFLOP/s, bf16 {ceiling['bf16'] / 1e9:.1f} GFLOP/s")
    if "prepare" in report:
        prepare = report["prepare"]
        parts.append(f"nmt-prepare multi30k: first {prepare['first_s']:.1f} s, cached {prepare['cached_s']:.1f} s")
    for key, title, columns in (("train", "training", TRAIN_COLUMNS), ("scaling", "training vs corpus size", TRAIN_COLUMNS),
                                ("decode", "decoding (test set)", DECODE_COLUMNS),
                                ("attention", "attention vs source length (B=32, T=32)", ATTENTION_COLUMNS)):
        if key in report:
            parts.append(f"== {title}\n{table(report[key], columns)}")
    return "\n\n".join(parts)


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
    parser.add_argument("--work-dir", type=Path, default=REPO / "bench" / "nmt", help="logs and scratch data")
    parser.add_argument("--json", type=Path, help="results file (default <work-dir>/benchmark.json)")
    args = parser.parse_args(argv)
    args.corpus, args.data_dir = args.corpus.resolve(), args.data_dir.resolve()
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
    text = report_text(report)
    print("\n" + text)
    report["table"] = text
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
