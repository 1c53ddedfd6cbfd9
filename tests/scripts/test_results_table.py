"""scripts/results_table.py on a real tiny run (nmt-train then nmt-evaluate), and its errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import results_table

TINY_RUN = [  # the sample corpus cut down and a tiny Transformer: seconds on one thread
    "data.sample_sizes.train=300", "data.sample_sizes.validation=20", "data.sample_sizes.test=20",
    "data.pronoun_test_size=0", "data.vocab_size=120", "model.d_model=32", "model.num_heads=2",
    "model.num_encoder_layers=1", "model.num_decoder_layers=1", "model.ff_dim=64", "trainer.batch_tokens=512",
    "trainer.warmup_steps=10", "trainer.lr=3e-3", "trainer.max_epochs=0", "trainer.threads=1",
    "trainer.tensorboard=false", "trainer.max_steps=6", "trainer.seed=3",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished 6-update run whose best.pt nmt-evaluate scored on the test split, by length."""
    root = tmp_path_factory.mktemp("results_table")
    data = f"paths.data_dir={root / 'data'}"
    subprocess.run([sys.executable, "-m", "nmt.cli.train", *TINY_RUN, data, f"hydra.run.dir={root / 'run'}"],
                   cwd=root, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "nmt.cli.evaluate", f"ckpt={root / 'run/checkpoints/best.pt'}", data,
                    "threads=1", "beam_size=2", "length_buckets=[5,10]"], cwd=root, check=True, capture_output=True)
    return root / "run"


def scores_of(run: Path) -> dict:
    return json.loads(results_table.scores_path(run / "checkpoints" / "best.pt", "test").read_text(encoding="utf-8"))


def test_a_finished_run_becomes_one_row_with_its_training_and_its_scores(run_dir, capsys):
    assert results_table.main([str(run_dir)]) == 0
    table, lengths = capsys.readouterr().out.strip().split("\n\n")
    row = table.splitlines()[2].split(" | ")
    scores = scores_of(run_dir)
    assert row[0] == "| transformer" and row[1] == "en→fr" and row[2] == "3" and row[3] == "32"
    assert row[6] == "6" and row[8] == "max_steps=6 reached"
    assert table.splitlines()[0].endswith("| test BLEU | BLEU lc | chrF | TER |")
    assert row[11:] == [f"**{scores['bleu']['score']:.2f}**", f"{scores['bleu_lc']['score']:.2f}",
                        f"{scores['chrf']['score']:.2f}", f"{scores['ter']['score']:.2f} |"]
    assert [line.split(" | ")[0] for line in lengths.splitlines()[2:]] == ["| 1-5", "| 6-10", "| 11+"]
    assert "transformer en→fr seed 3" in lengths.splitlines()[0]


def test_scores_written_before_lowercased_bleu_show_a_dash_in_its_column(run_dir, tmp_path, capsys):
    copy = shutil.copytree(run_dir, tmp_path / "run")
    path = results_table.scores_path(copy / "checkpoints" / "best.pt", "test")
    report = json.loads(path.read_text(encoding="utf-8"))
    del report["bleu_lc"]
    path.write_text(json.dumps(report), encoding="utf-8")
    assert results_table.main([str(copy)]) == 0
    row = capsys.readouterr().out.split("\n\n")[0].splitlines()[2].split(" | ")
    assert row[11:] == [f"**{report['bleu']['score']:.2f}**", "—", f"{report['chrf']['score']:.2f}",
                        f"{report['ter']['score']:.2f} |"]


def test_a_run_whose_log_never_said_it_stopped_is_unfinished(run_dir, tmp_path):
    copy = shutil.copytree(run_dir, tmp_path / "run")
    log = copy / "train.log"
    log.write_text("".join(line for line in log.read_text(encoding="utf-8").splitlines(keepends=True)
                           if "stopped:" not in line), encoding="utf-8")
    assert results_table.read_run(copy).stopped_by == "unfinished"


