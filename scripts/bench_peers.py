"""Side-by-side benchmark: nmt, Joey NMT 2.3.0 and OpenNMT-py 3.5.1 on Multi30k German->English, CPU.

    python scripts/bench_peers.py                    # full run (~30 min on 2 cores)
    python scripts/bench_peers.py --quick            # smoke run (~1-2 min per tool and model)
    python scripts/bench_peers.py --tools joeynmt onmt --models transformer --tokenizer standalone

What is compared, for each model (the Transformer and the RNN with Bahdanau attention) and tool:
- training throughput: real target tokens per second (EOS included, padding excluded), the
  median of the tool's own log intervals after the first one (warm-up), with batches that hold
  about the same number of real target tokens in every tool (`--batch-real-tgt`; each tool's
  batch_size is calibrated by replaying its own batching rule on the corpus);
- beam search on the test set (test_2016_flickr): sentences per second over the tool's own
  generation time (model loading excluded), BLEU (sacrebleu, 13a, on detokenized text);
- peak resident memory of the training and of the decoding process.

All tools see the same data: one joint SentencePiece model (nmt's own, from `prepare_corpus`, or
with `--tokenizer standalone` one trained here with the same settings), the same cleaned
training pairs, and the pieces as whitespace-separated words, so the peers' own tokenization is
off. Every process runs with OMP_NUM_THREADS=MKL_NUM_THREADS=--threads. The peers run from their
own virtual environments under bench/ (git-ignored), created here when missing.

Results: a table on stdout with the ratios nmt/peer, and JSON (--json). Method and notes:
scripts/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PEERS_DIR = Path(__file__).resolve().parent / "peers"
TOOLS = ("nmt", "joeynmt", "onmt")
MODELS = ("transformer", "rnn_bahdanau")
WARMUP_STEPS = 4000  # the shared learning-rate warm-up of throughput runs (irrelevant to speed, kept equal)
PEAK_LR = 5e-4

# Exact install recipes (see scripts/BENCHMARKS.md for why each extra is there).
TORCH_SPEC = "torch==2.13.0"
PEER_INSTALLS: dict[str, list[list[str]]] = {
    "joeynmt": [["joeynmt==2.3.0", "importlib_metadata", "sentencepiece==0.2.0"]],
    "onmt": [["--no-deps", "OpenNMT-py==3.5.1"],
             ["configargparse", "tensorboard", "pyyaml", "sacrebleu", "rapidfuzz", "six", "numpy",
              "pyonmttok", "spacy", "pyahocorasick", "fasttext-wheel"]],
}
PEER_MODULES = {"joeynmt": "joeynmt", "onmt": "onmt"}


@dataclass(frozen=True)
class Budget:
    """How long each tool trains and how much it decodes."""

    train_steps: int  # optimizer updates per training run
    log_every: int  # updates per throughput interval; the first interval is warm-up and dropped
    decode_sentences: int  # test sentences decoded (0 = all 1,000)
    train_minutes: float = 0.0  # > 0: then train again for this long at the measured speed, decode that model


FULL = Budget(train_steps=60, log_every=10, decode_sentences=0)
QUICK = Budget(train_steps=6, log_every=2, decode_sentences=40)


# ----------------------------------------------------------------------------- log parsing

JOEY_INTERVAL = re.compile(r"Step:\s+(\d+),.*Tokens per Sec:\s+([\d.]+)")
JOEY_PARAMS = re.compile(r"Total params:\s+(\d+)")
JOEY_GENERATION = re.compile(r"Generation took\s+([\d.]+)\[sec\]")
ONMT_INTERVAL = re.compile(
    r"Step\s+(\d+)(?:/\s*\d+)?;.*?bsz:\s*(\d+)/\s*(\d+)/\s*(\d+);\s*(\d+)/\s*(\d+) tok/s")
ONMT_PARAMS = re.compile(r"\* number of parameters:\s+(\d+)")
ONMT_TRANSLATION_TIME = re.compile(r"Total translation time \(s\):\s+([\d.]+)")
NMT_INTERVAL = re.compile(r"step=(\d+) .*?tok/s=([\d.]+)")
NMT_PARAMS = re.compile(r"\(([\d,]+) parameters\)")
GENERATION_SECONDS = re.compile(r"generation_seconds=([\d.]+)")


@dataclass(frozen=True)
class Interval:
    """One throughput log line: the update it ends at and the real target tokens/s since the last one."""

    step: int
    tgt_tokens_per_s: float
    tgt_tokens_per_batch: float | None = None  # only OpenNMT-py logs it


def parse_joey_intervals(text: str) -> list[Interval]:
    """Joey NMT: `Epoch 1, Step: 20, Batch Loss: ..., Tokens per Sec: 612, Lr: ...`."""
    return [Interval(int(m[1]), float(m[2])) for m in JOEY_INTERVAL.finditer(text)]


def parse_onmt_intervals(text: str) -> list[Interval]:
    """OpenNMT-py: `Step 20/ 60; ...; bsz: 3980/3702/127; 2100/1953 tok/s; 40 sec;` (src/tgt)."""
    return [Interval(int(m[1]), float(m[6]), float(m[3])) for m in ONMT_INTERVAL.finditer(text)]


def parse_nmt_intervals(text: str) -> list[Interval]:
    """nmt: `step=20 epoch=1 loss=7.1 lr=2.5e-06 tok/s=3120 elapsed=25s`."""
    return [Interval(int(m[1]), float(m[2])) for m in NMT_INTERVAL.finditer(text)]


def parse_parameters(tool: str, text: str) -> int | None:
    pattern = {"joeynmt": JOEY_PARAMS, "onmt": ONMT_PARAMS, "nmt": NMT_PARAMS}[tool]
    match = pattern.search(text)
    return int(match[1].replace(",", "")) if match else None


def parse_generation_seconds(tool: str, text: str) -> float | None:
    """The tool's own decoding time, model loading excluded; the last such line of the log."""
    pattern = {"joeynmt": JOEY_GENERATION, "onmt": ONMT_TRANSLATION_TIME, "nmt": GENERATION_SECONDS}[tool]
    found = pattern.findall(text)
    return float(found[-1]) if found else None


