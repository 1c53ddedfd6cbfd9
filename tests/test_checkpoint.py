"""Checkpoints: round trip, atomic writes, refusing pickled code, clear errors."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
import torch
from tiny_checkpoint import build_tiny_checkpoint, one_cpu_thread  # noqa: F401 (one_cpu_thread: autouse fixture)

from nmt.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from nmt.errors import NMTError
from nmt.inference.translation import load_for_translation


def make_checkpoint(*, scale: float = 1.0, size: int = 4) -> Checkpoint:
    return Checkpoint(
        model_state={"weight": torch.full((size, size), scale), "bias": torch.arange(size, dtype=torch.float32)},
        model_config={"_target_": "nmt.models.transformer.Transformer", "d_model": 16},
        src_vocab_size=32,
        tgt_vocab_size=32,
        tokenizer_state={"joint": True, "src_model": b"\x00\x01spm"},
        data_config={"name": "sample", "train_size": 100},
        training_state={"step": 7, "rng": {"torch": torch.get_rng_state(), "python": (3, (1, 2, 3), None)}},
        metrics={"step": 7, "val_bleu": 12.5},
    )


def test_round_trip_keeps_every_field(tmp_path):
    checkpoint = make_checkpoint(scale=2.0)
    save_checkpoint(tmp_path / "last.pt", checkpoint)
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert torch.equal(loaded.model_state["weight"], checkpoint.model_state["weight"])
    assert loaded.model_config == checkpoint.model_config
    assert loaded.tokenizer_state == checkpoint.tokenizer_state
    assert loaded.data_config == checkpoint.data_config
    assert torch.equal(loaded.training_state["rng"]["torch"], checkpoint.training_state["rng"]["torch"])
    assert loaded.training_state["rng"]["python"] == (3, (1, 2, 3), None)
    assert loaded.step == 7


def test_save_accepts_a_plain_mapping_and_creates_the_directory(tmp_path):
    payload = {"model_state": {"w": torch.ones(2)}, "model_config": {"_target_": "x"}, "src_vocab_size": 8,
               "tgt_vocab_size": 8, "tokenizer_state": {}}
    path = save_checkpoint(tmp_path / "new" / "dir" / "best.pt", payload)
    assert load_checkpoint(path).training_state is None


def test_failed_save_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, make_checkpoint(scale=1.0))

    def crash_half_way(obj, file):
        file.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_half_way)
    with pytest.raises(OSError):
        save_checkpoint(path, make_checkpoint(scale=5.0))
    monkeypatch.undo()
    assert load_checkpoint(path).model_state["weight"][0, 0].item() == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_sigkill_during_repeated_saves_never_leaves_a_corrupt_file(tmp_path):
    path = tmp_path / "last.pt"
    script = textwrap.dedent(f"""
        import torch
        from nmt.checkpoint import Checkpoint, save_checkpoint
        step = 0
        while True:
            step += 1
            save_checkpoint({str(path)!r}, Checkpoint(
                model_state={{"w": torch.full((512, 512), float(step))}}, model_config={{}},
                src_vocab_size=1, tgt_vocab_size=1, tokenizer_state={{}}, metrics={{"step": step}}))
    """)
    process = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # let it be in the middle of later saves
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    loaded = load_checkpoint(path)
    assert loaded.model_state["w"][0, 0].item() == loaded.metrics["step"]


class _RunsShellCommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_checkpoint_with_pickled_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"model_state": _RunsShellCommand(marker), "model_config": {}, "src_vocab_size": 1,
               "tgt_vocab_size": 1, "tokenizer_state": {}}
    torch.save(payload, path)
    with pytest.raises(NMTError, match=r"evil\.pt was refused because it holds pickled code") as error:
        load_checkpoint(path)
    assert "\n" not in str(error.value)
    assert not marker.exists()


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(NMTError, match=r"nothere\.pt does not exist"):
        load_checkpoint(tmp_path / "nothere.pt")


# ----------------------------------------------------------------------------- any file as a checkpoint


def _write_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not weights")


def _write_legacy_torch(path: Path) -> None:
    torch.save({"weight": torch.ones(2)}, path, _use_new_zipfile_serialization=False)


FILES_THAT_ARE_NOT_CHECKPOINTS = {
    "empty": (lambda path: path.write_bytes(b""), r"is empty"),
    "text": (lambda path: path.write_text("remember the milk\n", encoding="utf-8"),
             r"is a text file, not a checkpoint \(it starts 'remember the milk'\)"),
    "random bytes": (lambda path: path.write_bytes(random.Random(0).randbytes(3000)), r"is not a torch file"),
    "zip": (_write_zip, r"is a zip archive but not a torch file \(it holds notes\.txt\)"),
    "legacy torch": (_write_legacy_torch, r"is a torch file in the legacy format"),
    "state dict": (lambda path: torch.save({"state_dict": {"w": torch.ones(2)}}, path),
                   r"is a torch file but not an nmt checkpoint \(it holds a dict with keys state_dict\)"),
    "tensor": (lambda path: torch.save(torch.ones(3), path),
               r"is a torch file but not an nmt checkpoint \(it holds a Tensor\)"),
    "list": (lambda path: torch.save([1, 2, 3], path),
             r"is a torch file but not an nmt checkpoint \(it holds a list\)"),
    "newer format": (lambda path: torch.save({**_fields(make_checkpoint()), "format_version": 2}, path),
                     r"has format_version=2 but this nmt reads version 1"),
    "field of the wrong type": (lambda path: torch.save({**_fields(make_checkpoint()), "model_state": [1]}, path),
                                r"is damaged or from another tool: its model_state is a list, not a dict"),
}


def _fields(checkpoint: Checkpoint) -> dict:
    return {name: getattr(checkpoint, name) for name in Checkpoint.__dataclass_fields__}


@pytest.mark.parametrize("kind", FILES_THAT_ARE_NOT_CHECKPOINTS)
def test_a_file_that_is_not_a_checkpoint_is_named_with_what_it_is(tmp_path, kind):
    write, expected = FILES_THAT_ARE_NOT_CHECKPOINTS[kind]
    path = tmp_path / "model.pt"
    write(path)
    with pytest.raises(NMTError, match=r"checkpoint \S*model\.pt " + expected) as error:
        load_checkpoint(path)
    assert "\n" not in str(error.value)


def test_a_directory_is_named_with_the_checkpoints_inside_it(tmp_path):
    save_checkpoint(tmp_path / "best.pt", make_checkpoint())
    with pytest.raises(NMTError, match=r"is a directory; pass one of its checkpoints: best\.pt"):
        load_checkpoint(tmp_path)


def test_a_checkpoint_cut_at_every_tenth_of_its_length_is_truncated_or_corrupt(tmp_path):
    whole = save_checkpoint(tmp_path / "whole.pt", make_checkpoint(size=64)).read_bytes()
    cut = tmp_path / "cut.pt"
    for tenth in range(1, 10):
        cut.write_bytes(whole[: len(whole) * tenth // 10])
        with pytest.raises(NMTError, match=r"cut\.pt is truncated or corrupt"):
            load_checkpoint(cut)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("checkpoint_files"))


def test_weights_that_do_not_fit_the_config_name_the_file_and_the_tensor(tiny_checkpoint, tmp_path):
    payload = torch.load(tiny_checkpoint, weights_only=True)
    name = next(iter(payload["model_state"]))
    payload["model_state"] = {**payload["model_state"], name: torch.zeros(3, 3)}
    torch.save(payload, tmp_path / "misfit.pt")
    expected = rf"misfit\.pt cannot be used: its weights do not fit .*size mismatch for {name}:"
    with pytest.raises(NMTError, match=expected):
        load_for_translation(tmp_path / "misfit.pt", device=torch.device("cpu"))


def test_a_sentencepiece_model_from_another_tool_is_refused(tiny_checkpoint, tmp_path):
    payload = torch.load(tiny_checkpoint, weights_only=True)
    payload["tokenizer_state"] = {**payload["tokenizer_state"], "src_model": b"not a sentencepiece model"}
    torch.save(payload, tmp_path / "other_spm.pt")
    with pytest.raises(NMTError, match=r"other_spm\.pt cannot be used by this version of nmt"):
        load_for_translation(tmp_path / "other_spm.pt", device=torch.device("cpu"))


def test_a_saved_checkpoint_has_the_permissions_of_an_ordinary_file(tmp_path):
    previous = os.umask(0o022)
    try:
        path = build_tiny_checkpoint(tmp_path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
