"""The catalogue of bad inputs: each row runs a command's real entry point (`main`, as its console
script does) in-process and expects exit status 2 with one `error:` line on stderr holding a fragment.

Config values have their own, longer table in tests/cli/test_config_checks.py; random bytes and
truncations are fuzzed in tests/test_fuzz.py. Signals and disk-full are in tests/training/test_loop.py
and tests/cli/test_train_cli.py, as they need a run in progress.
"""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from tiny_checkpoint import build_tiny_checkpoint, one_cpu_thread  # noqa: F401 (autouse)

from nmt.checkpoint import load_checkpoint, save_checkpoint
from nmt.cli import evaluate, prepare, train, translate
from nmt.training.run_directory import RunDirectoryLock

COMMANDS = {"prepare": prepare.main, "train": train.main, "evaluate": evaluate.main, "translate": translate.main}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A directory holding corpus/ (train/valid/test .tsv) and checkpoints/best.pt."""
    directory = tmp_path_factory.mktemp("bad_inputs")
    build_tiny_checkpoint(directory)
    return directory


class FakeStdin(io.TextIOWrapper):
    """sys.stdin over fixed bytes, not a terminal: nmt-translate reads `sys.stdin.buffer`."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8")

    def isatty(self) -> bool:
        return False


def run_command(command: str, overrides: list[str], *, stdin: bytes, monkeypatch, capsys) -> tuple[int, str]:
    """(exit status, stderr) of `nmt-<command> overrides...` run in this process."""
    monkeypatch.setattr(sys, "argv", [f"nmt-{command}", *overrides])
    monkeypatch.setattr(sys, "stdin", FakeStdin(stdin))
    with pytest.raises(SystemExit) as stopped:
        COMMANDS[command]()
    return stopped.value.code, capsys.readouterr().err


# Each maker writes the bad input under `tmp` (using the tiny run where it needs a real file) and returns the
# path to pass; the row's overrides hold `{path}`, `{tmp}` and `{tiny}` placeholders.
def text_file(tmp: Path, tiny: Path) -> Path:
    path = tmp / "notes.txt"
    path.write_text("These are my notes, not a checkpoint.\n", encoding="utf-8")
    return path


def empty_file(tmp: Path, tiny: Path) -> Path:
    path = tmp / "empty.pt"
    path.write_bytes(b"")
    return path


def random_bytes(tmp: Path, tiny: Path) -> Path:
    path = tmp / "noise.pt"
    path.write_bytes(bytes(range(256)) * 64)
    return path


