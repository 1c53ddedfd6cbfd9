"""nmt-evaluate: through `evaluate(cfg)` with composed configs, plus one real command run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from tiny_checkpoint import PAIRS, build_tiny_checkpoint, one_cpu_thread, write_corpus  # noqa: F401 (autouse)

from nmt.cli.evaluate import evaluate
from nmt.errors import NMTError
from nmt.metrics import corpus_bleu, corpus_bleu_lowercased


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("evaluate_cli")
    build_tiny_checkpoint(directory)
    return directory


def config(run_dir: Path, *overrides: str):
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        return compose("evaluate", overrides=[f"ckpt={run_dir / 'checkpoints' / 'best.pt'}",
                                              f"paths.data_dir={run_dir / 'data'}", *overrides])


def test_scores_print_with_signatures_and_are_written_beside_the_checkpoint(run_dir, capsys):
    report = evaluate(config(run_dir, "beam_size=2"))
    printed = capsys.readouterr().out
    assert "BLEU = " in printed and "nrefs:1|case:mixed|eff:no|tok:13a" in printed
    assert "BLEU lowercased = " in printed and "nrefs:1|case:lc|eff:no|tok:13a" in printed
    assert "chrF = " in printed and "TER = " in printed and "BLEU by source length" in printed
    stem = run_dir / "checkpoints" / "best.tiny.test.beam2"
    hypotheses = Path(f"{stem}.hyp.txt").read_text(encoding="utf-8").splitlines()
    written = json.loads(Path(f"{stem}.scores.json").read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(report))
    assert written["num_sentences"] == len(hypotheses) == 6  # the corpus stored in the checkpoint: its test split
    references = [t for _, t in PAIRS[-6:]]
    assert written["bleu"]["score"] == pytest.approx(corpus_bleu(hypotheses, references).score)
    lowercased = corpus_bleu_lowercased(hypotheses, references)
    assert written["bleu_lc"]["score"] == pytest.approx(lowercased.score)
    assert written["bleu_lc"]["signature"] == lowercased.signature
    assert f"BLEU lowercased = {lowercased.score:.2f}  ({lowercased.signature})" in printed
    assert sum(row["sentences"] for row in written["bleu_by_length"]) == 6
    assert all({"bleu", "bleu_lc"} <= set(row) for row in written["bleu_by_length"])
    assert written["pronoun_accuracy"] is None


def test_an_ensemble_with_sampling_scores_one_sample_per_sentence(run_dir, tmp_path, capsys):
    best = run_dir / "checkpoints" / "best.pt"
    report = evaluate(config(run_dir, f"ckpt=[{best},{best}]", "sampling=true", "seed=3", "max_sentences=2",
                             f"output={tmp_path}"))
    assert report["checkpoint"] == f"{best} + {best}" and report["num_sentences"] == 2
    assert report["search"]["sampling"] == {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "seed": 3}
    assert (tmp_path / "best+best.tiny.test.sample3.scores.json").is_file()
    assert "sampling with temperature 1.0, top_k 0, top_p 1.0, seed 3" in capsys.readouterr().out


def test_a_data_preset_on_the_command_line_replaces_the_stored_corpus(run_dir, tmp_path):
    other = write_corpus(tmp_path / "other")
    report = evaluate(config(run_dir, "data=local", f"data.local_dir={other}", "data.name=other",
                             "data.src_lang=en", "data.tgt_lang=fr", "split=validation", "beam_size=1",
                             "max_sentences=3", f"output={tmp_path / 'scores'}"))
    assert (report["corpus"], report["split"], report["num_sentences"]) == ("other", "validation", 3)
    assert (tmp_path / "scores" / "best.other.validation.beam1.scores.json").is_file()


def test_sample_corpus_reports_pronoun_accuracy(run_dir, tmp_path, capsys):
    report = evaluate(config(run_dir, "data=sample", "data.sample_sizes.train=30", "data.sample_sizes.validation=5",
                             "data.sample_sizes.test=5", "data.pronoun_test_size=8", "beam_size=1",
                             f"output={tmp_path}"))
    accuracy = report["pronoun_accuracy"]
    assert accuracy["pairs"] == 8 and 0.0 <= accuracy["accuracy"] <= 1.0
    assert sum(entry["pairs"] for entry in accuracy["per_pronoun"].values()) == 8
    assert "pronoun accuracy = " in capsys.readouterr().out


def test_references_that_are_not_utf8_or_empty_are_one_error_naming_the_file(run_dir, tmp_path):
    other = write_corpus(tmp_path / "other")
    overrides = ("data=local", f"data.local_dir={other}", "data.name=other", "data.src_lang=en", "data.tgt_lang=fr",
                 "split=validation", f"output={tmp_path / 'scores'}")
    (other / "valid.tsv").write_bytes(b"a man .\tun homme .\nthe cat .\tle chat \xe9tait .\n")
    with pytest.raises(NMTError, match=r"valid\.tsv line 2 is not valid UTF-8 \(byte 0xe9 at column 19\)"):
        evaluate(config(run_dir, *overrides))
    (other / "valid.tsv").write_bytes(b"")
    with pytest.raises(NMTError, match=r"valid\.tsv is empty"):
        evaluate(config(run_dir, *overrides))
    assert not (tmp_path / "scores").exists()


def test_user_mistakes_are_one_sentence_errors(run_dir):
    with pytest.raises(NMTError, match="split=pronoun_test is not in corpus 'tiny'; choose one of train, "):
        evaluate(config(run_dir, "split=pronoun_test"))  # only data=sample has it
    with pytest.raises(NMTError, match="does not exist"):
        evaluate(config(run_dir, f"ckpt={run_dir / 'nothing.pt'}"))
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        no_checkpoint = compose("evaluate")
    with pytest.raises(NMTError, match="no checkpoint given"):
        evaluate(no_checkpoint)


def test_command_prints_bleu_and_adds_no_run_directory(run_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "nmt.cli.evaluate", f"ckpt={run_dir / 'checkpoints' / 'best.pt'}",
         f"paths.data_dir={run_dir / 'data'}", "beam_size=1", "threads=1", f"output={tmp_path / 'scores'}"],
        check=False, capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "BLEU = " in result.stdout and "tok:13a" in result.stdout
    assert "BLEU lowercased = " in result.stdout and "case:lc" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores"]