def steady_state(intervals: Sequence[Interval]) -> float | None:
    """Median tokens/s over the intervals after the first (start-up, allocator and cache warm-up)."""
    kept = [interval.tgt_tokens_per_s for interval in intervals[1:]]
    return statistics.median(kept) if kept else None


# ----------------------------------------------------------------------------- processes

@dataclass(frozen=True)
class ProcessResult:
    wall_s: float
    peak_rss_mb: float
    log: str


def run_measured(command: Sequence[str], *, log_path: Path, env: dict[str, str], cwd: Path) -> ProcessResult:
    """Run `command` to completion with stdout+stderr in `log_path`; its own peak RSS from wait4."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(list(command), stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall_s = time.monotonic() - started
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if process.returncode != 0:
        tail = "\n".join(text.splitlines()[-25:])
        raise RuntimeError(f"{' '.join(map(str, command[:4]))} ... failed ({process.returncode}); "
                           f"log {log_path}:\n{tail}")
    return ProcessResult(wall_s=wall_s, peak_rss_mb=usage.ru_maxrss / 1024, log=text)  # ru_maxrss: KiB


def thread_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), CUDA_VISIBLE_DEVICES="",
               TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1", HYDRA_FULL_ERROR="1")
    return env


# ----------------------------------------------------------------------------- peer venvs

def venv_python(bench_dir: Path, tool: str) -> Path:
    return bench_dir / f"{tool}-venv" / "bin" / "python"


def ensure_venv(bench_dir: Path, tool: str, *, torch_index: str | None) -> Path:
    """Create bench/<tool>-venv with torch 2.13 CPU first, then the peer; reuse it when it imports."""
    python = venv_python(bench_dir, tool)
    if python.exists() and subprocess.run([python, "-c", f"import {PEER_MODULES[tool]}"],
                                          capture_output=True).returncode == 0:
        return python
    print(f"installing {tool} into {python.parents[1]} (torch first, so no CUDA build is pulled)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", python.parents[1]], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, TORCH_SPEC, *(["--index-url", torch_index] if torch_index else [])], check=True)
    for packages in PEER_INSTALLS[tool]:
        subprocess.run([*pip, *packages], check=True)
    return python


# ----------------------------------------------------------------------------- shared data

@dataclass
class PieceData:
    """The corpus as whitespace-separated pieces, written once under <work>/data for every tool."""

    directory: Path
    train_src_lengths: np.ndarray
    train_tgt_lengths: np.ndarray
    test_sources: list[str]  # raw (cleaned) German, what nmt translates
    test_references: list[str]  # raw (cleaned) English, what every tool is scored against
    tokenizer: str  # "nmt" or "standalone"
    vocab_size: int


def normalise(text: str) -> str:
    """NFC and collapsed whitespace, as nmt's cleaning does; used only by the standalone route."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def read_gz_lines(path: Path) -> list[str]:
    import gzip
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return [line.rstrip("\n") for line in file]


