"""nmt's decoding against CTranslate2 on one trained Transformer: the same weights, alternating rounds, medians.

    python scripts/bench_decoding.py --ckpt RUN/checkpoints/best.pt         # Multi30k test_2016, beam 5 and greedy
    python scripts/bench_decoding.py --ckpt best.pt --baseline ../nmt-before  # also an older checkout of nmt
    python scripts/bench_decoding.py --ckpt best.pt --engines nmt:32 ct2:float32 --beams 5 --rounds 5

Each engine decodes every test sentence in a process of its own (bench_peers.py's decode-nmt and
decode-ct2 --native children: model loading excluded from the time), one engine after the other,
round after round, so that a slow minute of a shared machine touches every engine alike. Engines:
nmt:32 and nmt:bf16 (nmt's own search in that precision), ct2:<type> (CTranslate2's own search on
`nmt-export ckpt=... quantization=<type>`, exported afresh into --work-dir), and with --baseline
the nmt engines again from another checkout of nmt (imported through PYTHONPATH). Printed: each
run, then per engine and search the median sentences/s and words/s (words of its own output: the
searches stop differently, so words/s is the fairer rate), BLEU against the reference when there is
one, and the ratios nmt bf16 / CTranslate2 int8, nmt fp32 / CTranslate2 float32 and each nmt engine
over its baseline. With --warm each engine first decodes the validation split, untimed, in the same
process: the speed of a server that has decoded before, where nmt's bf16 no longer pays oneDNN's
kernel set-up for each new matrix shape (a single pass, as nmt-evaluate makes, does).
Method and results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers.ctranslate2_rows import export_afresh  # noqa: E402
from peers.data import REPO, read_gz_lines, write_lines  # noqa: E402
from peers.logs import parse_generation_seconds  # noqa: E402
from peers.processes import thread_env  # noqa: E402

CORPUS = REPO.parent / "shared" / "data" / "multi30k"
GOALS = (("nmt:bf16", "ct2:int8"), ("nmt:32", "ct2:float32"))  # (ours, theirs): the ratios issue-worthy figures use


@dataclass
class Run:
    engine: str  # nmt:32, nmt:bf16, ct2:<quantization>, or baseline:32 / baseline:bf16
    beam: int
    seconds: float
    sentences: int
    words: int
    bleu: float | None = None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", type=Path, required=True, help="a Transformer checkpoint of nmt-train or nmt-average")
    parser.add_argument("--src", type=Path, help="sentences to translate (default: the test split's source side)")
    parser.add_argument("--ref", type=Path, help="their references, for BLEU (default: the corpus test split's target)")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder with test_2016_flickr.<lang>.gz")
    parser.add_argument("--engines", nargs="+", default=["nmt:32", "nmt:bf16", "ct2:float32", "ct2:int8"])
    parser.add_argument("--baseline", type=Path, help="another checkout of nmt whose nmt engines run beside these")
    parser.add_argument("--beams", nargs="+", type=int, default=[5, 1], help="beam sizes (1: greedy)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per engine and beam; the median is reported")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warm", action="store_true",
                        help="each engine decodes the corpus validation split first, untimed: the speed of a process "
                             "that has decoded before (a server), not of a single pass (nmt-evaluate)")
    parser.add_argument("--work-dir", type=Path, default=REPO / "bench" / "decoding", help="exports and outputs")
    parser.add_argument("--json", type=Path, help="results file (default <work-dir>/results.json)")
    args = parser.parse_args(argv)
    for engine in args.engines:
        kind, _, setting = engine.partition(":")
        if kind not in ("nmt", "ct2") or not setting or (kind == "nmt" and setting not in ("32", "bf16")):
            parser.error(f"--engines {engine} is not nmt:32, nmt:bf16 or ct2:<quantization> (e.g. ct2:int8)")
    if args.rounds < 1:
        parser.error(f"--rounds {args.rounds} must be at least 1")
    if args.baseline is not None and not (args.baseline / "nmt" / "__init__.py").is_file():
        parser.error(f"--baseline {args.baseline} is not a checkout of nmt (no nmt/__init__.py there)")
    for name in ("ckpt", "src", "ref", "corpus", "baseline", "work_dir", "json"):  # the children run in --work-dir
        if getattr(args, name) is not None:
            setattr(args, name, getattr(args, name).resolve())
    return args


def sentences_and_references(args: argparse.Namespace) -> tuple[Path, Path | None]:
    """--src and --ref, or the checkpoint's test_2016_flickr sides unpacked into the work dir."""
    if args.src is not None:
        return args.src, args.ref
    src_lang, tgt_lang = checkpoint_languages(args.ckpt)
    missing = "error: {packed} does not exist; pass --corpus (the Multi30k folder) or --src and --ref."
    return (unpacked(args, f"test_2016_flickr.{src_lang}.gz", f"test.{src_lang}", missing=missing),
            unpacked(args, f"test_2016_flickr.{tgt_lang}.gz", f"test.{tgt_lang}", missing=missing))


