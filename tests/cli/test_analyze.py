"""nmt-analyze through its real entry point: config mistakes before any loading, the data reaching the
sections (gold alignments, pronoun pairs, the one-sentence view), and a report written on the tiny checkpoint."""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from tiny_checkpoint import PAIRS, build_tiny_checkpoint, one_cpu_thread  # noqa: F401 (autouse)

from nmt.analysis import sections
from nmt.analysis.core import AnalysisContext, SectionResult
from nmt.cli import analyze
from nmt.cli.translate import translate
from nmt.data.corpus import CorpusConfig
from nmt.data.pipeline import load_clean_pairs

TEST_PAIRS = PAIRS[-6:]  # the tiny corpus's test split


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A directory holding corpus/ (train/valid/test .tsv) and checkpoints/best.pt."""
    directory = tmp_path_factory.mktemp("analyze_cli")
    build_tiny_checkpoint(directory)
    return directory


def run_analyze(overrides: list[str], *, monkeypatch, capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `nmt-analyze overrides...` run in this process, as its console script does."""
    monkeypatch.setattr(sys, "argv", ["nmt-analyze", *overrides])
    status = 0
    try:
        analyze.main()
    except SystemExit as stopped:
        status = stopped.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def counting_section(context: AnalysisContext) -> SectionResult:
    """A real section reporting what reached the context: sentences, gold links, pronoun pairs, the sentence view."""
    aligned = [example for example in context.examples if example.alignment is not None]
    return SectionResult(
        name="counting", title="What the sections see",
        numbers={
            "sources": [example.src for example in context.examples],
            "aligned": len(aligned),
            "first_sure": sorted(aligned[0].alignment.sure) if aligned else None,
            "first_possible": sorted(aligned[0].alignment.possible) if aligned else None,
            "pronoun_pairs": None if context.pronouns is None else len(context.pronouns),
            "first_pronoun_pair": None if not context.pronouns else [
                context.pronouns[0].src, context.pronouns[0].correct, context.pronouns[0].contrast],
            "text": context.text, "word": context.word, "seed": context.seed, "heads": context.heads,
        },
        summary=[f"{len(context.examples)} sentences"],
    )


@pytest.fixture()
def counting(monkeypatch):
    monkeypatch.setattr(sections, "SECTIONS", {"counting": counting_section})


@pytest.mark.parametrize(("overrides", "fragment"), [
    (["sections=[heads,attn]", "output={tmp}/report"],
     ("sections names the unknown section 'attn'; valid sections are: heads, alignment, ablation, faithfulness, "
      "coverage, pronouns, sentence.")),
    (["sections=[]", "output={tmp}/report"], "sections=[] names no section"),
    ([], "no output directory given: pass output=DIR"),
    (["output={tmp}/file.txt"], "output={tmp}/file.txt is a file; name a directory"),
    (["ckpt=[{ckpt},{ckpt}]", "output={tmp}/report"],
     "ckpt names 2 checkpoints (an ensemble); analysis needs one nmt checkpoint"),
    (["ckpt={tmp}/export", "output={tmp}/report"],
     "ckpt={tmp}/export is a CTranslate2 export; analysis needs one nmt checkpoint (.pt)"),
    (["alignments={tmp}/none.align", "output={tmp}/report"], "alignments={tmp}/none.align does not exist"),
    (["max_sentences=0", "output={tmp}/report"], "max_sentences=0 is too small"),
    (["split=dev", "output={tmp}/report"], "split='dev' is not a valid choice"),
    (["device=tpu", "output={tmp}/report"], "device=tpu is not a device"),
    (["ckpt={tmp}/none.pt", "output={tmp}/report"], "none.pt does not exist"),
    (["split=pronoun_test", "output={tmp}/report"], "split=pronoun_test is not in corpus 'tiny'; choose one of"),
    (["beam_size=0", "output={tmp}/report"], "beam_size=0 is too small; it must be 1 or more"),
    (["length_penalty=11", "output={tmp}/report"], "length_penalty=11.0 is above 10; GNMT's alpha is usually"),
])
def test_a_config_mistake_is_one_error_line_and_writes_nothing(overrides, fragment, tiny, tmp_path, monkeypatch,
                                                               capsys):
    (tmp_path / "file.txt").write_text("notes\n", encoding="utf-8")
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "model.bin").write_bytes(b"\0")  # what tells a CTranslate2 export
    ckpt = tiny / "checkpoints" / "best.pt"
    given = [o.format(tmp=tmp_path, ckpt=ckpt) for o in overrides]
    if not any(o.startswith("ckpt=") for o in given):
        given.append(f"ckpt={ckpt}")
    status, _, stderr = run_analyze([*given, f"paths.data_dir={tmp_path / 'data'}"], monkeypatch=monkeypatch,
                                    capsys=capsys)
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert status == 2, stderr
    assert len(errors) == 1 and fragment.format(tmp=tmp_path) in errors[0], stderr
    assert not (tmp_path / "report").exists()


