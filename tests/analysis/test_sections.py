"""The section table and the loop that runs the chosen sections: report order, one log line each, errors kept."""

from __future__ import annotations

import logging

import pytest

from nmt.analysis import sections
from nmt.analysis.core import SectionResult
from nmt.errors import NMTError


def test_sections_are_named_in_report_order() -> None:
    assert list(sections.SECTIONS) == ["heads", "alignment", "ablation", "faithfulness", "coverage", "pronouns",
                                       "sentence"]


def test_chosen_names_come_back_in_report_order_once_each() -> None:
    assert sections.check_section_names(["sentence", "heads", "sentence", "coverage"]) == [
        "heads", "coverage", "sentence"]


@pytest.mark.parametrize(("names", "message"), [
    (["heads", "head"], "sections names the unknown section 'head'; valid sections are: heads, alignment, "),
    ([], r"sections=\[\] names no section"),
])
def test_unknown_or_no_section_names_are_refused(names, message) -> None:
    with pytest.raises(NMTError, match=message):
        sections.check_section_names(names)


def fake_section(name: str, calls: list[str]):
    def section(context) -> SectionResult:
        calls.append(name)
        return SectionResult(name=name, title=name.title(), numbers={"context": context})
    return section


def test_run_sections_runs_the_chosen_ones_in_report_order_and_logs_each(monkeypatch, caplog) -> None:
    calls: list[str] = []
    monkeypatch.setattr(sections, "SECTIONS", {name: fake_section(name, calls) for name in ("a", "b", "c")})
    with caplog.at_level(logging.INFO, logger="nmt.analysis.sections"):
        results = sections.run_sections("the context", ["c", "a"])  # type: ignore[arg-type]
    assert calls == ["a", "c"]
    assert [(r.name, r.numbers["context"]) for r in results] == [("a", "the context"), ("c", "the context")]
    assert [message.split()[0] for message in caplog.messages] == ["section=a", "section=c"]
    assert all(message.split()[1].startswith("seconds=") for message in caplog.messages)


@pytest.mark.parametrize(("error", "message"), [(ValueError("a bug"), "^a bug$"),
                                                (NMTError("a user mistake"), "^section a: a user mistake$")])
def test_an_error_in_a_section_stops_the_run_and_propagates(monkeypatch, error, message) -> None:
    calls: list[str] = []

    def failing(context) -> SectionResult:
        raise error

    monkeypatch.setattr(sections, "SECTIONS", {"a": failing, "b": fake_section("b", calls)})
    with pytest.raises(type(error), match=message):
        sections.run_sections(None, ["a", "b"])  # type: ignore[arg-type]
    assert calls == []
