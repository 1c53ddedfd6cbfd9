"""Side-by-side benchmark: nmt, Joey NMT 2.3.0 and OpenNMT-py 3.5.1 on Multi30k German->English, CPU.

    python scripts/bench_peers.py                    # full run (~30 min on 2 cores)
    python scripts/bench_peers.py --quick            # smoke run (~1-2 min per tool and model)
    python scripts/bench_peers.py --tools joeynmt onmt --models transformer --tokenizer standalone
    python scripts/bench_peers.py --models transformer --ctranslate2   # + CTranslate2 on nmt's weights

What is compared, for each model (the Transformer and the RNN with Bahdanau attention) and tool:
- training throughput: real target tokens per second (EOS included, padding excluded), the
  median of the tool's own log intervals after the first one (warm-up), with batches that hold
  about the same number of real target tokens in every tool (`--batch-real-tgt`; each tool's
  batch_size is calibrated by replaying its own batching rule on the corpus);
- beam search on the test set (test_2016_flickr): sentences per second over the tool's own
  generation time (model loading excluded), BLEU (sacrebleu, 13a, on detokenized text);
- peak resident memory of the training and of the decoding process;
- with --ctranslate2, nmt's trained Transformer exported with nmt's own exporter (one directory
  per --ct2-quantizations type) and decoded by CTranslate2, on its own and through nmt's
  CTranslate2Translator, beam and greedy, beside nmt's own fp32 beam and greedy decoding of the same weights: a second
  table with each row's sent/s over nmt fp32's with the same search (CTranslate2 has no RNN
  decoder, so the RNN gets no such rows).

All tools see the same data: one joint SentencePiece model (nmt's own, from `prepare_corpus`, or
with `--tokenizer standalone` one trained here with the same settings), the same cleaned
training pairs, and the pieces as whitespace-separated words, so the peers' own tokenization is
off. Every process runs with OMP_NUM_THREADS=MKL_NUM_THREADS=--threads. The peers run from their
own virtual environments under bench/ (git-ignored), created here when missing.

Results: the tables on stdout with the ratios nmt/peer, and JSON (--json). Method and notes:
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from peers.batching import calibrate_batches
from peers.ctranslate2_rows import decode_ct2_main, decode_nmt_weights, with_speed_ratios
from peers.data import REPO, prepare_pieces
from peers.processes import ensure_venv
from peers.report import format_decoding_table, format_table, show_figure
from peers.runner import MODELS, TOOLS, Budget, Runner, decode_nmt_main

WARMUP_STEPS = 4000  # the shared learning-rate warm-up of throughput runs (irrelevant to speed, kept equal)
PEAK_LR = 5e-4

FULL = Budget(train_steps=60, log_every=10, decode_sentences=0)
QUICK = Budget(train_steps=6, log_every=2, decode_sentences=40)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    decode = sub.add_parser("decode-nmt", help="internal: time nmt's Translator on a file")
    decode.add_argument("--ckpt", type=Path, required=True)
    decode.add_argument("--precision", choices=("32", "bf16"), default="32")
    add_decoding_arguments(decode)
    decode_ct2 = sub.add_parser("decode-ct2", help="internal: time CTranslate2 on a file")
    decode_ct2.add_argument("--model-dir", type=Path, required=True, help="an nmt export (nmt-export output=DIR)")
    decode_ct2.add_argument("--native", action="store_true",
                            help="CTranslate2's own search in one call (its length penalty, one hypothesis) "
                                 "instead of nmt's CTranslate2Translator")
    add_decoding_arguments(decode_ct2)

    parser.add_argument("--quick", action="store_true", help="smoke run: 6 updates, 40 test sentences")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--steps", type=int, help="training updates per run (default 60; --quick 6)")
    parser.add_argument("--log-every", type=int, help="updates per throughput interval (default 10; --quick 2)")
    parser.add_argument("--decode-sentences", type=int, help="test sentences to decode (0 = all; --quick 40)")
    parser.add_argument("--train-minutes", type=float, default=0.0,
                        help="also train each tool afresh for the updates these minutes buy at its measured speed, "
                             "and decode that model (the quality-per-time comparison)")
    parser.add_argument("--warmup-steps", type=int, default=WARMUP_STEPS, help="learning-rate warm-up in every tool")
    parser.add_argument("--lr", type=float, default=PEAK_LR, help="peak learning rate in every tool")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of every process")
    parser.add_argument("--batch-real-tgt", type=float, default=3700, help="real target tokens per batch")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--length-penalty", type=float, default=1.0, help="GNMT alpha in every tool")
    parser.add_argument("--max-len-a", type=float, default=1.5, help="max output length = a * source length")
    parser.add_argument("--decode-batch-tokens", type=int, default=4096, help="decoding batch size in tokens")
    parser.add_argument("--decode-repeats", type=int, default=1,
                        help="decode each model this many times and report the run with the median time")
    parser.add_argument("--decode-only", action="store_true",
                        help="decode the checkpoints an earlier run left in --work-dir (its time-budget "
                             "models with --train-minutes) instead of training")
    parser.add_argument("--nmt-decode-precision", choices=("32", "bf16"), default="32",
                        help="nmt's decoding precision (bf16: a bfloat16 copy of the weights; the peers decode in fp32)")
    parser.add_argument("--ctranslate2", action="store_true",
                        help="also export nmt's Transformer to CTranslate2 and decode it there, beam and greedy "
                             '(needs pip install -e ".[export]")')
    parser.add_argument("--ct2-quantizations", nargs="+", default=["float32", "int8"],
                        help="with --ctranslate2: the weight types to export and decode")
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "multi30k",
                        help="folder with {train,val,test_2016_flickr}.{de,en}.gz")
    parser.add_argument("--tokenizer", choices=("nmt", "standalone"), default="nmt",
                        help="nmt: pieces from nmt's own prepared corpus; standalone: SentencePiece trained here")
    parser.add_argument("--vocab-size", type=int, default=8000, help="standalone SentencePiece vocabulary")
    parser.add_argument("--nmt-overrides", nargs="*", default=[], help="extra Hydra overrides for nmt")
    parser.add_argument("--bench-dir", type=Path, default=REPO / "bench", help="git-ignored home of the peer venvs")
    parser.add_argument("--work-dir", type=Path, help="runs and data (default <bench-dir>/peers)")
    parser.add_argument("--json", type=Path, help="results file (default <work-dir>/results.json)")
    parser.add_argument("--torch-index", default=os.environ.get("TORCH_INDEX"),
                        help="pip index for torch in the peer venvs, e.g. https://download.pytorch.org/whl/cpu")
    args = parser.parse_args(argv)
    if args.command is None:
        args.work_dir = (args.work_dir or args.bench_dir / "peers").resolve()
        args.json = args.json or args.work_dir / "results.json"
        args.corpus = args.corpus.resolve()
        if args.tokenizer == "standalone" and "nmt" in args.tools:
            parser.error("--tokenizer standalone runs the peers only; drop nmt from --tools")
        if args.decode_repeats < 1:
            parser.error(f"--decode-repeats {args.decode_repeats} must be at least 1")
        if args.ctranslate2:
            check_ctranslate2(parser, args)
    return args


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    """The decoding children's input, output and search settings (the same for nmt and CTranslate2)."""
    parser.add_argument("--src", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--length-penalty", type=float, default=1.0)
    parser.add_argument("--max-len-a", type=float, default=1.5)
    parser.add_argument("--max-len-b", type=int, default=1)
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warm-up", type=Path, help="lines to translate first, untimed (a process that has "
                                                     "decoded before, as a server has)")


def check_ctranslate2(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--ctranslate2 needs the package, nmt's run and quantizations nmt's exporter knows."""
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        parser.error('--ctranslate2 needs the CTranslate2 package; install it with pip install -e ".[export]".')
    from nmt.inference.export_ctranslate2 import QUANTIZATIONS

    if "nmt" not in args.tools:
        parser.error("--ctranslate2 decodes the Transformer nmt trains; keep nmt in --tools.")
    unknown = [name for name in args.ct2_quantizations if name not in QUANTIZATIONS]
    if unknown:
        parser.error(f"--ct2-quantizations {' '.join(unknown)} is not a CTranslate2 weight type nmt exports; "
                     f"choose from {' '.join(QUANTIZATIONS)}.")


def budget_from(args: argparse.Namespace) -> Budget:
    base = QUICK if args.quick else FULL
    return Budget(train_steps=args.steps or base.train_steps, log_every=args.log_every or base.log_every,
                  decode_sentences=base.decode_sentences if args.decode_sentences is None else args.decode_sentences,
                  train_minutes=args.train_minutes)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.command == "decode-nmt":
        decode_nmt_main(args)
        return
    if args.command == "decode-ct2":
        decode_ct2_main(args)
        return
    budget = budget_from(args)
    if not args.corpus.is_dir():
        sys.exit(f"--corpus {args.corpus} is not a folder; point it at the Multi30k files "
                 "({train,val,test_2016_flickr}.{de,en}.gz).")
    for tool in args.tools:
        if tool != "nmt":
            ensure_venv(args.bench_dir, tool, torch_index=args.torch_index)
    print(f"preparing pieces ({args.tokenizer} SentencePiece) in {args.work_dir / 'data'}", flush=True)
    data = prepare_pieces(args)
    batches = calibrate_batches(args.tools, data, args.batch_real_tgt)
    for tool, (setting, real) in batches.items():
        print(f"  {tool}: batch size setting {setting} -> {real:,.0f} real target tokens per batch", flush=True)
    runner = Runner(args, data, budget)
    results, decodings = [], []
    for model in args.models:
        for tool in args.tools:
            work = "decoding the earlier run's model" if args.decode_only else f"{budget.train_steps} updates"
            print(f"{model} / {tool}: {work}, {runner.decode_count} test sentences", flush=True)
            result = runner.run(tool, model, *batches[tool])
            print(f"  train {show_figure(result.train_tgt_tokens_per_s)} tgt tok/s, decode "
                  f"{show_figure(result.decode_sentences_per_s)} sent/s, BLEU {show_figure(result.bleu)}", flush=True)
            results.append(result)
            if tool == "nmt" and args.ctranslate2:
                decodings.extend(decode_nmt_weights(runner, result))
    table = format_table(results)
    print("\n" + table)
    decodings = with_speed_ratios(decodings, results)
    decoding_table = format_decoding_table(decodings, results) if decodings else None
    if decoding_table is not None:
        print("\n" + decoding_table)
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "scripts/bench_peers.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "smoke": args.quick, "budget": asdict(budget), "threads": args.threads, "tokenizer": data.tokenizer,
        "vocab_size": data.vocab_size, "results": [asdict(result) for result in results], "table": table,
        "weights_decodings": [asdict(row) for row in decodings],
        "decoding_table": decoding_table,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