def test_the_first_pairs_and_a_gold_alignment_file_reach_the_sections(tiny, tmp_path, monkeypatch, capsys, caplog,
                                                                      counting):
    caplog.set_level(logging.INFO, logger="nmt.analysis.sections")
    alignments = tmp_path / "test.align"
    alignments.write_text("0-0 1-1 2?3\n" + "0-0\n" * 5, encoding="utf-8")  # one line per pair of the split
    monkeypatch.chdir(tmp_path)
    status, stdout, stderr = run_analyze(
        [f"ckpt={tiny / 'checkpoints' / 'best.pt'}", f"paths.data_dir={tmp_path / 'data'}", "sections=counting",
         "max_sentences=4", f"alignments={alignments}", "output=report", "threads=1", "seed=3"],
        monkeypatch=monkeypatch, capsys=capsys)
    assert status == 0, stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    (section,) = report["sections"]
    numbers = section["numbers"]
    assert numbers["sources"] == [src for src, _ in TEST_PAIRS[:4]]
    assert numbers["aligned"] == 4
    assert numbers["first_sure"] == [[0, 0], [1, 1]]
    assert numbers["first_possible"] == [[0, 0], [1, 1], [2, 3]]
    assert numbers["pronoun_pairs"] is None  # the tiny corpus has no pronoun_test split
    assert (numbers["text"], numbers["word"], numbers["seed"]) == (analyze.DEFAULT_TEXT, analyze.DEFAULT_WORD, 3)
    assert numbers["heads"] == {f"{side}.{layer}.{kind}": 2 for side, kinds in (("encoder", ["self"]),
                                ("decoder", ["self", "cross"])) for layer in (0, 1) for kind in kinds}
    meta = report["meta"]
    assert (meta["corpus"], meta["split"], meta["sentences"]) == ("tiny en-fr", "test", 4)
    assert (meta["skipped_beyond_max_sentences"], meta["skipped_empty"], meta["gold_alignments"]) == (2, 0, 4)
    assert meta["checkpoint"] == str(tiny / "checkpoints" / "best.pt") and meta["model"].startswith("Transformer, ")
    assert stdout.splitlines() == ["What the sections see:", "  4 sentences", "report: report/report.html"]
    assert any(message.startswith("section=counting seconds=") for message in caplog.messages)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "report", "test.align"]  # no run directory


def test_an_alignment_file_must_cover_the_whole_split_not_only_the_analysed_pairs(tiny, tmp_path, monkeypatch,
                                                                                   capsys, counting):
    alignments = tmp_path / "short.align"
    alignments.write_text("0-0\n" * 4, encoding="utf-8")  # 4 lines for a split of 6 pairs
    status, _, stderr = run_analyze(
        [f"ckpt={tiny / 'checkpoints' / 'best.pt'}", f"paths.data_dir={tmp_path / 'data'}", "sections=[counting]",
         "max_sentences=4", f"alignments={alignments}", f"output={tmp_path / 'report'}"],
        monkeypatch=monkeypatch, capsys=capsys)
    assert status == 2 and stderr.startswith("error: "), stderr
    assert not (tmp_path / "report").exists()


