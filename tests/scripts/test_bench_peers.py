"""The benchmark harness's parsing, batching replays and table: nothing here times anything."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from peers.batching import calibrate, joey_batches, mean_real_tgt, onmt_batches  # noqa: E402
from peers.data import REPO, detokenize  # noqa: E402
from peers.logs import (  # noqa: E402
    parse_generation_seconds,
    parse_joey_intervals,
    parse_nmt_intervals,
    parse_onmt_intervals,
    parse_parameters,
    steady_state,
)
from peers.processes import ProcessResult  # noqa: E402
from peers.report import format_table  # noqa: E402
from peers.runner import ENTRY_POINT, PEERS_DIR, ToolResult, median_decode  # noqa: E402

JOEY_LOG = """\
2026-11-24 14:52:38,217 - INFO - joeynmt.model - Total params: 7578112
2026-11-24 14:53:31,642 - INFO - joeynmt.training - Epoch   1, Step:        2, Batch Loss:     7.379932, Batch Acc: 0.043620, Tokens per Sec:      144, Lr: 0.000000
2026-11-24 14:54:14,719 - INFO - joeynmt.training - Epoch   1, Step:        4, Batch Loss:     7.383729, Batch Acc: 0.074572, Tokens per Sec:      183, Lr: 0.000000
2026-11-24 14:55:14,719 - INFO - joeynmt.training - Epoch   1, Step:        6, Batch Loss:     7.1, Batch Acc: 0.08, Tokens per Sec:      201, Lr: 0.000000
2026-11-24 14:56:57,765 - INFO - joeynmt.prediction - Generation took 114.3595[sec].
"""
ONMT_LOG = """\
[2026-11-24 14:57:06,175 INFO] * number of parameters: 7586624
[2026-11-24 14:47:28,635 INFO] Step  2/    6; acc: 0.0; ppl: 8222.6; xent: 9.0; lr: 0.00000; sents:     516; bsz: 3486/4166/258;  94/113 tok/s;     74 sec;
[2026-11-24 14:48:04,571 INFO] Step  4/    6; acc: 0.0; ppl: 8162.3; xent: 9.0; lr: 0.00000; sents:     718; bsz: 4086/4280/359; 227/238 tok/s;    110 sec;
[2026-11-24 15:00:25,152 INFO] Total translation time (s): 31.9
"""
NMT_LOG = """\
[2026-11-24 14:49:50,913][nmt.training.loop][INFO] - training Transformer (7,578,624 parameters) on cpu, lr schedule inverse_sqrt, from step 0
[2026-11-24 14:50:37,211][nmt.training.run_log][INFO] - step=2 epoch=1 loss=9.6006 lr=2.500e-07 tok/s=156 elapsed=46s
[2026-11-24 14:51:19,366][nmt.training.run_log][INFO] - step=4 epoch=1 loss=9.5817 lr=5.000e-07 tok/s=179 elapsed=88s
generation_seconds=9.2000
"""


def test_each_tools_log_lines_parse_to_steps_and_target_tokens_per_second():
    joey = parse_joey_intervals(JOEY_LOG)
    onmt = parse_onmt_intervals(ONMT_LOG)
    nmt = parse_nmt_intervals(NMT_LOG)

    assert [(i.step, i.tgt_tokens_per_s) for i in joey] == [(2, 144.0), (4, 183.0), (6, 201.0)]
    # OpenNMT-py prints src/tgt tok/s; the target figure and the logged real target tokens per batch are kept.
    assert [(i.step, i.tgt_tokens_per_s, i.tgt_tokens_per_batch) for i in onmt] == [(2, 113.0, 4166.0),
                                                                                  (4, 238.0, 4280.0)]
    assert [(i.step, i.tgt_tokens_per_s) for i in nmt] == [(2, 156.0), (4, 179.0)]


def test_parameters_and_generation_time_are_read_from_each_tools_log():
    assert parse_parameters("joeynmt", JOEY_LOG) == 7578112
    assert parse_parameters("onmt", ONMT_LOG) == 7586624
    assert parse_parameters("nmt", NMT_LOG) == 7578624
    assert parse_generation_seconds("joeynmt", JOEY_LOG) == pytest.approx(114.3595)
    assert parse_generation_seconds("onmt", ONMT_LOG) == pytest.approx(31.9)
    assert parse_generation_seconds("nmt", NMT_LOG) == pytest.approx(9.2)
    assert parse_generation_seconds("onmt", JOEY_LOG) is None


def test_repeated_decodes_report_the_run_with_the_median_generation_time():
    runs = [ProcessResult(wall_s=wall, peak_rss_mb=0.0, log=f"generation_seconds={seconds}")
            for wall, seconds in ((20.0, 9.5), (10.0, 8.0), (11.0, 12.0))]
    assert median_decode("nmt", runs) is runs[0]  # by the logged time, not the wall time
    assert median_decode("nmt", runs[1:]) is runs[1]  # an even count takes the faster middle run
    untimed = [ProcessResult(wall_s=wall, peak_rss_mb=0.0, log="") for wall in (3.0, 1.0, 2.0)]
    assert median_decode("onmt", untimed) is untimed[2]


def test_steady_state_drops_the_warm_up_interval_and_takes_the_median():
    intervals = parse_joey_intervals(JOEY_LOG)

    assert steady_state(intervals) == pytest.approx((183 + 201) / 2)
    assert steady_state(intervals[:1]) is None


def test_detokenize_joins_pieces_like_sentencepiece_and_drops_specials():
    assert detokenize("\u2581A \u2581dog \u2581run s <unk> .") == "A dog runs."
    assert detokenize("<unk>") == ""


def test_replayed_peer_batching_respects_each_tools_padded_size_rule():
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(3, 40, size=500), rng.integers(3, 40, size=500)

    joey = joey_batches(src, tgt, 600)
    onmt = onmt_batches(src, tgt, 600)

    for batches in (joey, onmt):
        assert sorted(np.concatenate(batches).tolist()) == list(range(500))  # every pair exactly once
    # Joey closes a batch at the first row that reaches the budget, so all but the last reach it.
    assert all(len(b) * max(max(src[b] + 1), max(tgt[b] + 1)) >= 600 for b in joey[:-1])
    # OpenNMT-py never exceeds it unless a single row does.
    assert all(len(b) * max(max(src[b]), max(tgt[b] + 2)) <= 600 or len(b) == 1 for b in onmt)


def test_calibration_finds_a_batch_setting_that_reaches_the_real_token_target():
    rng = np.random.default_rng(1)
    src, tgt = rng.integers(3, 30, size=2000), rng.integers(3, 30, size=2000)

    setting, real = calibrate(lambda size: onmt_batches(src, tgt, size), tgt, 500.0)

    assert real >= 500.0
    assert mean_real_tgt(onmt_batches(src, tgt, setting - 9), tgt) < 500.0


def test_table_shows_ratios_against_each_peer_and_bleu_as_a_difference():
    results = [
        ToolResult(tool="nmt", model="transformer", train_tgt_tokens_per_s=3000.0, bleu=36.0),
        ToolResult(tool="joeynmt", model="transformer", train_tgt_tokens_per_s=600.0, bleu=34.5),
        ToolResult(tool="onmt", model="transformer", train_tgt_tokens_per_s=2000.0, bleu=None,
                               error="onmt_translate failed"),
    ]

    text = format_table(results)
    throughput = next(line for line in text.splitlines() if line.startswith("train tgt tokens/s"))
    bleu = next(line for line in text.splitlines() if line.startswith("BLEU"))

    assert throughput.split()[-2:] == ["5.00x", "1.50x"]
    assert bleu.split()[-2:] == ["+1.50", "-"]
    assert "failed onmt: onmt_translate failed" in text


def test_the_harness_finds_the_checkout_its_entry_point_and_the_peer_templates():
    assert (REPO / "pyproject.toml").is_file()
    assert ENTRY_POINT == REPO / "scripts" / "bench_peers.py" and ENTRY_POINT.is_file()
    assert all((PEERS_DIR / f"{tool}.yaml").is_file() for tool in ("joeynmt", "onmt"))
