"""The results tables: a column per tool with nmt's ratio to each peer; a row per decoding of nmt's weights."""

from __future__ import annotations

from collections.abc import Sequence

from peers.ctranslate2_rows import WeightsDecoding
from peers.runner import TOOLS, ToolResult

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
        lines.append(f"== {model}")
        lines.extend(aligned(rows, left_columns=1))
        failed = [f"{result.tool}: {result.error}" for result in by_tool.values() if result.error]
        lines.extend(f"   failed {line}" for line in failed)
    return "\n".join(lines)


DECODING_COLUMNS = (  # (label, WeightsDecoding field, format)
    ("sent/s", "sentences_per_s", "{:,.1f}"),
    ("generation (s)", "generation_s", "{:,.1f}"),
    ("BLEU", "bleu", "{:.2f}"),
    ("decode peak RSS (MB)", "peak_rss_mb", "{:,.0f}"),
    ("vs nmt fp32", "speed_vs_nmt_fp32", "{:.2f}x"),
)
ONMT_COLUMN = ("vs onmt beam", "speed_vs_onmt_beam", "{:.2f}x")


def format_decoding_table(compared: Sequence[WeightsDecoding], results: Sequence[ToolResult]) -> str:
    """One block per model: a row per (engine, precision, search) decoding nmt's weights (with the ratios of
    `with_speed_ratios`): its sent/s over nmt fp32's with the same search and, where OpenNMT-py ran, over
    OpenNMT-py's beam search."""
    lines = []
    for model in dict.fromkeys(row.model for row in compared):
        decoded = [row for row in compared if row.model == model]
        onmt_ran = any(result.tool == "onmt" and result.model == model for result in results)
        columns = [*DECODING_COLUMNS, *([ONMT_COLUMN] if onmt_ran else [])]
        rows = [["engine", "precision", "search", *[label for label, _, _ in columns]]]
        for row in decoded:
            figures = [getattr(row, name) for _, name, _ in columns]
            rows.append([row.engine, row.precision, row.search,
                         *["-" if value is None else fmt.format(value) for value, (_, _, fmt) in zip(figures, columns)]])
        lines.append(f"== {model}: decoding nmt's weights")
        lines.extend(aligned(rows, left_columns=3))
        lines.extend(f"   failed {row.label}: {row.error}" for row in decoded if row.error)
        lines.append("   vs: sent/s over nmt fp32's with the same search" +
                     (", and over OpenNMT-py's beam search on its own model" if onmt_ran else ""))
    return "\n".join(lines)


def aligned(rows: Sequence[Sequence[str]], *, left_columns: int) -> list[str]:
    """Table lines: the first `left_columns` columns flush left, the figures flush right."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  ".join(cell.ljust(widths[column]) if column < left_columns else cell.rjust(widths[column])
                      for column, cell in enumerate(row)) for row in rows]


def compare_cell(ours: float | None, peer: float | None, compare: str) -> str:
    if ours is None or peer is None:
        return "-"
    if compare == "diff":
        return f"{ours - peer:+.2f}"
    return f"{ours / peer:.2f}x" if peer else "-"


def show_figure(value: float | None) -> str:
    """A figure for the progress lines: one decimal, "-" where there is none."""
    return "-" if value is None else f"{value:,.1f}"