def test_the_sample_corpus_gives_its_pronoun_pairs_and_the_sentence_view_takes_text_and_word(
        tiny, tmp_path, monkeypatch, capsys, counting):
    corpus = ["data=sample", "data.sample_sizes.train=30", "data.sample_sizes.validation=5",
              "data.sample_sizes.test=5", "data.pronoun_test_size=8"]
    status, _, stderr = run_analyze(
        [f"ckpt={tiny / 'checkpoints' / 'best.pt'}", f"paths.data_dir={tmp_path / 'data'}", *corpus,
         "sections=[counting]", "text=Le chat dort .", "word=chat", f"output={tmp_path / 'report'}"],
        monkeypatch=monkeypatch, capsys=capsys)
    assert status == 0, stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    numbers = report["sections"][0]["numbers"]
    pairs = load_clean_pairs(CorpusConfig.from_dict({
        "name": "sample", "source": "sample", "src_lang": "en", "tgt_lang": "fr", "vocab_size": 1000, "seed": 1,
        "sample_sizes": {"train": 30, "validation": 5, "test": 5}, "pronoun_test_size": 8,
        "clean": {"max_len": 80, "max_ratio": 3.0, "dedup": False}}), data_dir=tmp_path / "data")
    first = pairs["pronoun_test"][0]
    assert numbers["pronoun_pairs"] == report["meta"]["pronoun_pairs"] == 8
    assert numbers["first_pronoun_pair"] == [first["src"], first["tgt"], first["contrast"]]
    assert numbers["sources"] == list(pairs["test"]["src"])
    expected_aligned = 5 if "alignment" in pairs["test"].column_names else 0
    assert numbers["aligned"] == report["meta"]["gold_alignments"] == expected_aligned
    assert (numbers["text"], numbers["word"]) == ("Le chat dort .", "chat")


def test_heads_section_report_on_the_tiny_checkpoint(tiny, tmp_path, monkeypatch, capsys):
    status, stdout, stderr = run_analyze(
        [f"ckpt={tiny / 'checkpoints' / 'best.pt'}", f"paths.data_dir={tmp_path / 'data'}", "sections=[heads]",
         "threads=1", f"output={tmp_path / 'report'}"], monkeypatch=monkeypatch, capsys=capsys)
    assert status == 0, stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    assert [section["name"] for section in report["sections"]] == ["heads"]
    assert report["meta"]["sentences"] == len(TEST_PAIRS)
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert 'id="section-heads"' in page and "<script" not in page
    assert all((tmp_path / "report" / name).is_file() for name in report["sections"][0]["figures"])
    assert stdout.rstrip().endswith(f"report: {tmp_path / 'report' / 'report.html'}")


