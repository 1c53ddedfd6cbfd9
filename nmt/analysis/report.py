"""The analysis report: one self-contained report.html, a report.json of every number, and the figures.

report.html opens offline in any browser: the CSS is inline, every figure is inlined as a
base64 PNG, every text is escaped, and nothing is fetched or run (no URL, no script). Each
figure is also saved as figures/<section>-<stem>.png and .svg for papers and slides.
report.json holds the run's `meta` and, per section, its numbers, tables, summary lines and
figure file names (numpy values converted, NaN and infinities written as null).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from nmt.analysis.core import SectionResult, Table
from nmt.plotting import save_figure

HTML_NAME, JSON_NAME, FIGURES_DIR = "report.html", "report.json", "figures"
FIGURE_DPI = 110  # inline PNGs: sharp on screen, a few tens of kB each
MISSING = "–"  # shown for NaN and None in tables and in the header
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.45; color: #222; }
h1 { margin-bottom: 0.3rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2.5rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
table.meta th { width: 12rem; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.85rem; color: #555; }
ul.summary { background: #f7f9fc; border-left: 3px solid #4a78b5; padding: 0.6rem 0.6rem 0.6rem 2rem; }
p.not-applicable { color: #666; font-style: italic; }
nav ol { padding-left: 1.5rem; }
"""


@dataclass(frozen=True)
class ReportPaths:
    """Where a report was written."""

    html: Path
    json: Path
    figures: Path  # folder of <section>-<stem>.png / .svg


def write_report(results: Sequence[SectionResult], output_dir: Path, *, meta: Mapping[str, Any]) -> ReportPaths:
    """Write report.html, report.json and figures/ into `output_dir` (created if needed).

    `meta` describes the run (checkpoint, model, corpus, split, sentences, date, time taken, ...),
    shown as the header of the page in its order. Figures are cleared once saved: they can be large.
    """
    output_dir = Path(output_dir)
    figures_dir = output_dir / FIGURES_DIR
    figures_dir.mkdir(parents=True, exist_ok=True)
    figure_files = {id(result): _save_figures(result, figures_dir) for result in results}
    paths = ReportPaths(html=output_dir / HTML_NAME, json=output_dir / JSON_NAME, figures=figures_dir)
    report = {"meta": json_value(dict(meta), where="meta"),
              "sections": [_section_json(result, figure_files[id(result)]) for result in results]}
    _write_atomically(paths.json, json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    _write_atomically(paths.html, _page(results, figure_files, meta=meta, figures_dir=figures_dir))
    return paths


def summary_text(results: Sequence[SectionResult]) -> str:
    """The short summary printed on stdout: each section's title with its summary lines, or why it does not apply."""
    lines = []
    for result in results:
        if result.not_applicable is not None:
            lines.append(f"{result.title}: not applicable: {result.not_applicable}")
        else:
            lines += [f"{result.title}:", *(f"  {line}" for line in result.summary)]
    return "\n".join(lines)


def format_number(value: Any) -> str:
    """A table cell as text: ints as they are, floats to 3 significant places or so, NaN and None as a dash."""
    if value is None:
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return MISSING
        if math.isinf(number):
            return "∞" if number > 0 else "-∞"
        magnitude = abs(number)
        if magnitude == 0:
            return "0"
        if magnitude >= 1e6 or magnitude < 1e-3:
            return f"{number:.2e}"
        return f"{number:.1f}" if magnitude >= 100 else f"{number:.2f}" if magnitude >= 1 else f"{number:.3f}"
    return str(value)


def json_value(value: Any, *, where: str) -> Any:
    """`value` as plain JSON types: numpy/torch scalars and arrays become numbers and lists, NaN and ±inf None.

    Anything else that JSON cannot hold is a TypeError naming `where` (a section returned a wrong type).
    """
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return json_value(value.tolist(), where=where)
    if isinstance(value, np.generic):
        return json_value(value.item(), where=where)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): json_value(item, where=f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [json_value(item, where=f"{where}[{index}]") for index, item in enumerate(items)]
    raise TypeError(f"{where} holds a {type(value).__name__}, which report.json cannot hold")


# ---------------------------------------------------------------------------------------
# Figures


def _save_figures(result: SectionResult, figures_dir: Path) -> dict[str, str]:
    """Save each figure of `result` as PNG and SVG; returns file stem -> PNG file name."""
    names = {}
    for stem, figure in result.figures.items():
        base = f"{_file_part(result.name)}-{_file_part(stem)}"
        _save_figure(figure, figures_dir / f"{base}.png", figures_dir / f"{base}.svg")
        names[stem] = f"{base}.png"
    return names


def _save_figure(figure: Figure, png_path: Path, svg_path: Path) -> None:
    # Off-screen, never pyplot; grown first when its labels need more room than its size gives them.
    save_figure(figure, png_path, dpi=FIGURE_DPI)
    # The PNG's draw placed the axes (in figure fractions, so for any dpi); laying them out again for
    # the SVG would cost as much as the whole PNG.
    figure.set_layout_engine("none")
    # A fixed salt and no date keep the SVG the same from run to run; text stays text (smaller, editable).
    with matplotlib.rc_context({"svg.hashsalt": "nmt-analysis", "svg.fonttype": "none"}):
        figure.savefig(svg_path, metadata={"Date": None})
    figure.clear()


def _file_part(name: str) -> str:
    """`name` made safe for a file name (letters, digits, - _ . only)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip(".") or "figure"


# ---------------------------------------------------------------------------------------
# report.json


def _section_json(result: SectionResult, figure_files: dict[str, str]) -> dict[str, Any]:
    where = f"section {result.name}"
    return {
        "name": result.name,
        "title": result.title,
        "not_applicable": result.not_applicable,
        "numbers": json_value(result.numbers, where=f"{where} numbers"),
        "tables": [{"caption": table.caption, "header": json_value(table.header, where=f"{where} table header"),
                    "rows": json_value(table.rows, where=f"{where} table '{table.caption}'")}
                   for table in result.tables],
        "summary": list(result.summary),
        "figures": [f"{FIGURES_DIR}/{name}" for name in figure_files.values()],
    }


def _write_atomically(path: Path, text: str) -> None:
    """Write through a temporary sibling renamed into place: a killed run never leaves half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


# ---------------------------------------------------------------------------------------
# report.html


def _page(results: Sequence[SectionResult], figure_files: dict[int, dict[str, str]], *, meta: Mapping[str, Any],
          figures_dir: Path) -> str:
    title = f"Attention analysis of {meta['checkpoint']}" if "checkpoint" in meta else "Attention analysis"
    contents = "".join(f'<li><a href="#{_anchor(result)}">{_escape(result.title)}</a></li>' for result in results)
    sections = "".join(_section_html(result, figure_files[id(result)], figures_dir) for result in results)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<header>\n<h1>Attention analysis</h1>\n{_meta_table(meta)}</header>\n"
        f"<nav>\n<h2>Contents</h2>\n<ol>{contents}</ol>\n</nav>\n{sections}</body>\n</html>\n"
    )