def nmt_splits(corpus_dir: Path, overrides: Sequence[str]) -> tuple[dict[str, tuple], int]:
    """split -> (src piece lines, tgt piece lines, src texts, tgt texts) from nmt's own pipeline, and V."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from nmt.data.corpus import CorpusConfig
    from nmt.data.pipeline import prepare_corpus
    from nmt.data.tokenizer import TokenizerConfig

    with initialize_config_module(config_module="nmt.configs", version_base=None):
        cfg = compose("config", overrides=nmt_data_overrides(corpus_dir, overrides))
    plain = lambda node: OmegaConf.to_container(node, resolve=True)  # noqa: E731
    corpus = prepare_corpus(CorpusConfig(**plain(cfg.data)), TokenizerConfig(**plain(cfg.tokenizer)),
                            data_dir=REPO / cfg.paths.data_dir)
    tokenizer = corpus.tokenizer
    splits = {}
    for split, name in (("train", "train"), ("validation", "val"), ("test", "test")):
        dataset = corpus.splits[split]
        splits[name] = ([" ".join(tokenizer.src_pieces(ids)) for ids in dataset["src_ids"]],
                        [" ".join(tokenizer.tgt_pieces(ids)) for ids in dataset["tgt_ids"]],
                        list(dataset["src"]), list(dataset["tgt"]))
    return splits, tokenizer.tgt_vocab_size


def standalone_splits(corpus_dir: Path, *, vocab_size: int, work_dir: Path) -> dict[str, tuple]:
    """Like `nmt_splits`, with one joint unigram SentencePiece model trained here (peers-only runs)."""
    import sentencepiece as spm

    texts = {}
    for name, stem in (("train", "train"), ("val", "val"), ("test", "test_2016_flickr")):
        pairs = [(normalise(de), normalise(en)) for de, en in zip(read_gz_lines(corpus_dir / f"{stem}.de.gz"),
                                                                 read_gz_lines(corpus_dir / f"{stem}.en.gz"))]
        texts[name] = [(de, en) for de, en in pairs if de and en]
    model_path = work_dir / "spm.model"
    if not model_path.exists():
        sentences = [side for pair in texts["train"] for side in pair]
        with (work_dir / "spm.model").open("wb") as model_file:
            spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=model_file,
                                           vocab_size=vocab_size, model_type="unigram", character_coverage=1.0,
                                           pad_id=0, unk_id=1, bos_id=2, eos_id=3, minloglevel=2)
    processor = spm.SentencePieceProcessor(model_file=str(model_path))
    encode = lambda lines: [" ".join(pieces) for pieces in processor.encode(lines, out_type=str)]  # noqa: E731
    return {name: (encode([de for de, _ in pairs]), encode([en for _, en in pairs]),
                   [de for de, _ in pairs], [en for _, en in pairs]) for name, pairs in texts.items()}


def nmt_data_overrides(corpus_dir: Path, extra: Sequence[str]) -> list[str]:
    return ["data=multi30k", f"data.local_dir={corpus_dir}", *extra]


def prepare_pieces(args: argparse.Namespace) -> PieceData:
    """Write train/val/test piece files, the peers' vocabularies and the references under <work>/data."""
    directory = args.work_dir / "data"
    directory.mkdir(parents=True, exist_ok=True)
    if args.tokenizer == "nmt":
        splits, vocab_size = nmt_splits(args.corpus, args.nmt_overrides)
    else:
        splits, vocab_size = standalone_splits(args.corpus, vocab_size=args.vocab_size, work_dir=directory), args.vocab_size
    for name, (src, tgt, _, _) in splits.items():
        write_lines(directory / f"{name}.de", src)
        write_lines(directory / f"{name}.en", tgt)
    counts = Counter(piece for lines in splits["train"][:2] for line in lines for piece in line.split())
    ranked = [piece for piece, _ in counts.most_common()]
    write_lines(directory / "joey_vocab.txt", ranked)
    write_lines(directory / "onmt_vocab.txt", [f"{piece}\t{counts[piece]}" for piece in ranked])
    train_src, train_tgt = splits["train"][0], splits["train"][1]
    return PieceData(directory=directory,
                     train_src_lengths=np.array([len(line.split()) for line in train_src]),
                     train_tgt_lengths=np.array([len(line.split()) for line in train_tgt]),
                     test_sources=splits["test"][2], test_references=splits["test"][3],
                     tokenizer=args.tokenizer, vocab_size=vocab_size)