def test_every_section_on_a_tiny_transformer_report_parses_and_stdout_matches_report_json(tiny, tmp_path, monkeypatch,
                                                                                          capsys):
    from html.parser import HTMLParser

    alignments = tmp_path / "test.align"
    alignments.write_text("".join(" ".join(f"{i}-{i}" for i in range(min(len(s.split()), len(t.split())))) + "\n"
                                  for s, t in TEST_PAIRS), encoding="utf-8")
    status, stdout, stderr = run_analyze(
        [f"ckpt={tiny / 'checkpoints' / 'best.pt'}", f"paths.data_dir={tmp_path / 'data'}", f"alignments={alignments}",
         "threads=1", f"output={tmp_path / 'report'}"], monkeypatch=monkeypatch, capsys=capsys)
    assert status == 0, stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    assert [section["name"] for section in report["sections"]] == list(sections.SECTIONS)
    for section in report["sections"]:
        assert all((tmp_path / "report" / name).is_file() for name in section["figures"]), section["name"]
        for line in section["summary"]:
            assert line in stdout  # what stdout prints is what report.json holds
    best = next(s for s in report["sections"] if s["name"] == "alignment")["numbers"]["best"]
    assert f"AER {best['aer']:.2f}" in stdout

    class Collect(HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.open = 0, []

        def handle_starttag(self, tag, attrs):
            self.images += tag == "img"
            if tag in ("section", "table", "div"):
                self.open.append(tag)

        def handle_endtag(self, tag):
            if tag in ("section", "table", "div"):
                assert self.open.pop() == tag  # well nested

    parser = Collect()
    parser.feed((tmp_path / "report" / "report.html").read_text(encoding="utf-8"))
    parser.close()
    assert parser.open == [] and parser.images == sum(len(s["figures"]) for s in report["sections"]) > 0


def test_a_gold_alignment_naming_a_word_beyond_its_pair_is_an_error_naming_the_line(tiny, tmp_path, monkeypatch,
                                                                                    capsys):
    alignments = tmp_path / "test.align"
    alignments.write_text("0-0\n0-0\n0-40\n0-0\n0-0\n0-0\n", encoding="utf-8")
    status, _, stderr = run_analyze(
        [f"ckpt={tiny / 'checkpoints' / 'best.pt'}", f"paths.data_dir={tmp_path / 'data'}", f"alignments={alignments}",
         "sections=[alignment]", f"output={tmp_path / 'report'}"], monkeypatch=monkeypatch, capsys=capsys)
    assert status == 2
    expected = f"error: alignments={alignments} line 3 has the gold link 0-40 but its source has "
    assert stderr.startswith(expected), stderr


def test_a_model_without_attention_gets_what_applies_and_one_line_for_each_section_that_does_not(tmp_path,
                                                                                                  monkeypatch, capsys):
    from tiny_checkpoint import RNN_MODEL_CONFIG

    checkpoint = build_tiny_checkpoint(tmp_path / "plain", model_config={**RNN_MODEL_CONFIG, "attention": "none"})
    status, stdout, stderr = run_analyze(
        [f"ckpt={checkpoint}", f"paths.data_dir={tmp_path / 'data'}", "threads=1", f"output={tmp_path / 'report'}"],
        monkeypatch=monkeypatch, capsys=capsys)
    assert status == 0, stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    reasons = {section["name"]: section["not_applicable"] for section in report["sections"]}
    assert all(reasons[name] for name in ("heads", "alignment", "ablation", "faithfulness", "coverage", "sentence"))
    for name, reason in reasons.items():
        if reason:
            assert stdout.count(reason) == 1, name  # one line each on stdout


@pytest.mark.parametrize(("src_lang", "text", "warned"), [
    ("de", None, True),                       # the English default on a German source
    ("de", "Der Hund schläft .", False),      # a sentence given: no warning
    ("en", None, False),                      # the default suits an English source
])
def test_the_default_english_sentence_on_a_model_of_another_source_language_is_warned_about(
        src_lang, text, warned, tiny, tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.setattr(sections, "SECTIONS", {"sentence": counting_section})
    corpus = tmp_path / "corpus"
    for stem, pairs in (("train", TEST_PAIRS), ("valid", TEST_PAIRS), ("test", TEST_PAIRS)):
        corpus.mkdir(exist_ok=True)
        (corpus / f"{stem}.{src_lang}").write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
        (corpus / f"{stem}.fr").write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    status, _, stderr = run_analyze(
        [f"ckpt={tiny / 'checkpoints' / 'best.pt'}", f"paths.data_dir={tmp_path / 'data'}", "data=local",
         f"data.local_dir={corpus}", f"data.src_lang={src_lang}", "data.tgt_lang=fr", "sections=[sentence]",
         *([f"text='{text}'", "word=Hund"] if text else []), f"output={tmp_path / 'report'}"],
        monkeypatch=monkeypatch, capsys=capsys)
    assert status == 0, stderr
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any(f"translates from '{src_lang}'" in message for message in warnings) == warned, warnings


def composed(config_name: str, overrides: list[str]):
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        return compose(config_name, overrides=overrides)


def test_the_sentence_view_decodes_with_the_defaults_of_nmt_translate():
    analyze_cfg, translate_cfg = composed("analyze", []), composed("translate", [])
    for key in ("beam_size", "length_penalty", "max_len_a", "max_len_b"):
        assert analyze_cfg[key] == translate_cfg[key], key


@pytest.mark.parametrize(("search", "described"), [
    ([], "beam search, beam_size=5, length_penalty=1"),
    (["beam_size=1"], "greedy search"),
    (["beam_size=3", "length_penalty=0", "max_len_b=4"], "beam search, beam_size=3, length_penalty=0"),
])
def test_the_sentence_view_shows_the_translation_nmt_translate_prints_with_the_same_options(
        search, described, tiny, tmp_path, monkeypatch, capsys):
    text, checkpoint = "the cat sleeps because it is tired .", tiny / "checkpoints" / "best.pt"
    status, stdout, stderr = run_analyze(
        [f"ckpt={checkpoint}", f"paths.data_dir={tmp_path / 'data'}", "sections=[sentence]", f"text='{text}'",
         "word=it", "threads=1", *search, f"output={tmp_path / 'report'}"], monkeypatch=monkeypatch, capsys=capsys)
    assert status == 0, stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    numbers = report["sections"][0]["numbers"]
    printed = io.StringIO()
    translate(composed("translate", [f"ckpt={checkpoint}", f"text='{text}'", *search]), stdout=printed)
    assert numbers["translation"] + "\n" == printed.getvalue()
    assert numbers["search"] == described
    assert f"sentence: {text!r} -> {numbers['translation']!r} ({described})" in stdout  # beside the sentence
