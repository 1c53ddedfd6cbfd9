"""The text report of scripts/benchmark.py: fixed-width tables of its sections' rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.distributed import DISTRIBUTED_COLUMNS
from benchmarks.scale import SCALE_COLUMNS


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
                                ("attention", "attention vs source length (B=32, T=32)", ATTENTION_COLUMNS),
                                ("scale", "nmt-prepare / nmt-train start-up vs corpus size", SCALE_COLUMNS),
                                ("ddp", "one process vs torchrun ranks (same updates)", DISTRIBUTED_COLUMNS)):
        if key in report:
            parts.append(f"== {title}\n{table(report[key], columns)}")
    return "\n\n".join(parts)