def write_lines(path: Path, lines: Sequence[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def detokenize(line: str) -> str:
    """Whitespace-separated SentencePiece pieces -> text, as SentencePiece decodes (specials dropped)."""
    pieces = [piece for piece in line.split() if not (piece.startswith("<") and piece.endswith(">"))]
    return "".join(pieces).replace("\u2581", " ").strip()


# ----------------------------------------------------------------------------- batch calibration

def joey_batches(src_lengths: np.ndarray, tgt_lengths: np.ndarray, batch_size: int, *, seed: int = 1) -> list[np.ndarray]:
    """Joey NMT's TokenBatchSampler: random order, cut when rows * max(src+1, tgt+1) >= batch_size."""
    batches, current, longest = [], [], 0
    for index in np.random.default_rng(seed).permutation(len(src_lengths)):
        longest = max(longest, src_lengths[index] + 1, tgt_lengths[index] + 1)
        current.append(index)
        if longest * len(current) >= batch_size:
            batches.append(np.array(current))
            current, longest = [], 0
    return batches + ([np.array(current)] if current else [])


def onmt_batches(src_lengths: np.ndarray, tgt_lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """OpenNMT-py's batch_iter over one sorted bucket (the whole corpus fits its 262,144 examples):
    rows * max(src, BOS+tgt+EOS) >= batch_size closes a batch, without the row that overflowed it."""
    order = np.lexsort((tgt_lengths, src_lengths))
    batches, current, longest = [], [], 0
    for index in order:
        current.append(index)
        longest = max(longest, src_lengths[index], tgt_lengths[index] + 2)
        size = longest * len(current)
        if size >= batch_size:
            if size > batch_size and len(current) > 1:
                batches.append(np.array(current[:-1]))
                current = current[-1:]
                longest = max(src_lengths[current[0]], tgt_lengths[current[0]] + 2)
            else:
                batches.append(np.array(current))
                current, longest = [], 0
    return batches + ([np.array(current)] if current else [])


def nmt_batches(src_lengths: np.ndarray, tgt_lengths: np.ndarray, batch_tokens: int) -> list[np.ndarray]:
    from nmt.data.batching import token_batches
    return token_batches(src_lengths, tgt_lengths, batch_tokens=batch_tokens, shuffle=True, seed=1, epoch=1)


def mean_real_tgt(batches: Sequence[np.ndarray], tgt_lengths: np.ndarray) -> float:
    """Mean real target tokens per batch: target pieces + EOS, as every tool counts them."""
    return float(np.mean([(tgt_lengths[batch] + 1).sum() for batch in batches]))


def calibrate(make_batches: Callable[[int], list[np.ndarray]], tgt_lengths: np.ndarray, target: float) -> tuple[int, float]:
    """Smallest batch-size setting whose batches hold >= `target` real target tokens on average."""
    low, high = int(target) // 2, int(target) * 8
    while high - low > 8:
        middle = (low + high) // 2
        if mean_real_tgt(make_batches(middle), tgt_lengths) >= target:
            high = middle
        else:
            low = middle
    return high, mean_real_tgt(make_batches(high), tgt_lengths)


# ----------------------------------------------------------------------------- one tool

@dataclass
class ToolResult:
    tool: str
    model: str
    batch_setting: int = 0
    real_tgt_per_batch: float = 0.0  # from replaying the tool's batching rule (OpenNMT-py: its log)
    parameters: int | None = None
    train_steps: int = 0
    budget_minutes: float = 0.0  # time-budget run: minutes of training at the measured speed ...
    budget_updates: int | None = None  # ... as updates, and the wall seconds that run took
    budget_train_wall_s: float | None = None
    train_tgt_tokens_per_s: float | None = None
    train_intervals: list[float] = field(default_factory=list)
    train_wall_s: float | None = None
    train_peak_rss_mb: float | None = None
    decode_sentences: int = 0
    decode_generation_s: float | None = None
    decode_wall_s: float | None = None
    decode_sentences_per_s: float | None = None
    decode_peak_rss_mb: float | None = None
    bleu: float | None = None
    mean_hypothesis_words: float | None = None
    error: str | None = None


class Runner:
    """Trains and decodes one (tool, model) in <work>/<tool>/<model>, the same budget for all."""

    def __init__(self, args: argparse.Namespace, data: PieceData, budget: Budget) -> None:
        self.args, self.data, self.budget = args, data, budget
        self.env = thread_env(args.threads)
        count = budget.decode_sentences or len(data.test_sources)
        self.decode_count = min(count, len(data.test_sources))
        write_lines(data.directory / "decode.de", (data.directory / "test.de").read_text(encoding="utf-8")
                    .splitlines()[:self.decode_count])
        write_lines(data.directory / "decode.en", (data.directory / "test.en").read_text(encoding="utf-8")
                    .splitlines()[:self.decode_count])
        write_lines(data.directory / "decode.raw.de", data.test_sources[:self.decode_count])

    def run(self, tool: str, model: str, batch_setting: int, real_tgt: float) -> ToolResult:
        result = ToolResult(tool=tool, model=model, batch_setting=batch_setting, real_tgt_per_batch=real_tgt,
                            train_steps=self.budget.train_steps, decode_sentences=self.decode_count)
        run_dir = self.args.work_dir / tool / model
        run_dir.mkdir(parents=True, exist_ok=True)
        train, decode = {"nmt": (self._train_nmt, self._decode_nmt), "joeynmt": (self._train_joey, self._decode_joey),
                         "onmt": (self._train_onmt, self._decode_onmt)}[tool]
        try:
            if self.args.decode_only:
                checkpoint = self._existing_checkpoint(tool, model)
                result.budget_minutes = self.budget.train_minutes
            else:
                checkpoint = self._train(result, train, run_dir)
            hypotheses_path = run_dir / "hypotheses.txt"
            decodes = [decode(checkpoint, run_dir, hypotheses_path) for _ in range(self.args.decode_repeats)]
            decoded = median_decode(tool, decodes)
            hypotheses = hypotheses_path.read_text(encoding="utf-8").splitlines()
            if tool != "nmt":
                hypotheses = [detokenize(line) for line in hypotheses]
            self._score(result, decoded, hypotheses)
        except (RuntimeError, FileNotFoundError, subprocess.CalledProcessError) as error:
            result.error = str(error).splitlines()[0]
            print(f"  {tool} {model}: FAILED: {error}", file=sys.stderr, flush=True)
        return result

    def _train(self, result: ToolResult, train, run_dir: Path) -> Path:
        """The throughput run (and the time-budget run when asked for): its figures into `result`; the checkpoint."""
        trained, intervals, checkpoint = train(result.model, run_dir, result.batch_setting, self.budget)
        result.train_wall_s, result.train_peak_rss_mb = trained.wall_s, trained.peak_rss_mb
        result.parameters = parse_parameters(result.tool, trained.log)
        result.train_intervals = [interval.tgt_tokens_per_s for interval in intervals]
        result.train_tgt_tokens_per_s = steady_state(intervals)
        logged_batch = [interval.tgt_tokens_per_batch for interval in intervals[1:] if interval.tgt_tokens_per_batch]
        if logged_batch:
            result.real_tgt_per_batch = statistics.mean(logged_batch)
        if self.budget.train_minutes > 0 and result.train_tgt_tokens_per_s:
            checkpoint = self._budget_run(result, train, result.model, result.batch_setting)
        return checkpoint

    def _existing_checkpoint(self, tool: str, model: str) -> Path:
        """--decode-only: the checkpoint an earlier run left (its time-budget run's with --train-minutes)."""
        run_dir = self.args.work_dir / tool / (f"{model}-budget" if self.budget.train_minutes > 0 else model)
        if tool == "onmt":
            found = sorted(run_dir.glob("model_step_*.pt"), key=lambda path: int(path.stem.rsplit("_", 1)[1]))
            checkpoint = found[-1] if found else run_dir / "model_step_N.pt"
        else:
            checkpoint = run_dir / {"nmt": "checkpoints/last.pt", "joeynmt": "model/latest.ckpt"}[tool]
        if not checkpoint.exists():
            raise FileNotFoundError(f"--decode-only found no checkpoint {checkpoint}; train it first "
                                    "(the same command without --decode-only)")
        return checkpoint

    def _budget_run(self, result: ToolResult, train, model: str, batch_setting: int) -> Path:
        """Train afresh for the updates that `train_minutes` buy at the speed just measured; its checkpoint."""
        updates = max(1, round(self.budget.train_minutes * 60 * result.train_tgt_tokens_per_s
                               / result.real_tgt_per_batch))
        print(f"  {result.tool}: {self.budget.train_minutes:g} minutes at {result.train_tgt_tokens_per_s:,.0f} "
              f"tgt tok/s = {updates} updates", flush=True)
        budget_dir = self.args.work_dir / result.tool / f"{model}-budget"
        budget_dir.mkdir(parents=True, exist_ok=True)
        budget = replace(self.budget, train_steps=updates, log_every=max(self.budget.log_every, updates // 20))
        trained, _, checkpoint = train(model, budget_dir, batch_setting, budget)
        result.budget_minutes, result.budget_updates = self.budget.train_minutes, updates
        result.budget_train_wall_s = trained.wall_s
        return checkpoint

    def _score(self, result: ToolResult, decoded: ProcessResult, hypotheses: list[str]) -> None:
        import sacrebleu

        references = self.data.test_references[:self.decode_count]
        if len(hypotheses) != len(references):
            raise RuntimeError(f"{result.tool} wrote {len(hypotheses)} hypotheses for {len(references)} sentences")
        result.decode_wall_s, result.decode_peak_rss_mb = decoded.wall_s, decoded.peak_rss_mb
        result.decode_generation_s = parse_generation_seconds(result.tool, decoded.log)
        seconds = result.decode_generation_s or decoded.wall_s
        result.decode_sentences_per_s = len(hypotheses) / seconds
        result.bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
        result.mean_hypothesis_words = statistics.mean(len(line.split()) for line in hypotheses)

    # -- Joey NMT

    def _joey_config(self, model: str, run_dir: Path, batch_size: int, budget: Budget) -> dict:
        import yaml

        text = (PEERS_DIR / "joeynmt.yaml").read_text(encoding="utf-8").format(
            model=model, model_dir=run_dir / "model", data_dir=self.data.directory, batch_size=batch_size,
            steps=budget.train_steps, log_every=budget.log_every, lr=self.args.lr, warmup_steps=self.args.warmup_steps,
            validation_freq=budget.train_steps * 10**6, beam_size=self.args.beam,
            length_penalty=self.args.length_penalty, decode_batch_tokens=self.args.decode_batch_tokens)
        config = yaml.safe_load(text)
        config.update(yaml.safe_load((PEERS_DIR / f"joeynmt_{model}.yaml").read_text(encoding="utf-8")))
        return config

    def _train_joey(self, model: str, run_dir: Path, batch_size: int, budget: Budget):
        import yaml

        config_path = run_dir / "train.yaml"
        config_path.write_text(yaml.safe_dump(self._joey_config(model, run_dir, batch_size, budget)), encoding="utf-8")
        python = venv_python(self.args.bench_dir, "joeynmt")
        trained = run_measured([python, "-m", "joeynmt", "train", config_path, "--skip-test"],
                               log_path=run_dir / "train.out", env=self.env, cwd=run_dir)
        return trained, parse_joey_intervals(trained.log), run_dir / "model" / "latest.ckpt"

    def _decode_joey(self, checkpoint: Path, run_dir: Path, hypotheses_path: Path) -> ProcessResult:
        import yaml

        config = yaml.safe_load((run_dir / "train.yaml").read_text(encoding="utf-8"))
        del config["data"]["dev"], config["data"]["train"]
        config["data"]["test"] = str(self.data.directory / "decode")
        config["testing"]["load_model"] = str(checkpoint)
        config_path = run_dir / "decode.yaml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        python = venv_python(self.args.bench_dir, "joeynmt")
        prefix = run_dir / "joey_out"
        decoded = run_measured([python, "-m", "joeynmt", "test", config_path, "--output-path", prefix],
                               log_path=run_dir / "decode.out", env=self.env, cwd=run_dir)
        hypotheses_path.write_text(Path(f"{prefix}.test").read_text(encoding="utf-8"), encoding="utf-8")
        return decoded

    # -- OpenNMT-py

    def _train_onmt(self, model: str, run_dir: Path, batch_size: int, budget: Budget):
        import yaml

        model_block = yaml.safe_load((PEERS_DIR / f"onmt_{model}.yaml").read_text(encoding="utf-8"))
        model_size = model_block["hidden_size"]
        # noam: lr(step) = learning_rate * d^-0.5 * min(step^-0.5, step * warmup^-1.5), peak at the warm-up's end.
        noam_learning_rate = self.args.lr * (model_size * self.args.warmup_steps) ** 0.5
        text = (PEERS_DIR / "onmt.yaml").read_text(encoding="utf-8").format(
            run_dir=run_dir, data_dir=self.data.directory, steps=budget.train_steps,
            validation_freq=budget.train_steps * 10**6, log_every=budget.log_every,
            batch_size=batch_size, noam_learning_rate=f"{noam_learning_rate:.6f}", warmup_steps=self.args.warmup_steps)
        config = {**yaml.safe_load(text), **model_block}
        config_path = run_dir / "train.yaml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        onmt_train = venv_python(self.args.bench_dir, "onmt").parent / "onmt_train"
        trained = run_measured([onmt_train, "-config", config_path], log_path=run_dir / "train.out",
                               env=self.env, cwd=run_dir)
        return trained, parse_onmt_intervals(trained.log), run_dir / f"model_step_{budget.train_steps}.pt"

    def _decode_onmt(self, checkpoint: Path, run_dir: Path, hypotheses_path: Path) -> ProcessResult:
        onmt_translate = venv_python(self.args.bench_dir, "onmt").parent / "onmt_translate"
        return run_measured(
            [onmt_translate, "-model", checkpoint, "-src", self.data.directory / "decode.de", "-output",
             hypotheses_path, "-beam_size", str(self.args.beam), "-batch_type", "tokens", "-batch_size",
             str(self.args.decode_batch_tokens), "-max_length_ratio", str(self.args.max_len_a),
             "-length_penalty", "wu", "-alpha", str(self.args.length_penalty), "-report_time", "-gpu", "-1"],
            log_path=run_dir / "decode.out", env=self.onmt_translate_env, cwd=run_dir)

    @property
    def onmt_translate_env(self) -> dict[str, str]:
        # OpenNMT-py 3.5.1 pickles argparse.Namespace into its checkpoints and calls torch.load
        # without weights_only, which torch >= 2.6 refuses; the checkpoint was written by the
        # run just above, so the old, unsafe default is acceptable for this one process.
        return {**self.env, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}

    # -- nmt

    def _train_nmt(self, model: str, run_dir: Path, batch_tokens: int, budget: Budget):
        overrides = [
            *nmt_data_overrides(self.args.corpus, self.args.nmt_overrides), f"model={model}",
            # Transformer: one matrix for source, target and output embeddings, as the peers' configs;
            # RNN: nmt can only tie the target embedding with an output layer of its width, so all
            # three tools keep separate embeddings there.
            f"model.tie_embeddings={'all' if model == 'transformer' else 'none'}",
            f"hydra.run.dir={run_dir}", f"trainer.threads={self.args.threads}",
            f"trainer.batch_tokens={batch_tokens}", f"trainer.max_steps={budget.train_steps}",
            "trainer.max_epochs=0", f"trainer.log_every={budget.log_every}", "trainer.validate_every=0",
            "trainer.val_max_sentences=50", "trainer.tensorboard=false", "trainer.lr_schedule=inverse_sqrt",
            f"trainer.warmup_steps={self.args.warmup_steps}", f"trainer.lr={self.args.lr}", "trainer.label_smoothing=0.1",
            "trainer.clip_grad_norm=1.0", "trainer.keep_checkpoints=0", "trainer.device=cpu",
        ]
        trained = run_measured([sys.executable, "-m", "nmt.train", *overrides], log_path=run_dir / "train.out",
                               env=self.env, cwd=REPO)
        return trained, parse_nmt_intervals(trained.log), run_dir / "checkpoints" / "last.pt"

    def _decode_nmt(self, checkpoint: Path, run_dir: Path, hypotheses_path: Path) -> ProcessResult:
        return run_measured(
            [sys.executable, Path(__file__).resolve(), "decode-nmt", "--ckpt", checkpoint,
             "--src", self.data.directory / "decode.raw.de", "--out", hypotheses_path, "--beam", str(self.args.beam),
             "--length-penalty", str(self.args.length_penalty), "--max-len-a", str(self.args.max_len_a),
             "--batch-tokens", str(self.args.decode_batch_tokens), "--threads", str(self.args.threads),
             "--precision", self.args.nmt_decode_precision],
            log_path=run_dir / "decode.out", env=self.env, cwd=REPO)


def median_decode(tool: str, decodes: Sequence[ProcessResult]) -> ProcessResult:
    """The decoding run with the median generation time (wall time where the tool logs none)."""
    def seconds(decoded: ProcessResult) -> float:
        return parse_generation_seconds(tool, decoded.log) or decoded.wall_s

    return sorted(decodes, key=seconds)[(len(decodes) - 1) // 2]


def decode_nmt_main(args: argparse.Namespace) -> None:
    """Child process: translate a file with nmt's Translator and print the generation time."""
    import torch

    from nmt.checkpoint import load_checkpoint, restore_model, restore_tokenizer
    from nmt.device import configure_cpu
    from nmt.translation import Translator

    configure_cpu(args.threads)
    checkpoint = load_checkpoint(args.ckpt)
    model, tokenizer = restore_model(checkpoint, device="cpu"), restore_tokenizer(checkpoint)
    model.eval()
    sources = args.src.read_text(encoding="utf-8").splitlines()
    translator = Translator(model, tokenizer, beam_size=args.beam, length_penalty=args.length_penalty,
                            max_len_a=args.max_len_a, max_len_b=args.max_len_b, batch_tokens=args.batch_tokens,
                            device=torch.device("cpu"), precision=args.precision)
    started = time.perf_counter()
    hypotheses = translator.translate(sources)
    print(f"generation_seconds={time.perf_counter() - started:.4f}")
    write_lines(args.out, hypotheses)


# ----------------------------------------------------------------------------- report

ROWS = (  # (label, ToolResult field, how nmt compares: "ratio" nmt/peer or "diff" nmt-peer, format)
    ("parameters", "parameters", "ratio", "{:,.0f}"),
    ("real tgt tokens / batch", "real_tgt_per_batch", "ratio", "{:,.0f}"),
    ("train tgt tokens/s", "train_tgt_tokens_per_s", "ratio", "{:,.0f}"),
    ("train peak RSS (MB)", "train_peak_rss_mb", "ratio", "{:,.0f}"),
    ("budget minutes", "budget_minutes", "ratio", "{:g}"),
    ("budget updates", "budget_updates", "ratio", "{:,.0f}"),
    ("budget run wall (s)", "budget_train_wall_s", "ratio", "{:,.0f}"),
    ("decode sentences", "decode_sentences", "ratio", "{:,.0f}"),
    ("beam decode sent/s", "decode_sentences_per_s", "ratio", "{:,.1f}"),
    ("beam decode time (s)", "decode_generation_s", "ratio", "{:,.1f}"),
    ("BLEU", "bleu", "diff", "{:.2f}"),
    ("mean hypothesis words", "mean_hypothesis_words", "ratio", "{:.1f}"),
    ("decode peak RSS (MB)", "decode_peak_rss_mb", "ratio", "{:,.0f}"),
)


def format_table(results: Sequence[ToolResult]) -> str:
    """One block per model: a row per figure, a column per tool, then nmt/peer ratios (BLEU: nmt - peer)."""
    lines = []
    for model in dict.fromkeys(result.model for result in results):
        by_tool = {result.tool: result for result in results if result.model == model}
        tools = [tool for tool in TOOLS if tool in by_tool]
        peers = [tool for tool in tools if tool != "nmt"] if "nmt" in by_tool else []
        header = ["", *tools, *[f"nmt/{peer}" for peer in peers]]
        rows = [header]
        for label, name, compare, fmt in ROWS:
            values = {tool: getattr(by_tool[tool], name) for tool in tools}
            row = [label, *[("-" if values[tool] is None else fmt.format(values[tool])) for tool in tools]]
            for peer in peers:
                row.append(compare_cell(values["nmt"], values[peer], compare))
            rows.append(row)
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        lines.append(f"== {model}")
        for row in rows:
            lines.append("  ".join(cell.ljust(widths[0]) if column == 0 else cell.rjust(widths[column])
                                   for column, cell in enumerate(row)))
        failed = [f"{result.tool}: {result.error}" for result in by_tool.values() if result.error]
        lines.extend(f"   failed {line}" for line in failed)
    return "\n".join(lines)


def compare_cell(ours: float | None, peer: float | None, compare: str) -> str:
    if ours is None or peer is None:
        return "-"
    if compare == "diff":
        return f"{ours - peer:+.2f}"
    return f"{ours / peer:.2f}x" if peer else "-"


# ----------------------------------------------------------------------------- main

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    decode = sub.add_parser("decode-nmt", help="internal: time nmt's Translator on a file")
    decode.add_argument("--ckpt", type=Path, required=True)
    decode.add_argument("--src", type=Path, required=True)
    decode.add_argument("--out", type=Path, required=True)
    decode.add_argument("--beam", type=int, default=5)
    decode.add_argument("--length-penalty", type=float, default=1.0)
    decode.add_argument("--max-len-a", type=float, default=1.5)
    decode.add_argument("--max-len-b", type=int, default=1)
    decode.add_argument("--batch-tokens", type=int, default=4096)
    decode.add_argument("--threads", type=int, default=2)
    decode.add_argument("--precision", choices=("32", "bf16"), default="32")

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
                        help="nmt's decoding precision (bf16: autocast; the peers decode in fp32)")
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
    return args


def budget_from(args: argparse.Namespace) -> Budget:
    base = QUICK if args.quick else FULL
    return Budget(train_steps=args.steps or base.train_steps, log_every=args.log_every or base.log_every,
                  decode_sentences=base.decode_sentences if args.decode_sentences is None else args.decode_sentences,
                  train_minutes=args.train_minutes)


def calibrate_batches(tools: Sequence[str], data: PieceData, target: float) -> dict[str, tuple[int, float]]:
    """Each tool's batch-size setting that gives about `target` real target tokens per batch."""
    rules = {
        "joeynmt": lambda size: joey_batches(data.train_src_lengths, data.train_tgt_lengths, size),
        "onmt": lambda size: onmt_batches(data.train_src_lengths, data.train_tgt_lengths, size),
        "nmt": lambda size: nmt_batches(data.train_src_lengths, data.train_tgt_lengths, size),
    }
    return {tool: calibrate(rules[tool], data.train_tgt_lengths, target) for tool in tools}


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.command == "decode-nmt":
        decode_nmt_main(args)
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
    results = []
    for model in args.models:
        for tool in args.tools:
            work = "decoding the earlier run's model" if args.decode_only else f"{budget.train_steps} updates"
            print(f"{model} / {tool}: {work}, {runner.decode_count} test sentences", flush=True)
            result = runner.run(tool, model, *batches[tool])
            print(f"  train {_show(result.train_tgt_tokens_per_s)} tgt tok/s, decode "
                  f"{_show(result.decode_sentences_per_s)} sent/s, BLEU {_show(result.bleu)}", flush=True)
            results.append(result)
    table = format_table(results)
    print("\n" + table)
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "scripts/bench_peers.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "smoke": args.quick, "budget": asdict(budget), "threads": args.threads, "tokenizer": data.tokenizer,
        "vocab_size": data.vocab_size, "results": [asdict(result) for result in results], "table": table,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\nwrote {args.json}")


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


if __name__ == "__main__":
    main()