def warm_up_sentences(args: argparse.Namespace) -> Path:
    """--warm: the source side of the checkpoint's corpus validation split, unpacked into the work dir."""
    src_lang, _ = checkpoint_languages(args.ckpt)
    return unpacked(args, f"val.{src_lang}.gz", f"warm-up.val.{src_lang}",
                    missing="error: --warm decodes the validation split first, and {packed} does not exist; "
                            "pass --corpus (the Multi30k folder).")


@functools.cache
def checkpoint_languages(ckpt: Path) -> tuple[str, str]:
    """(source, target) language of the checkpoint's corpus, read once."""
    from nmt.checkpoint import load_checkpoint

    data = load_checkpoint(ckpt).data_config
    return data["src_lang"], data["tgt_lang"]


def unpacked(args: argparse.Namespace, packed_name: str, name: str, *, missing: str) -> Path:
    """--corpus's `packed_name` unpacked into the work dir as `name`; exits with `missing` (naming {packed})
    where it is absent."""
    packed = args.corpus / packed_name
    if not packed.is_file():
        sys.exit(missing.format(packed=packed))
    target = args.work_dir / name
    write_lines(target, read_gz_lines(packed))
    return target


def engine_command(engine: str, beam: int, *, ckpt: Path, exports: dict[str, Path], src: Path, out: Path,
                   threads: int, warm_up: Path | None = None) -> list[str]:
    kind, _, setting = engine.partition(":")
    child = [sys.executable, str(REPO / "scripts" / "bench_peers.py")]
    common = ["--src", str(src), "--out", str(out), "--beam", str(beam), "--threads", str(threads),
              *(["--warm-up", str(warm_up)] if warm_up is not None else [])]
    if kind == "ct2":
        return [*child, "decode-ct2", "--model-dir", str(exports[setting]), "--native", *common]
    return [*child, "decode-nmt", "--ckpt", str(ckpt), "--precision", setting, *common]