def truncated_checkpoint(tmp: Path, tiny: Path) -> Path:
    data = (tiny / "checkpoints" / "best.pt").read_bytes()
    path = tmp / "truncated.pt"
    path.write_bytes(data[: len(data) * 6 // 10])
    return path


def zip_of_text(tmp: Path, tiny: Path) -> Path:
    path = tmp / "archive.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    return path


def other_tools_checkpoint(tmp: Path, tiny: Path) -> Path:
    path = tmp / "other.pt"
    torch.save({"state_dict": {"weight": torch.zeros(2)}, "epoch": 3}, path)
    return path


def newer_checkpoint(tmp: Path, tiny: Path) -> Path:
    checkpoint = load_checkpoint(tiny / "checkpoints" / "best.pt")
    fields = {name: getattr(checkpoint, name) for name in type(checkpoint).__dataclass_fields__}
    path = tmp / "newer.pt"
    torch.save({**fields, "format_version": 99}, path)
    return path


def mismatched_weights(tmp: Path, tiny: Path) -> Path:
    checkpoint = load_checkpoint(tiny / "checkpoints" / "best.pt")
    state = dict(checkpoint.model_state)
    name = next(key for key in state if key.endswith("weight") and state[key].dim() == 2)
    state[name] = torch.zeros(3, 3)
    fields = {name: getattr(checkpoint, name) for name in type(checkpoint).__dataclass_fields__}
    return save_checkpoint(tmp / "mismatched.pt", {**fields, "model_state": state})


def directory(tmp: Path, tiny: Path) -> Path:
    path = tmp / "run"
    path.mkdir()
    return path


def latin1_input(tmp: Path, tiny: Path) -> Path:
    path = tmp / "input.txt"
    path.write_bytes("a man sings .\nun café crème .\n".encode("latin-1"))
    return path


def corpus_with(test_bytes: bytes) -> Callable[[Path, Path], Path]:
    """A copy of the tiny TSV corpus whose test.tsv holds `test_bytes`."""

    def make(tmp: Path, tiny: Path) -> Path:
        corpus = tmp / "corpus"
        corpus.mkdir()
        for stem in ("train", "valid"):
            (corpus / f"{stem}.tsv").write_bytes((tiny / "corpus" / f"{stem}.tsv").read_bytes())
        (corpus / "test.tsv").write_bytes(test_bytes)
        return corpus

    return make


def held_run_directory(tmp: Path, tiny: Path) -> Path:
    path = tmp / "busy"
    path.mkdir()
    return path


LOCAL_CORPUS = ["data=local", "data.local_dir={path}", "data.local_format=tsv", "data.local_splits.validation=valid",
                "data.src_lang=en", "data.tgt_lang=fr", "paths.data_dir={tmp}/data"]
CKPT = "ckpt={tiny}/checkpoints/best.pt"

CATALOGUE = [
    # (id, command, maker of the bad input, overrides, stdin, fragment of the error line)
    ("stdin-not-utf8", "translate", None, [CKPT], b"\xff\xfe text\n", "stdin line 1 is not valid UTF-8 (byte 0xff"),
    ("stdin-nul", "translate", None, [CKPT], b"a man\nsings\x00 .\n", "stdin line 2 holds a NUL byte"),
    ("input-latin1", "translate", latin1_input, [CKPT, "input={path}"], b"", "input.txt line 2 is not valid UTF-8"),
    ("input-missing", "translate", None, [CKPT, "input={tmp}/none.txt"], b"", "none.txt does not exist"),
    ("ckpt-missing", "translate", None, ["ckpt={tmp}/none.pt", "text=hi"], b"", "none.pt does not exist"),
    ("ckpt-text", "translate", text_file, ["ckpt={path}", "text=hi"], b"", "notes.txt is a text file"),
    ("ckpt-empty", "translate", empty_file, ["ckpt={path}", "text=hi"], b"", "empty.pt is empty"),
    ("ckpt-random", "translate", random_bytes, ["ckpt={path}", "text=hi"], b"", "noise.pt is not a torch file"),
    ("ckpt-truncated", "translate", truncated_checkpoint, ["ckpt={path}", "text=hi"], b"", "truncated.pt is truncated"),
    ("ckpt-zip", "translate", zip_of_text, ["ckpt={path}", "text=hi"], b"", "is a zip archive but not a torch file"),
    ("ckpt-other-tool", "translate", other_tools_checkpoint, ["ckpt={path}", "text=hi"], b"",
     "is a torch file but not an nmt checkpoint (it holds a dict with keys"),
    ("ckpt-newer", "translate", newer_checkpoint, ["ckpt={path}", "text=hi"], b"", "has format_version=99"),
    ("ckpt-weights", "translate", mismatched_weights, ["ckpt={path}", "text=hi"], b"", "do not fit"),
    ("ckpt-directory", "evaluate", directory, ["ckpt={path}"], b"", "run is a directory"),
    ("config-value", "translate", None, [CKPT, "nbest=9"], b"", "nbest=9 exceeds beam_size=5"),
    ("references-not-utf8", "evaluate", corpus_with(b"a man sings .\tun homme \xe9 chante .\n"),
     [CKPT, *LOCAL_CORPUS, "data.name=broken"], b"", "test.tsv line 1 is not valid UTF-8 (byte 0xe9"),
    ("corpus-nul", "prepare", corpus_with(b"a\tb\n\x00\x00\n"), LOCAL_CORPUS, b"", "test.tsv line 2 holds a NUL byte"),
    ("corpus-empty", "prepare", corpus_with(b""), LOCAL_CORPUS, b"", "test.tsv is empty"),
    ("resume-nothing", "train", directory, ["hydra.run.dir={path}", "trainer.resume=true"], b"",
     "trainer.resume=true but"),
    ("run-dir-busy", "train", held_run_directory, ["hydra.run.dir={path}", "data.sample_sizes.train=20"], b"",
     "is in use by another nmt-train"),
]


@pytest.mark.parametrize(("command", "make_input", "overrides", "stdin", "fragment"),
                         [row[1:] for row in CATALOGUE], ids=[row[0] for row in CATALOGUE])
def test_bad_input_is_one_error_line_and_exit_status_2(command, make_input, overrides, stdin, fragment, tiny,
                                                       tmp_path, monkeypatch, capsys):
    path = make_input(tmp_path, tiny) if make_input else None
    lock = RunDirectoryLock.acquire(path) if make_input is held_run_directory else None
    try:
        status, stderr = run_command(command, [o.format(path=path, tmp=tmp_path, tiny=tiny) for o in overrides],
                                     stdin=stdin, monkeypatch=monkeypatch, capsys=capsys)
    finally:
        if lock is not None:
            lock.release()
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert status == 2, stderr
    assert len(errors) == 1 and fragment in errors[0], stderr
    assert "Traceback" not in stderr
