"""What a training run writes besides checkpoints: key=value log lines, metrics.jsonl, TensorBoard events."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nmt.training.distributed import Ranks

log = logging.getLogger(__name__)


class LossMeter:
    """Summed NLL (kept on the device, so adding never syncs), token count and training time of an interval.

    Under several processes each adds its own batches and `read_and_reset` (called by every
    rank at the same update) sums them over the ranks.
    """

    def __init__(self, device: torch.device, ranks: Ranks | None = None) -> None:
        self.device = device
        self.ranks = ranks or Ranks()
        self._reset()

    def _reset(self) -> None:
        self.nll_sum = torch.zeros((), device=self.device)
        self.tokens = 0
        self.start = time.monotonic()

    def add(self, nll_sum: Tensor, tokens: int) -> None:
        self.nll_sum += nll_sum
        self.tokens += tokens

    def exclude(self, seconds: float) -> None:
        """Leave `seconds` (validation, saving) out of the throughput."""
        self.start += seconds

    def read_and_reset(self) -> tuple[float | None, float]:
        """(mean NLL per target token or None when empty, target tokens per second); syncs with the device."""
        nll_sum, tokens = self.ranks.sum_floats([float(self.nll_sum), self.tokens])
        loss = nll_sum / tokens if tokens else None
        tokens_per_s = tokens / max(time.monotonic() - self.start, 1e-9)
        self._reset()
        return loss, tokens_per_s


class RunLogger:
    """One `key=value` log line per interval and per validation; metrics.jsonl; optional TensorBoard.

    A resumed run keeps the metrics.jsonl lines up to its checkpoint's step and drops the
    ones the killed process wrote after it, so the file reads as one uninterrupted run.
    """

    def __init__(self, output_dir: Path, *, tensorboard: bool, resumed_step: int | None) -> None:
        output_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = output_dir / "metrics.jsonl"
        kept = _lines_up_to(self.metrics_path, resumed_step) if resumed_step is not None else []
        self.metrics_path.write_text("".join(kept), encoding="utf-8")
        self.writer = _summary_writer(output_dir / "tensorboard", purge_step=resumed_step) if tensorboard else None

    def interval(self, *, step: int, epoch: int, loss: float | None, lr: float, tokens_per_s: float,
                 elapsed: float) -> None:
        loss_text = "n/a" if loss is None else f"{loss:.4f}"
        log.info("step=%d epoch=%d loss=%s lr=%.3e tok/s=%.0f elapsed=%.0fs",
                 step, epoch, loss_text, lr, tokens_per_s, elapsed)
        if self.writer is not None:
            if loss is not None:
                self.writer.add_scalar("train/loss", loss, step)
            self.writer.add_scalar("train/lr", lr, step)
            self.writer.add_scalar("train/tokens_per_s", tokens_per_s, step)

    def validation(self, record: dict[str, Any]) -> None:
        log.info("validation " + " ".join(f"{key}={_text(value)}" for key, value in record.items()))
        with self.metrics_path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key in ("val_loss", "val_bleu", "val_chrf", "train_loss"):
                if record.get(key) is not None:
                    self.writer.add_scalar(key.replace("_", "/", 1), record[key], record["step"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class SilentRunLogger(RunLogger):
    """What ranks other than 0 log: nothing (rank 0 writes the run's log lines, metrics and events)."""

    def __init__(self) -> None:
        self.writer = None

    def interval(self, **values: Any) -> None:
        pass

    def validation(self, record: dict[str, Any]) -> None:
        pass


def _lines_up_to(path: Path, step: int) -> list[str]:
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = []
    for line in lines:
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by the kill
    return kept


def _summary_writer(log_dir: Path, *, purge_step: int | None):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("tensorboard is not installed, so no TensorBoard events are written; "
                    "pip install tensorboard, or set trainer.tensorboard=false to silence this.")
        return None
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def thousands(value: float) -> str:
    """A rate for a log line: 12.3k above 1,000, else whole."""
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


def five_decimals(value: float | None) -> float | None:
    """A metric as metrics.jsonl stores it."""
    return None if value is None else round(value, 5)


def two_decimals(value: float | None) -> str:
    """A score for a log line; n/a when there is none."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}"