def run_engine(engine: str, beam: int, args: argparse.Namespace, *, exports: dict[str, Path], src: Path,
               references: list[str] | None, warm_up: Path | None = None) -> Run:
    """One decoding in its own process; `engine` baseline:<precision> runs nmt:<precision> from --baseline.
    BLEU only with `references` (the rounds repeat the same output: the first round scores it)."""
    out = args.work_dir / f"{engine.replace(':', '_')}_beam{beam}.txt"
    env = {**os.environ, **thread_env(args.threads)}
    tree = REPO
    if engine.startswith("baseline:"):
        tree = args.baseline
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))
    command = engine_command(engine.replace("baseline:", "nmt:"), beam, ckpt=args.ckpt, exports=exports, src=src,
                             out=out, threads=args.threads, warm_up=warm_up)
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=args.work_dir)
    seconds = parse_generation_seconds("nmt", done.stdout)  # both children print nmt's line
    if done.returncode != 0 or seconds is None:
        raise RuntimeError(f"{engine} beam {beam} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    packages = [line.split("=", 1)[1] for line in done.stdout.splitlines() if line.startswith("nmt_package=")]
    if packages and Path(packages[0]) != tree / "nmt":
        raise RuntimeError(f"{engine} imported nmt from {packages[0]}, not from {tree}: check --baseline "
                           "and that no other nmt is installed ahead of it.")
    hypotheses = out.read_text(encoding="utf-8").splitlines()
    bleu = None
    if references is not None:
        import sacrebleu

        bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
    return Run(engine=engine, beam=beam, seconds=seconds, sentences=len(hypotheses),
               words=sum(len(line.split()) for line in hypotheses), bleu=bleu)


def summarize(runs: Sequence[Run]) -> dict[tuple[str, int], dict[str, float | None]]:
    """(engine, beam) -> median seconds, sentences/s and words/s over its runs, and its BLEU (the first run's)."""
    grouped: dict[tuple[str, int], list[Run]] = {}
    for run in runs:
        grouped.setdefault((run.engine, run.beam), []).append(run)
    summary = {}
    for key, group in grouped.items():
        seconds = statistics.median(run.seconds for run in group)
        summary[key] = {"seconds": seconds, "sentences_per_s": group[0].sentences / seconds,
                        "words_per_s": group[0].words / seconds, "bleu": group[0].bleu, "runs": len(group)}
    return summary


def ratios(summary: dict[tuple[str, int], dict[str, float | None]]) -> list[tuple[str, float, float]]:
    """(label, words/s ratio, sentences/s ratio) for the goal pairs and each nmt engine over its baseline."""
    pairs = [*GOALS, *((f"nmt:{p}", f"baseline:{p}") for p in ("32", "bf16"))]
    found = []
    for beam in sorted({beam for _, beam in summary}, reverse=True):
        for ours, theirs in pairs:
            a, b = summary.get((ours, beam)), summary.get((theirs, beam))
            if a is not None and b is not None:
                found.append((f"{ours} / {theirs}, {search_name(beam)}", a["words_per_s"] / b["words_per_s"],
                              a["sentences_per_s"] / b["sentences_per_s"]))
    return found


def search_name(beam: int) -> str:
    return "greedy" if beam == 1 else f"beam {beam}"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    args.work_dir = args.work_dir.resolve()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    src, ref = sentences_and_references(args)
    references = ref.read_text(encoding="utf-8").splitlines() if ref is not None else None
    warm_up = warm_up_sentences(args) if args.warm else None
    quantizations = [engine.partition(":")[2] for engine in args.engines if engine.startswith("ct2:")]
    exports = {quantization: export_afresh(args.ckpt, args.work_dir / f"ct2_{quantization}", quantization=quantization)
               for quantization in quantizations}
    engines = [*args.engines, *(f"baseline:{e.partition(':')[2]}" for e in args.engines
                                if args.baseline is not None and e.startswith("nmt:"))]
    runs = []
    for round_number in range(1, args.rounds + 1):
        for beam in args.beams:
            for engine in engines:
                run = run_engine(engine, beam, args, exports=exports, src=src,
                                 references=references if round_number == 1 else None, warm_up=warm_up)
                runs.append(run)
                print(f"round {round_number} {engine} {search_name(beam)}: {run.seconds:.2f} s, "
                      f"{run.sentences / run.seconds:,.1f} sent/s, {run.words / run.seconds:,.0f} words/s", flush=True)
    summary = summarize(runs)
    regime = f"each after decoding {warm_up.name} untimed" if warm_up is not None else "one pass per process"
    print(f"\nmedians of {args.rounds} (threads={args.threads}, {runs[0].sentences} sentences, {regime}):")
    for (engine, beam), row in summary.items():
        bleu = "" if row["bleu"] is None else f", BLEU {row['bleu']:.2f}"
        print(f"  {engine:14s} {search_name(beam):7s} {row['sentences_per_s']:8,.1f} sent/s "
              f"{row['words_per_s']:8,.0f} words/s{bleu}")
    for label, words, sentences in ratios(summary):
        print(f"  {label}: {words:.2f}x words/s, {sentences:.2f}x sent/s")
    (args.json or args.work_dir / "results.json").write_text(json.dumps(
        {"runs": [asdict(run) for run in runs],
         "summary": [{"engine": e, "beam": b, **row} for (e, b), row in summary.items()]}, indent=1))


if __name__ == "__main__":
    main()
