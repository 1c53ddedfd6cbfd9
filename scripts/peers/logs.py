"""Reading each tool's log: throughput intervals, parameter counts and generation time."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

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

