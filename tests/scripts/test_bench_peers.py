"""The benchmark harness's parsing, batching replays and table: nothing here times anything."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_checkpoint import build_tiny_checkpoint, one_cpu_thread  # noqa: F401 (autouse)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from bench_peers import main, parse_args
from peers.batching import calibrate, joey_batches, mean_real_tgt, onmt_batches
from peers.ctranslate2_rows import WeightsDecoding, decode_nmt_weights, export_afresh, with_speed_ratios
from peers.data import REPO, detokenize
from peers.logs import (
    parse_generation_seconds,
    parse_joey_intervals,
    parse_nmt_intervals,
    parse_onmt_intervals,
    parse_parameters,
    steady_state,
)
from peers.processes import ProcessResult
from peers.report import format_decoding_table, format_table
from peers.runner import ENTRY_POINT, PEERS_DIR, ToolResult, median_decode, timed_translation

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


def weights_decoding(engine: str, precision: str, beam: int, sentences_per_s: float | None, **figures) -> WeightsDecoding:
    return WeightsDecoding(model="transformer", engine=engine, precision=precision, beam=beam,
                           sentences_per_s=sentences_per_s, **figures)


DECODINGS = [
    weights_decoding("nmt", "fp32", 5, 100.0, generation_s=10.0, bleu=36.0, peak_rss_mb=750.0),
    weights_decoding("nmt", "bf16", 5, 120.0),
    weights_decoding("nmt", "fp32", 1, 300.0),
    weights_decoding("ctranslate2", "float32", 5, 250.0),
    weights_decoding("ctranslate2", "float32", 1, 600.0),
    weights_decoding("ctranslate2", "int8", 5, 400.0),
    weights_decoding("ctranslate2", "int8", 1, None, error="decode-ct2 failed"),
]


def table_row(text: str, *first_cells: str) -> list[str]:
    """The cells of the first line of `text` that starts with `first_cells`."""
    return next(cells for cells in map(str.split, text.splitlines()) if cells[:len(first_cells)] == list(first_cells))


def test_weights_decodings_are_compared_with_nmt_fp32_of_the_same_search_and_onmt_beam_search():
    results = [ToolResult(tool="nmt", model="transformer", decode_sentences_per_s=100.0),
               ToolResult(tool="onmt", model="transformer", decode_sentences_per_s=50.0)]

    compared = with_speed_ratios(DECODINGS, results)

    assert [(row.speed_vs_nmt_fp32, row.speed_vs_onmt_beam) for row in compared] == [
        (1.0, 2.0), (1.2, 2.4), (1.0, 6.0), (2.5, 5.0), (2.0, 12.0), (4.0, 8.0), (None, None)]
    assert compared[0].sentences_per_s == 100.0 and DECODINGS[3].speed_vs_nmt_fp32 is None  # the input is kept


def test_decoding_table_has_a_row_per_engine_precision_and_search_with_its_ratios():
    results = [ToolResult(tool="nmt", model="transformer"),
               ToolResult(tool="onmt", model="transformer", decode_sentences_per_s=50.0)]

    text = format_decoding_table(with_speed_ratios(DECODINGS, results), results)

    assert text.splitlines()[0] == "== transformer: decoding nmt's weights"
    assert text.splitlines()[1].endswith("vs nmt fp32  vs onmt beam")
    assert table_row(text, "nmt") == ["nmt", "fp32", "beam", "5", "100.0", "10.0", "36.00", "750", "1.00x", "2.00x"]
    assert table_row(text, "ctranslate2", "float32", "beam")[-2:] == ["2.50x", "5.00x"]
    assert table_row(text, "ctranslate2", "float32", "greedy")[-2:] == ["2.00x", "12.00x"]
    assert table_row(text, "ctranslate2", "int8", "greedy")[3:] == ["-"] * 6
    assert "failed ctranslate2 int8 greedy: decode-ct2 failed" in text
    rows = [line.split()[:2] for line in text.splitlines()[2:9]]
    assert rows == [["nmt", "fp32"], ["nmt", "bf16"], ["nmt", "fp32"], ["ctranslate2", "float32"],
                    ["ctranslate2", "float32"], ["ctranslate2", "int8"], ["ctranslate2", "int8"]]


def test_decoding_table_leaves_out_the_onmt_column_when_onmt_did_not_run():
    results = [ToolResult(tool="nmt", model="transformer")]
    text = format_decoding_table(with_speed_ratios(DECODINGS, results), results)

    assert text.splitlines()[1].endswith("vs nmt fp32") and "OpenNMT-py" not in text
    assert table_row(text, "ctranslate2", "float32", "beam")[-1] == "2.50x"


def test_ctranslate2_flag_without_the_package_is_one_parser_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # `import ctranslate2` now raises ImportError

    with pytest.raises(SystemExit):
        parse_args(["--ctranslate2"])

    assert 'install it with pip install -e ".[export]"' in capsys.readouterr().err


def test_decode_ct2_child_translates_every_line_of_a_fresh_export_and_prints_its_generation_time(tmp_path, capsys):
    pytest.importorskip("ctranslate2")
    checkpoint = build_tiny_checkpoint(tmp_path)
    export = tmp_path / "transformer-ct2-int8"
    export_afresh(checkpoint, export, quantization="float32")
    export_afresh(checkpoint, export, quantization="int8")  # an earlier export there is replaced
    source, hypotheses = tmp_path / "decode.raw.de", tmp_path / "hypotheses.txt"
    source.write_text("a man rides a bike .\nthe cat is black .\nshe reads a book .\n", encoding="utf-8")

    main(["decode-ct2", "--model-dir", str(export), "--src", str(source), "--out", str(hypotheses),
          "--beam", "2", "--batch-tokens", "64", "--threads", "1"])

    assert '"quantization": "int8"' in (export / "nmt.json").read_text(encoding="utf-8")
    assert len(hypotheses.read_text(encoding="utf-8").splitlines()) == 3
    assert parse_generation_seconds("nmt", capsys.readouterr().out) >= 0.0


def test_native_ctranslate2_child_gives_the_same_greedy_lines_as_nmts_ctranslate2_path(tmp_path):
    pytest.importorskip("ctranslate2")
    export = export_afresh(build_tiny_checkpoint(tmp_path), tmp_path / "export", quantization="float32")
    source = tmp_path / "decode.raw.de"
    source.write_text("a man rides a bike .\n" * 3, encoding="utf-8")  # one length: one limit in both paths
    outputs = []
    for native in ([], ["--native"]):
        hypotheses = tmp_path / f"hypotheses{len(native)}.txt"
        main(["decode-ct2", "--model-dir", str(export), "--src", str(source), "--out", str(hypotheses),
              "--beam", "1", "--batch-tokens", "64", "--threads", "1", *native])
        outputs.append(hypotheses.read_text(encoding="utf-8").splitlines())

    assert len(outputs[1]) == 3 and outputs[1] == outputs[0]


def test_a_child_translates_its_warm_up_lines_first_and_times_and_writes_only_the_sources(tmp_path, capsys):
    (tmp_path / "warm.txt").write_text("w1\nw2\n", encoding="utf-8")
    (tmp_path / "src.txt").write_text("s1\ns2\ns3\n", encoding="utf-8")
    calls = []

    def translate(lines):
        calls.append(lines)
        return [line.upper() for line in lines]

    for warm_up in (tmp_path / "warm.txt", None):
        args = argparse.Namespace(warm_up=warm_up, src=tmp_path / "src.txt", out=tmp_path / "out.txt")
        timed_translation(translate, args)
        assert (tmp_path / "out.txt").read_text(encoding="utf-8").splitlines() == ["S1", "S2", "S3"]
        assert parse_generation_seconds("nmt", capsys.readouterr().out) >= 0.0
    assert calls == [["w1", "w2"], ["s1", "s2", "s3"], ["s1", "s2", "s3"]]


class ScriptedRunner:
    """A Runner whose decoding children are recorded and answered at once: 3 lines, 0.5 s of generation."""

    def __init__(self, work_dir: Path, *, precision: str) -> None:
        self.args = argparse.Namespace(beam=5, nmt_decode_precision=precision, ct2_quantizations=["float32", "int8"],
                                       work_dir=work_dir, decode_repeats=2)
        self.calls: list[tuple[str, str, int]] = []

    def decode_child(self, command, model_arguments, hypotheses_path, *, beam, log_path) -> ProcessResult:
        self.calls.append((command, Path(model_arguments[1]).name, beam))
        hypotheses_path.parent.mkdir(parents=True, exist_ok=True)
        hypotheses_path.write_text("a\nb\nc\n", encoding="utf-8")
        return ProcessResult(wall_s=2.0, peak_rss_mb=300.0, log="generation_seconds=0.5")

    def score_hypotheses(self, tool, hypotheses):
        return 30.0, 1.0


@pytest.mark.parametrize("precision", ["32", "bf16"])
def test_nmts_weights_are_decoded_by_nmt_fp32_and_each_ctranslate2_export_with_beam_and_greedy(precision, tmp_path):
    pytest.importorskip("ctranslate2")
    checkpoint = build_tiny_checkpoint(tmp_path / "run")
    runner = ScriptedRunner(tmp_path, precision=precision)
    nmt_result = ToolResult(tool="nmt", model="transformer", checkpoint=str(checkpoint), decode_sentences=3,
                            decode_sentences_per_s=10.0, bleu=29.0)

    rows = decode_nmt_weights(runner, nmt_result)

    nmt_rows = [("nmt", "fp32", 5), ("nmt", "bf16", 5)] if precision == "bf16" else [("nmt", "fp32", 5)]
    assert [(row.engine, row.precision, row.beam) for row in rows] == [
        *nmt_rows, ("nmt", "fp32", 1),
        ("ctranslate2", "float32", 5), ("ctranslate2", "float32", 1), ("nmt-ct2", "float32", 5), ("nmt-ct2", "float32", 1),
        ("ctranslate2", "int8", 5), ("ctranslate2", "int8", 1), ("nmt-ct2", "int8", 5), ("nmt-ct2", "int8", 1)]
    reused = rows[len(nmt_rows) - 1]  # nmt's own decoding in the main table is not run again
    assert (reused.sentences_per_s, reused.bleu) == (10.0, 29.0)
    children = [*(["best.pt"] if precision == "bf16" else []), "best.pt"]
    assert [name for _, name, _ in runner.calls[::2]] == [
        *children, *["transformer-ct2-float32"] * 4, *["transformer-ct2-int8"] * 4]
    assert runner.calls[::2] == runner.calls[1::2]  # --decode-repeats 2
    assert all(row.sentences_per_s == 6.0 and row.generation_s == 0.5 for row in rows if row is not reused)
    assert '"quantization": "int8"' in (tmp_path / "nmt" / "transformer-ct2-int8" / "nmt.json").read_text()


def test_an_rnn_gets_no_ctranslate2_rows(tmp_path, capsys):
    runner = ScriptedRunner(tmp_path, precision="32")

    rows = decode_nmt_weights(runner, ToolResult(tool="nmt", model="rnn_bahdanau", checkpoint="best.pt"))

    assert rows == [] and runner.calls == []
    assert "CTranslate2 has no RNN decoder" in capsys.readouterr().out