def _meta_table(meta: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{_escape(str(key).replace('_', ' '))}</th><td>{_escape(_meta_text(value))}</td></tr>\n"
                   for key, value in meta.items())
    return f'<table class="meta">\n{rows}</table>\n'


def _meta_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_meta_text(item) for item in value)
    if isinstance(value, (float, np.floating)):
        return format_number(value)
    return MISSING if value is None else str(value)


def _section_html(result: SectionResult, figure_files: dict[str, str], figures_dir: Path) -> str:
    parts = [f'<section id="{_anchor(result)}">\n<h2>{_escape(result.title)}</h2>\n']
    if result.not_applicable is not None:
        parts.append(f'<p class="not-applicable">Not applicable: {_escape(result.not_applicable)}</p>\n')
        return "".join(parts) + "</section>\n"
    parts += [f"<p>{_escape(paragraph.strip())}</p>\n" for paragraph in re.split(r"\n\s*\n", result.text)
              if paragraph.strip()]
    if result.summary:
        parts.append('<ul class="summary">' + "".join(f"<li>{_escape(line)}</li>" for line in result.summary)
                     + "</ul>\n")
    parts += [_table_html(table) for table in result.tables]
    for stem, name in figure_files.items():
        encoded = base64.b64encode((figures_dir / name).read_bytes()).decode("ascii")
        parts.append(f'<figure><img src="data:image/png;base64,{encoded}" alt="{_escape(stem)}">'
                     f"<figcaption>{_escape(f'{FIGURES_DIR}/{name} (also as .svg)')}</figcaption></figure>\n")
    return "".join(parts) + "</section>\n"


def _table_html(table: Table) -> str:
    header = "".join(f"<th>{_escape(str(cell))}</th>" for cell in table.header)
    rows = "".join("<tr>" + "".join(_cell_html(cell) for cell in row) + "</tr>\n" for row in table.rows)
    return (f"<table>\n<caption>{_escape(table.caption)}</caption>\n<thead><tr>{header}</tr></thead>\n"
            f"<tbody>\n{rows}</tbody>\n</table>\n")


def _cell_html(cell: Any) -> str:
    is_number = isinstance(cell, (int, float, np.integer, np.floating)) and not isinstance(cell, (bool, np.bool_))
    css = ' class="number"' if is_number else ""
    return f"<td{css}>{_escape(format_number(cell))}</td>"


def _anchor(result: SectionResult) -> str:
    return f"section-{_file_part(result.name)}"


def _escape(text: str) -> str:
    return html.escape(text, quote=True)
