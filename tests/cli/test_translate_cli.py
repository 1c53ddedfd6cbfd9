"""nmt-translate: through `translate(cfg)` with composed configs, plus two real command runs."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from tiny_checkpoint import (  # noqa: F401 (one_cpu_thread: autouse fixture)
    PAIRS,
    RNN_MODEL_CONFIG,
    build_tiny_checkpoint,
    one_cpu_thread,
)

from nmt.cli.translate import translate
from nmt.errors import NMTError

REPO = Path(__file__).parents[2]
LINES = [PAIRS[0][0], "", PAIRS[1][0], PAIRS[2][0]]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("translate_cli"))


def config(*overrides: str):
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        return compose("translate", overrides=list(overrides))


def run(*overrides: str, stdin: str | bytes = "") -> str:
    stdout = io.StringIO()
    raw = stdin if isinstance(stdin, bytes) else stdin.encode("utf-8")
    translate(config(*overrides), stdin=io.BytesIO(raw), stdout=stdout)
    return stdout.getvalue()


def test_one_output_line_per_input_line_and_empty_lines_stay_empty(checkpoint):
    output = run(f"ckpt={checkpoint}", "beam_size=2", stdin="".join(line + "\n" for line in LINES)).splitlines()
    assert len(output) == len(LINES)
    assert output[1] == ""
    assert all(output[i] for i in (0, 2, 3))


def test_text_input_file_and_stdin_give_the_same_translation(checkpoint, tmp_path):
    from_text = run(f"ckpt={checkpoint}", f"text='{LINES[0]}'")
    from_stdin = run(f"ckpt={checkpoint}", stdin=LINES[0] + "\n")
    source, target = tmp_path / "in.txt", tmp_path / "out" / "hyp.txt"
    source.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    assert run(f"ckpt={checkpoint}", f"input={source}", f"output={target}") == ""
    from_file = target.read_text(encoding="utf-8").splitlines()
    assert from_text == from_stdin and from_text.count("\n") == 1
    assert from_file[0] == from_text.rstrip("\n") and len(from_file) == len(LINES)


def test_nbest_lines_read_index_translation_score(checkpoint):
    output = run(f"ckpt={checkpoint}", "beam_size=3", "nbest=3", stdin=f"{LINES[0]}\n{LINES[2]}\n").splitlines()
    assert len(output) == 6
    pattern = re.compile(r"^(\d+) \|\|\| (.*) \|\|\| (-?\d+\.\d{4})$")
    matches = [pattern.match(line) for line in output]
    assert all(matches)
    assert [int(m.group(1)) for m in matches] == [0, 0, 0, 1, 1, 1]
    scores = [float(m.group(3)) for m in matches[:3]]
    assert scores == sorted(scores, reverse=True)


def test_ckpt_lists_ensemble_and_sampling_gives_nbest_samples_per_line(checkpoint, tmp_path):
    rnn = build_tiny_checkpoint(tmp_path / "rnn", model_config=RNN_MODEL_CONFIG)
    lines = "".join(line + "\n" for line in LINES)
    assert run(f"ckpt=[{checkpoint},{checkpoint}]", "beam_size=2", stdin=lines) == run(
        f"ckpt={checkpoint}", "beam_size=2", stdin=lines)  # a model with itself: the model's output
    mixed = run(f"ckpt=[{checkpoint},{rnn}]", "beam_size=2", stdin=lines).splitlines()
    assert len(mixed) == len(LINES) and mixed[1] == ""
    sampled = run(f"ckpt={checkpoint}", "sampling=true", "beam_size=1", "nbest=3", "seed=4", stdin=lines)
    pattern = re.compile(r"^(\d+) \|\|\| (.*) \|\|\| (-?\d+\.\d{4})$")
    # the empty line 1 keeps its one empty translation
    assert [int(pattern.match(line).group(1)) for line in sampled.splitlines()] == [0, 0, 0, 1, 2, 2, 2, 3, 3, 3]
    assert run(f"ckpt={checkpoint}", "sampling=true", "beam_size=1", "nbest=3", "seed=4", stdin=lines) == sampled
    with pytest.raises(NMTError, match=r"^ckpt=\[\] names no checkpoint"):
        run("ckpt=[]")


def test_plot_writes_one_heatmap_per_sentence(checkpoint, tmp_path):
    run(f"ckpt={checkpoint}", f"text='{LINES[0]}'", f"plot={tmp_path / 'one.png'}")
    assert (tmp_path / "one.png").stat().st_size > 1000
    run(f"ckpt={checkpoint}", f"plot={tmp_path / 'many.png'}", "plot_layer=0", stdin="\n".join(LINES[:3]) + "\n")
    # Named by line number; the empty line 2 has no attention to plot.
    assert sorted(p.name for p in tmp_path.glob("many-*.png")) == ["many-1.png", "many-3.png"]


def test_user_mistakes_are_one_sentence_errors(checkpoint, tmp_path):
    with pytest.raises(NMTError, match="no checkpoint given"):
        run()
    with pytest.raises(NMTError, match="does not exist"):
        run(f"ckpt={tmp_path / 'missing.pt'}")
    with pytest.raises(NMTError, match="nbest=4 exceeds beam_size=2"):
        run(f"ckpt={checkpoint}", "beam_size=2", "nbest=4")
    with pytest.raises(NMTError, match="both text= and input="):
        run(f"ckpt={checkpoint}", "text=hello", f"input={tmp_path}")
    with pytest.raises(NMTError, match="plot_layer=5"):
        run(f"ckpt={checkpoint}", "text=hello", f"plot={tmp_path / 'x.png'}", "plot_layer=5")


class _Terminal(io.BytesIO):
    def isatty(self) -> bool:
        return True


def test_stdin_that_is_not_utf8_or_holds_nul_is_one_error_naming_the_line(checkpoint):
    with pytest.raises(NMTError, match=r"^stdin line 2 is not valid UTF-8 \(byte 0xff at column 3\); convert it"):
        run(f"ckpt={checkpoint}", stdin=b"a man\nth\xffe cat\n")
    with pytest.raises(NMTError, match=r"^stdin line 1 holds a NUL byte \(column 2\)"):
        run(f"ckpt={checkpoint}", stdin=b"a\x00b\n")
    latin1 = Path(checkpoint).parent / "latin1.txt"
    latin1.write_bytes("un été\n".encode("latin-1"))
    with pytest.raises(NMTError, match=r"^input=\S*latin1\.txt line 1 is not valid UTF-8 \(byte 0xe9 at column 4\)"):
        run(f"ckpt={checkpoint}", f"input={latin1}")
    with pytest.raises(NMTError, match=r"^text= line 1 is not valid UTF-8 \(byte 0xff at column 2\)"):
        run(f"ckpt={checkpoint}", "text='a\udcffb'")  # how Python hands over the command-line bytes a\xffb


def test_byte_order_mark_and_crlf_give_the_output_of_plain_lines(checkpoint):
    plain = run(f"ckpt={checkpoint}", "beam_size=1", stdin="".join(line + "\n" for line in LINES))
    windows = b"\xef\xbb\xbf" + "".join(line + "\r\n" for line in LINES).encode("utf-8")
    assert run(f"ckpt={checkpoint}", "beam_size=1", stdin=windows) == plain
    stdout = io.StringIO()
    assert translate(config(f"ckpt={checkpoint}", "beam_size=1"), stdin=_Terminal(windows), stdout=stdout) == len(LINES)
    assert stdout.getvalue() == plain


def test_a_line_typed_at_the_terminal_is_translated_before_a_bad_one_stops_the_session(checkpoint):
    stdout = io.StringIO()
    with pytest.raises(NMTError, match=r"^stdin line 2 is not valid UTF-8"):
        translate(config(f"ckpt={checkpoint}", "beam_size=1"), stdin=_Terminal(b"a man\n\xff\n"), stdout=stdout)
    assert stdout.getvalue().count("\n") == 1


def test_empty_input_gives_no_output_and_only_newlines_end_lines(checkpoint, tmp_path):
    assert run(f"ckpt={checkpoint}", stdin=b"") == ""
    source = tmp_path / "separators.txt"
    source.write_text("a man\u2028rides\x0ca bike .\n\nthe cat\x85is black .", encoding="utf-8")
    output = run(f"ckpt={checkpoint}", "beam_size=1", f"input={source}")
    assert output.count("\n") == 3 and output.split("\n")[1] == ""


def test_a_closed_stdin_is_an_empty_input_and_text_still_works(checkpoint, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", None)  # what Python sets for `nmt-translate ... <&-`
    assert translate(config(f"ckpt={checkpoint}")) == 0
    assert translate(config(f"ckpt={checkpoint}", "beam_size=1", f"text='{LINES[0]}'")) == 1
    assert capsys.readouterr().out.count("\n") == 1


def test_a_one_megabyte_line_is_truncated_with_a_warning(checkpoint, caplog):
    huge = "a man rides a bike . " * 50_000
    with caplog.at_level(logging.WARNING):
        output = run(f"ckpt={checkpoint}", "beam_size=1", stdin=f"{huge}\n{LINES[0]}\n")
    assert output.count("\n") == 2
    assert "line 1 has" in caplog.text and "using its first" in caplog.text


def test_command_with_undecodable_stdin_exits_2_with_one_line(checkpoint, tmp_path):
    # Under C.UTF-8, Python's stdin turns bad bytes into surrogates, which SentencePiece refused with a traceback.
    result = subprocess.run([sys.executable, "-m", "nmt.cli.translate", f"ckpt={checkpoint}", "threads=1"],
                            input=b"\xff\xfe text\n", capture_output=True, cwd=tmp_path, timeout=120,
                            env={**os.environ, "LC_ALL": "C.UTF-8"}, check=False)
    stderr = result.stderr.decode()
    assert (result.returncode, result.stdout) == (2, b"")
    assert stderr.startswith("error: stdin line 1 is not valid UTF-8 (byte 0xff at column 1)")
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


def test_command_translates_stdin_and_leaves_no_run_directory(checkpoint, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "nmt.cli.translate", f"ckpt={checkpoint}", "beam_size=2", "threads=1"],
        input="\n".join(LINES) + "\n", capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(LINES)
    assert list(tmp_path.iterdir()) == []  # no outputs/, .hydra/ or log file where it ran


def test_command_with_an_unreadable_checkpoint_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00 not a checkpoint")
    result = subprocess.run([sys.executable, "-m", "nmt.cli.translate", f"ckpt={bad}", "text=hello"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: checkpoint") and "bad.pt" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_prefix_starts_every_translation_in_batches_at_the_terminal_and_with_an_ensemble(checkpoint):
    lines = "".join(line + "\n" for line in LINES)
    output = run(f"ckpt={checkpoint}", "beam_size=3", "nbest=2", "prefix='la va'", stdin=lines)
    pattern = re.compile(r"^(\d+) \|\|\| (.*) \|\|\| (-?\d+\.\d{4})$")
    matches = [pattern.match(line) for line in output.splitlines()]
    assert [int(m.group(1)) for m in matches] == [0, 0, 1, 2, 2, 3, 3]  # the empty line 1 stays empty
    assert all(m.group(2).startswith("la va") for m in matches if m.group(1) != "1")
    stdout = io.StringIO()
    translate(config(f"ckpt={checkpoint}", "beam_size=3", "nbest=2", "prefix='la va'"),
              stdin=_Terminal(lines.encode()), stdout=stdout)
    assert stdout.getvalue() == output
    assert run(f"ckpt=[{checkpoint},{checkpoint}]", "beam_size=3", "nbest=2", "prefix='la va'", stdin=lines) == output
    assert run(f"ckpt={checkpoint}", "beam_size=1", "prefix=12", stdin=lines) == run(
        f"ckpt={checkpoint}", "beam_size=1", "prefix='12'", stdin=lines)  # a number arrives as an int


def test_a_prefix_of_the_wrong_type_or_not_one_utf8_line_is_one_error(checkpoint, monkeypatch, capsys):
    from nmt.cli.translate import main

    monkeypatch.setattr(sys, "argv", ["nmt-translate", f"ckpt={checkpoint}", "text=hello", "prefix=[1,2]"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        "error: prefix=[1, 2] has the wrong type; expected str or int or float or null\n")
    with pytest.raises(NMTError, match=r"^prefix= holds 2 lines; give it one line of text\.$"):
        run(f"ckpt={checkpoint}", "text=hello", "prefix='la\nva'")
    with pytest.raises(NMTError, match=r"^prefix= line 1 is not valid UTF-8 \(byte 0xff at column 2\)"):
        run(f"ckpt={checkpoint}", "text=hello", "prefix='a\udcffb'")  # the bytes a\xffb from the command line
