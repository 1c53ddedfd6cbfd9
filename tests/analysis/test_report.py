"""The report writer: a self-contained, escaped report.html, a report.json that round-trips the numbers, figures."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import matplotlib.image as plt_image
import numpy as np
import pytest
from matplotlib.figure import Figure

from nmt.analysis.core import SectionResult, Table
from nmt.analysis.report import FIGURE_DPI, format_number, json_value, summary_text, write_report

META = {"checkpoint": "runs/a&b/best.pt", "corpus": "tiny en-fr", "split": "test", "sentences": 3,
        "date": "2025-01-01T12:00:00+00:00", "nmt_version": "0.1.0", "seconds": 1.25}


def heatmap(values: list[list[float]]) -> Figure:
    figure = Figure(figsize=(2, 2))
    figure.subplots().imshow(np.array(values))
    return figure


def make_results() -> list[SectionResult]:
    """A section with everything (figures, a table of floats, ints and NaN, text to escape) and a not-applicable one."""
    heads = SectionResult(
        name="heads", title="Attention heads <by role>",
        numbers={"entropy": np.float32(1.25), "per_head": np.array([[0.5, 0.25], [1.0, 2.0]]), "count": np.int64(7),
                 "missing": float("nan"), "unbounded": -math.inf, "nested": {"kinds": ("local", "global")}},
        tables=[Table(caption="Per head & layer", header=["head", "entropy", "tokens"],
                      rows=[["encoder.0.self <h1>", 0.123456, 3], ["decoder.1.cross", float("nan"), np.int64(12)],
                            ["a & b", 1234.5678, 0]])],
        figures={"entropy": heatmap([[0.0, 1.0], [1.0, 0.0]]), "by layer": heatmap([[0.2, 0.8], [0.6, 0.4]])},
        summary=["mean entropy 1.25 < 2 & rising"],
        text="Read <script>alert(1)</script> & compare.\n\nA second paragraph.",
    )
    pronouns = SectionResult(name="pronouns", title="Pronouns",
                             not_applicable="the corpus has no <pronoun_test> split & no pronouns= file was given.")
    return [heads, pronouns]


@pytest.fixture()
def written(tmp_path: Path):
    results = make_results()
    return results, write_report(results, tmp_path / "report", meta=META)


def test_report_html_json_and_every_figure_as_png_and_svg_are_written(written) -> None:
    _, paths = written
    assert paths.html.is_file() and paths.json.is_file()
    assert sorted(p.name for p in paths.figures.iterdir()) == [
        "heads-by_layer.png", "heads-by_layer.svg", "heads-entropy.png", "heads-entropy.svg"]
    assert (paths.figures / "heads-entropy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (paths.figures / "heads-entropy.svg").read_text(encoding="utf-8")
    assert sorted(p.name for p in paths.html.parent.iterdir()) == ["figures", "report.html", "report.json"]


def test_html_inlines_every_figure_and_references_nothing_outside_itself(written) -> None:
    _, paths = written
    page = paths.html.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    inlined = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(inlined) == page.count("<img") == 2
    assert {base64.b64decode(data) for data in inlined} == {
        (paths.figures / name).read_bytes() for name in ("heads-entropy.png", "heads-by_layer.png")}
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert links and all(link.startswith(("data:", "#")) for link in links)


def test_table_of_contents_links_every_section(written) -> None:
    results, paths = written
    page = paths.html.read_text(encoding="utf-8")
    targets = re.findall(r'<a href="#([^"]+)">', page)
    assert len(targets) == len(results)
    assert all(f'<section id="{target}">' in page for target in targets)


def test_every_text_is_escaped(written) -> None:
    _, paths = written
    page = paths.html.read_text(encoding="utf-8")
    assert "Read &lt;script&gt;alert(1)&lt;/script&gt; &amp; compare.</p>" in page
    assert "<p>A second paragraph.</p>" in page
    assert "Attention heads &lt;by role&gt;" in page
    assert "<caption>Per head &amp; layer</caption>" in page
    assert "<td>encoder.0.self &lt;h1&gt;</td>" in page and "<td>a &amp; b</td>" in page
    assert "<li>mean entropy 1.25 &lt; 2 &amp; rising</li>" in page
    assert "<td>runs/a&amp;b/best.pt</td>" in page  # the header shows meta


def test_table_numbers_are_formatted_for_reading(written) -> None:
    _, paths = written
    page = paths.html.read_text(encoding="utf-8")
    rows = re.findall(r"<tr>(.*?)</tr>", page.split("<caption>Per head")[1].split("</table>")[0])
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
    assert [cell for cell in cells if cell] == [["encoder.0.self &lt;h1&gt;", "0.123", "3"],
                                                ["decoder.1.cross", "–", "12"], ["a &amp; b", "1234.6", "0"]]


def test_a_section_that_does_not_apply_shows_its_sentence_instead(written) -> None:
    _, paths = written
    section = paths.html.read_text(encoding="utf-8").split('<section id="section-pronouns">')[1]
    assert ("Not applicable: the corpus has no &lt;pronoun_test&gt; split &amp; no pronouns= file was given."
            in section)
    assert "<table" not in section and "<img" not in section


def test_json_round_trips_the_numbers_with_nan_as_null(written) -> None:
    _, paths = written
    report = json.loads(paths.json.read_text(encoding="utf-8"))
    assert report["meta"] == META
    heads, pronouns = report["sections"]
    assert heads["numbers"] == {"entropy": 1.25, "per_head": [[0.5, 0.25], [1.0, 2.0]], "count": 7, "missing": None,
                                "unbounded": None, "nested": {"kinds": ["local", "global"]}}
    assert isinstance(heads["numbers"]["count"], int)
    assert heads["tables"] == [{"caption": "Per head & layer", "header": ["head", "entropy", "tokens"],
                                "rows": [["encoder.0.self <h1>", 0.123456, 3], ["decoder.1.cross", None, 12],
                                         ["a & b", 1234.5678, 0]]}]
    assert heads["figures"] == ["figures/heads-entropy.png", "figures/heads-by_layer.png"]
    assert (heads["summary"], heads["not_applicable"]) == (["mean entropy 1.25 < 2 & rising"], None)
    assert pronouns == {"name": "pronouns", "title": "Pronouns", "numbers": {}, "tables": [], "summary": [],
                        "figures": [], "not_applicable": make_results()[1].not_applicable}


def test_figures_are_freed_once_saved(written) -> None:
    results, _ = written
    assert all(not figure.axes for figure in results[0].figures.values())


def test_a_figure_grows_until_a_long_slanted_label_fits_in_its_png_and_svg(tmp_path: Path) -> None:
    figure = Figure(figsize=(2, 2), layout="constrained")  # far too small for the label: the layout collapses
    ax = figure.subplots()
    ax.imshow(np.eye(2))
    ax.set_xticks([0, 1], labels=["because", "Donaudampfschifffahrtsgesellschaft"], rotation=60, ha="right",
                  rotation_mode="anchor")
    write_report([SectionResult(name="sentence", title="One sentence", figures={"words": figure})],
                 tmp_path / "report", meta=META)
    png = plt_image.imread(tmp_path / "report" / "figures" / "sentence-words.png")
    svg = (tmp_path / "report" / "figures" / "sentence-words.svg").read_text(encoding="utf-8")
    width_pt, height_pt = (float(v) for v in re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg).groups())
    assert png.shape[0] > 2 * FIGURE_DPI * 1.5 and png.shape[1] > 2 * FIGURE_DPI  # grown from 2 x 2 inches
    assert (width_pt / 72, height_pt / 72) == pytest.approx((png.shape[1] / FIGURE_DPI, png.shape[0] / FIGURE_DPI),
                                                            abs=0.02)  # the SVG is the same grown figure


def test_the_same_results_write_the_same_files(tmp_path: Path) -> None:
    first = write_report(make_results(), tmp_path / "first", meta=META)
    second = write_report(make_results(), tmp_path / "second", meta=META)
    for relative in ("report.html", "report.json", "figures/heads-entropy.svg", "figures/heads-entropy.png"):
        assert (first.html.parent / relative).read_bytes() == (second.html.parent / relative).read_bytes(), relative


def test_summary_lists_each_section_with_its_lines_or_why_it_does_not_apply() -> None:
    assert summary_text(make_results()) == (
        "Attention heads <by role>:\n"
        "  mean entropy 1.25 < 2 & rising\n"
        "Pronouns: not applicable: the corpus has no <pronoun_test> split & no pronouns= file was given.")


@pytest.mark.parametrize(("value", "text"), [
    (3, "3"), (np.int32(-12), "-12"), (0.0, "0"), (0.5, "0.500"), (0.0004567, "4.57e-04"), (1.23456, "1.23"),
    (123.456, "123.5"), (2.5e7, "2.50e+07"), (float("nan"), "–"), (np.float32("inf"), "∞"), (None, "–"),
    (True, "yes"), ("word", "word"),
])
def test_numbers_are_formatted_by_magnitude(value, text) -> None:
    assert format_number(value) == text


def test_a_value_json_cannot_hold_is_an_error_naming_where_it_is() -> None:
    with pytest.raises(TypeError, match=r"section heads numbers\.bad holds a object"):
        json_value({"bad": object()}, where="section heads numbers")
