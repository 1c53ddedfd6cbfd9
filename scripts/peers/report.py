"""The results table: a column per tool, then nmt's ratio to each peer."""

from __future__ import annotations

from collections.abc import Sequence

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


def show_figure(value: float | None) -> str:
    """A figure for the progress lines: one decimal, "-" where there is none."""
    return "-" if value is None else f"{value:,.1f}"

