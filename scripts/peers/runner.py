"""Training and decoding one tool on one model, and the nmt decoding child process."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from peers.data import REPO, PieceData, detokenize, nmt_data_overrides, write_lines
from peers.logs import (
    parse_generation_seconds,
    parse_joey_intervals,
    parse_nmt_intervals,
    parse_onmt_intervals,
    parse_parameters,
    steady_state,
)
from peers.processes import ProcessResult, run_measured, thread_env, venv_python

PEERS_DIR = Path(__file__).resolve().parent  # the config templates
ENTRY_POINT = PEERS_DIR.parent / "bench_peers.py"  # its `decode-nmt` and `decode-ct2` commands run the children
TOOLS = ("nmt", "joeynmt", "onmt")
MODELS = ("transformer", "rnn_bahdanau")


@dataclass(frozen=True)
class Budget:
    """How long each tool trains and how much it decodes."""

    train_steps: int  # optimizer updates per training run
    log_every: int  # updates per throughput interval; the first interval is warm-up and dropped
    decode_sentences: int  # test sentences decoded (0 = all 1,000)
    train_minutes: float = 0.0  # > 0: then train again for this long at the measured speed, decode that model


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
    checkpoint: str | None = None  # the model decoded
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
            result.checkpoint = str(checkpoint)
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
        result.bleu, result.mean_hypothesis_words = self.score_hypotheses(result.tool, hypotheses)
        result.decode_wall_s, result.decode_peak_rss_mb = decoded.wall_s, decoded.peak_rss_mb
        result.decode_generation_s = parse_generation_seconds(result.tool, decoded.log)
        seconds = result.decode_generation_s or decoded.wall_s
        result.decode_sentences_per_s = len(hypotheses) / seconds

    def score_hypotheses(self, tool: str, hypotheses: list[str]) -> tuple[float, float]:
        """BLEU of detokenized `hypotheses` against the decoded references, and their mean length in words."""
        import sacrebleu

        references = self.data.test_references[:self.decode_count]
        if len(hypotheses) != len(references):
            raise RuntimeError(f"{tool} wrote {len(hypotheses)} hypotheses for {len(references)} sentences")
        bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
        return bleu, statistics.mean(len(line.split()) for line in hypotheses)

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
        trained = run_measured([sys.executable, "-m", "nmt.cli.train", *overrides], log_path=run_dir / "train.out",
                               env=self.env, cwd=REPO)
        return trained, parse_nmt_intervals(trained.log), run_dir / "checkpoints" / "last.pt"

    def _decode_nmt(self, checkpoint: Path, run_dir: Path, hypotheses_path: Path) -> ProcessResult:
        return self.decode_child("decode-nmt", ["--ckpt", checkpoint, "--precision", self.args.nmt_decode_precision],
                                 hypotheses_path, beam=self.args.beam, log_path=run_dir / "decode.out")

    def decode_child(self, command: str, model_arguments: Sequence[str | Path], hypotheses_path: Path, *, beam: int,
                     log_path: Path) -> ProcessResult:
        """A measured `bench_peers.py decode-nmt|decode-ct2` child on decode.raw.de with the shared search settings."""
        return run_measured(
            [sys.executable, ENTRY_POINT, command, *model_arguments,
             "--src", self.data.directory / "decode.raw.de", "--out", hypotheses_path, "--beam", str(beam),
             "--length-penalty", str(self.args.length_penalty), "--max-len-a", str(self.args.max_len_a),
             "--batch-tokens", str(self.args.decode_batch_tokens), "--threads", str(self.args.threads)],
            log_path=log_path, env=self.env, cwd=REPO)


def median_decode(tool: str, decodes: Sequence[ProcessResult]) -> ProcessResult:
    """The decoding run with the median generation time (wall time where the tool logs none)."""
    def seconds(decoded: ProcessResult) -> float:
        return parse_generation_seconds(tool, decoded.log) or decoded.wall_s

    return sorted(decodes, key=seconds)[(len(decodes) - 1) // 2]


def decode_nmt_main(args: argparse.Namespace) -> None:
    """Child process: translate a file with nmt's Translator and print the generation time."""
    import torch

    from nmt.device import configure_cpu
    from nmt.inference.translation import Translator, load_for_translation

    import nmt.inference.translation

    # which checkout this child decodes with (of the module that decodes, not of nmt/__init__.py alone)
    print(f"nmt_package={Path(nmt.inference.translation.__file__).resolve().parents[1]}")
    configure_cpu(args.threads)
    _, model, tokenizer = load_for_translation(args.ckpt, device=torch.device("cpu"))
    translator = Translator(model, tokenizer, beam_size=args.beam, length_penalty=args.length_penalty,
                            max_len_a=args.max_len_a, max_len_b=args.max_len_b, batch_tokens=args.batch_tokens,
                            device=torch.device("cpu"), precision=args.precision)
    timed_translation(translator.translate, args)


def timed_translation(translate: Callable[[list[str]], list[str]], args: argparse.Namespace) -> None:
    """The decoding children's timing: --warm-up's lines first when given (untimed: a process that has decoded
    before, as a server has), then --src's, timed; prints generation_seconds and writes the output to --out."""
    if args.warm_up is not None:
        translate(args.warm_up.read_text(encoding="utf-8").splitlines())
    sources = args.src.read_text(encoding="utf-8").splitlines()
    started = time.perf_counter()
    hypotheses = translate(sources)
    print(f"generation_seconds={time.perf_counter() - started:.4f}")
    write_lines(args.out, hypotheses)

