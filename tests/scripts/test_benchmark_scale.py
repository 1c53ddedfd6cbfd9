"""The scale section's plan: which nmt-prepare runs it makes, in which order, and what a row reports."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from benchmarks import scale  # noqa: E402


def test_each_size_alternates_one_and_n_workers_for_the_asked_repeats_then_starts_training_once(tmp_path, monkeypatch):
    calls = []

    def prepare_once(args, corpus, data, *, pairs, workers, repeat):
        calls.append((pairs, workers, repeat))
        return {"prepare_s": 10.0 + repeat + workers, "wall_s": 12.0, "rss_mb": 100.0 * workers, "cpu_s": 9.0,
                "others_nice0_s": 0.0, "others_niced_s": 1.2}

    started = []
    monkeypatch.setattr(scale, "prepare_once", prepare_once)
    monkeypatch.setattr(scale, "train_start", lambda args, corpus, data, pairs: started.append(pairs) or
                        {"first_update_s": 5.0, "train_wall_s": 6.0, "train_rss_mb": 1500.0})
    for pairs in (100, 200):  # corpora already generated: no generator run
        (tmp_path / f"corpus-{pairs}").mkdir()
        (tmp_path / f"corpus-{pairs}" / "train.de").write_text("x\n", encoding="utf-8")

    rows = scale.run_scale(argparse.Namespace(work_dir=tmp_path), (100, 200), workers=2, repeats=2)

    assert calls == [(100, 1, 0), (100, 2, 0), (100, 1, 1), (100, 2, 1), (200, 1, 0), (200, 2, 0), (200, 1, 1),
                     (200, 2, 1)]
    assert started == [100, 200]
    assert [(row["pairs"], row["workers"], row["runs"], row["prepare_s"]) for row in rows] == [
        (100, 1, 2, 11.5), (100, 2, 2, 12.5), (200, 1, 2, 11.5), (200, 2, 2, 12.5)]
    assert [row.get("train_rss_mb") for row in rows] == [None, 1500.0, None, 1500.0]  # on the N-worker row
    assert rows[0]["others_niced_cores"] == pytest.approx(0.1)  # 2 x 1.2 s over 2 x 12 s of wall time


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="anonymous memory is read from Linux's /proc")
def test_measured_runs_sample_the_anonymous_memory_of_the_process(tmp_path):
    from peers.processes import run_measured

    holds_150_mb = "import time; block = b'x' * (150 * 2**20); time.sleep(1.0)"
    measured = run_measured([sys.executable, "-c", holds_150_mb], log_path=tmp_path / "big.log", env=dict(os.environ),
                            cwd=tmp_path)
    idle = run_measured([sys.executable, "-c", "import time; time.sleep(1.0)"], log_path=tmp_path / "idle.log",
                        env=dict(os.environ), cwd=tmp_path)

    assert 150 <= measured.peak_anon_mb <= measured.peak_rss_mb
    assert idle.peak_anon_mb < 50
