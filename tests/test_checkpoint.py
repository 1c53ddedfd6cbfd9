"""Checkpoints: round trip, atomic writes, refusing pickled code, clear errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from nmt.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from nmt.errors import NMTError


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


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all"])
def test_unreadable_file_is_one_clear_error(tmp_path, content):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(NMTError, match=r"broken\.pt is not a readable nmt checkpoint"):
        load_checkpoint(path)


def test_truncated_checkpoint_is_one_clear_error(tmp_path):
    path = tmp_path / "cut.pt"
    save_checkpoint(path, make_checkpoint(size=64))
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(NMTError, match=r"cut\.pt is not a readable nmt checkpoint"):
        load_checkpoint(path)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(NMTError, match=r"nothere\.pt does not exist"):
        load_checkpoint(tmp_path / "nothere.pt")


def test_plain_state_dict_is_not_mistaken_for_a_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.ones(2)}, path)
    with pytest.raises(NMTError, match=r"weights\.pt lacks model_state"):
        load_checkpoint(path)