@pytest.mark.parametrize(("line", "expected"), [
    ("stopped: no improvement of val bleu in 6 validations (early stopping) at step 6 (epoch 3)", "early stopping"),
    ("interrupted by SIGTERM at step 6; resume with hydra.run.dir=RUN trainer.resume=true", "SIGTERM"),
    ("stopped: max_epochs=30 reached at step 5 (epoch 30); best val bleu", "unfinished"),  # not the run's last update
])
def test_the_stop_reason_is_the_last_line_about_the_run_s_last_update(run_dir, tmp_path, line, expected):
    copy = shutil.copytree(run_dir, tmp_path / "run")
    with (copy / "train.log").open("a", encoding="utf-8") as log:
        log.write(f"[2026-01-01 00:00:00,000][nmt.training.loop][INFO] - {line}\n")
    assert results_table.read_run(copy).stopped_by == expected


def test_the_figure_is_written_as_png_and_svg(run_dir, tmp_path, capsys):
    assert results_table.main([str(run_dir), str(run_dir), "--figure", str(tmp_path / "fig" / "lengths")]) == 0
    assert (tmp_path / "fig" / "lengths.png").stat().st_size > 0 and (tmp_path / "fig" / "lengths.svg").is_file()


def test_a_run_without_scores_names_the_command_that_makes_them(run_dir, tmp_path, capsys):
    copy = shutil.copytree(run_dir, tmp_path / "run")
    for path in (copy / "checkpoints").glob("*.scores.json"):
        path.unlink()
    assert results_table.main([str(copy)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1
    assert f"run: nmt-evaluate ckpt={copy / 'checkpoints' / 'best.pt'} split=test" in error


def test_a_directory_that_is_not_a_run_is_refused(tmp_path, capsys):
    assert results_table.main([str(tmp_path)]) == 2
    assert "has no checkpoints/best.pt" in capsys.readouterr().err


def test_runs_scored_with_different_length_buckets_are_refused(run_dir, tmp_path, capsys):
    copy = shutil.copytree(run_dir, tmp_path / "run")
    path = results_table.scores_path(copy / "checkpoints" / "best.pt", "test")
    report = json.loads(path.read_text(encoding="utf-8"))
    report["bleu_by_length"] = report["bleu_by_length"][:1]
    path.write_text(json.dumps(report), encoding="utf-8")
    assert results_table.main([str(run_dir), str(copy)]) == 2
    assert "other length buckets" in capsys.readouterr().err


def test_runs_whose_buckets_hold_other_sentences_show_each_count_beside_its_bleu(run_dir, tmp_path, capsys):
    copy = shutil.copytree(run_dir, tmp_path / "run")
    path = results_table.scores_path(copy / "checkpoints" / "best.pt", "test")
    report = json.loads(path.read_text(encoding="utf-8"))
    report["bleu_by_length"][0].update(sentences=99, bleu=12.5)
    path.write_text(json.dumps(report), encoding="utf-8")
    assert results_table.main([str(run_dir), str(copy)]) == 0
    lengths = capsys.readouterr().out.strip().split("\n\n")[1].splitlines()
    first = scores_of(run_dir)["bleu_by_length"][0]
    assert lengths[0] == "| source words |" + " transformer en→fr seed 3 (sentences) |" * 2
    assert lengths[2] == f"| 1-5 | {first['bleu']:.2f} ({first['sentences']}) | 12.50 (99) |"


@pytest.mark.parametrize(("config", "name"), [
    ({"_target_": "nmt.models.transformer.Transformer"}, "transformer"),
    ({"_target_": "nmt.models.rnn.RNNSeq2Seq", "attention": "none"}, "rnn_plain"),
    ({"_target_": "nmt.models.rnn.RNNSeq2Seq", "attention": "bahdanau"}, "rnn_bahdanau"),
    ({"_target_": "nmt.models.rnn.RNNSeq2Seq", "attention": "luong", "score": "dot", "input_feeding": True},
     "rnn_luong (dot, input feeding)"),
    ({"_target_": "nmt.models.rnn.RNNSeq2Seq", "attention": "luong", "score": "concat", "input_feeding": False},
     "rnn_luong (concat)"),
])
def test_models_are_named_as_the_presets(config, name):
    assert results_table.model_name(config) == name
