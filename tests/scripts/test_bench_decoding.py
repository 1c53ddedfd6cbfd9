"""scripts/bench_decoding.py: its medians and ratios, its argument checks, and one real run on a tiny model."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from tiny_checkpoint import PAIRS, build_tiny_checkpoint, one_cpu_thread  # noqa: F401 (autouse)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import bench_decoding
from bench_decoding import Run, main, parse_args, ratios, summarize
from peers.data import REPO


def test_each_engine_reports_the_median_run_and_the_ratios_use_its_own_words():
    runs = [Run("nmt:bf16", 5, seconds, 100, 1_000) for seconds in (2.0, 9.0, 4.0)]
    runs += [Run("ct2:int8", 5, seconds, 100, 1_200) for seconds in (3.0, 3.0, 30.0)]
    summary = summarize(runs)
    assert summary[("nmt:bf16", 5)]["seconds"] == 4.0  # the median, not the mean (5.0) nor the best (2.0)
    assert summary[("ct2:int8", 5)]["words_per_s"] == 400.0
    [(label, words, sentences)] = ratios(summary)
    assert label == "nmt:bf16 / ct2:int8, beam 5"
    assert words == pytest.approx(250 / 400)  # nmt 1,000 words in 4 s against CTranslate2's 1,200 in 3 s
    assert sentences == pytest.approx(25 / (100 / 3))


def test_an_engine_that_is_neither_nmt_nor_ctranslate2_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--ckpt", "x.pt", "--engines", "nmt:fp16"])
    assert "--engines nmt:fp16 is not nmt:32, nmt:bf16 or ct2:<quantization>" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--ckpt", "x.pt", "--baseline", str(tmp_path)])
    assert "is not a checkout of nmt" in capsys.readouterr().err


def test_nmt_its_baseline_and_ctranslate2_decode_the_same_checkpoint_given_relative_paths(
        tmp_path, capsys, monkeypatch):
    build_tiny_checkpoint(tmp_path / "tiny")
    (tmp_path / "src.txt").write_text("".join(s + "\n" for s, _ in PAIRS[:4]), encoding="utf-8")
    (tmp_path / "ref.txt").write_text("".join(t + "\n" for _, t in PAIRS[:4]), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # every path below is relative to it; the children run in work/
    baseline = os.path.relpath(REPO, tmp_path)  # this checkout as its own baseline
    main(["--ckpt", "tiny/checkpoints/best.pt", "--src", "src.txt", "--ref", "ref.txt", "--baseline", baseline,
          "--engines", "nmt:32", "ct2:float32", "--beams", "2", "--rounds", "1", "--threads", "1",
          "--work-dir", "work"])
    printed = capsys.readouterr().out
    assert "nmt:32 / ct2:float32, beam 2:" in printed and "nmt:32 / baseline:32, beam 2:" in printed
    results = json.loads((tmp_path / "work" / "results.json").read_text())
    assert sorted(run["engine"] for run in results["runs"]) == ["baseline:32", "ct2:float32", "nmt:32"]
    assert all(run["sentences"] == 4 and run["seconds"] > 0 and run["bleu"] is not None for run in results["runs"])


def test_a_baseline_whose_nmt_is_not_the_one_imported_is_an_error(tmp_path):
    fake = tmp_path / "fake"
    (fake / "nmt").mkdir(parents=True)
    (fake / "nmt" / "__init__.py").write_text("")  # a checkout without the modules: they come from elsewhere
    build_tiny_checkpoint(tmp_path / "tiny")
    (tmp_path / "src.txt").write_text("a\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="baseline:32 imported nmt from .*, not from .*fake"):
        main(["--ckpt", str(tmp_path / "tiny/checkpoints/best.pt"), "--src", str(tmp_path / "src.txt"),
              "--baseline", str(fake), "--engines", "nmt:32", "--beams", "1", "--rounds", "1", "--threads", "1",
              "--work-dir", str(tmp_path / "work")])


def test_warm_engines_decode_the_validation_split_first_and_a_missing_one_is_one_error(tmp_path, capsys, monkeypatch):
    import gzip

    build_tiny_checkpoint(tmp_path / "tiny")  # an en→fr checkpoint: the warm-up is val.en.gz
    (tmp_path / "src.txt").write_text("".join(s + "\n" for s, _ in PAIRS[:3]), encoding="utf-8")
    arguments = ["--ckpt", str(tmp_path / "tiny/checkpoints/best.pt"), "--src", str(tmp_path / "src.txt"),
                 "--engines", "nmt:32", "--beams", "1", "--rounds", "1", "--threads", "1", "--warm",
                 "--corpus", str(tmp_path / "corpus"), "--work-dir", str(tmp_path / "work")]
    with pytest.raises(SystemExit, match="--warm decodes the validation split first, and .*val.en.gz does not exist"):
        main(arguments)
    (tmp_path / "corpus").mkdir()
    with gzip.open(tmp_path / "corpus" / "val.en.gz", "wt", encoding="utf-8") as packed:
        packed.write("".join(s + "\n" for s, _ in PAIRS[3:6]))
    commands = []
    real_run = bench_decoding.subprocess.run
    monkeypatch.setattr(bench_decoding.subprocess, "run", lambda command, **kw: commands.append(command) or
                        real_run(command, **kw))

    main(arguments)

    [command] = commands
    warm_up = Path(command[command.index("--warm-up") + 1])
    assert warm_up.read_text(encoding="utf-8").splitlines() == [s for s, _ in PAIRS[3:6]]
    assert "each after decoding warm-up.val.en untimed" in capsys.readouterr().out
