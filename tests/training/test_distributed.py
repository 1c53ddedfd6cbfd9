"""Training on two gloo processes: the same updates as one process with accumulate=2 (with an uneven batch
count), exact resume after SIGKILL, a refused resume on another number of processes, shared stop decisions."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from toy_run import TINY_TRANSFORMER, build_toy_inputs, train_rank, trainer_config

from nmt.checkpoint import load_checkpoint
from nmt.data.batching import token_batches
from nmt.errors import NMTError
from nmt.models import build_model
from nmt.training.config import seed_everything
from nmt.training.distributed import Ranks
from nmt.training.loop import Trainer

NO_DROPOUT = {**TINY_TRANSFORMER, "dropout": 0.0}  # so one process and two make the same computation


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_ranks(output_dir: Path, *, num_train: int = 400, model_config=NO_DROPOUT, resume: bool = False,
                join: bool = True, **overrides):
    """Two training processes on gloo, as `torchrun --nproc_per_node=2` would start them."""
    args = (2, free_port(), str(output_dir), num_train, model_config, overrides, resume)
    return mp.start_processes(train_rank, args=args, nprocs=2, join=join, start_method="spawn")


def train_one_process(output_dir: Path, *, num_train: int = 400, model_config=NO_DROPOUT, **overrides) -> None:
    config = trainer_config(**overrides)
    inputs = build_toy_inputs(num_train, model_config)
    seed_everything(config.seed)
    model = build_model(model_config, src_vocab_size=inputs.tokenizer.src_vocab_size,
                        tgt_vocab_size=inputs.tokenizer.tgt_vocab_size)
    Trainer(model=model, inputs=inputs, config=config, device=torch.device("cpu"), output_dir=output_dir).fit()


def last(run_dir: Path):
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")


def test_two_processes_make_the_updates_of_one_process_accumulating_two_batches(tmp_path: Path):
    num_train = 400  # 31 batches an epoch: the last update of each epoch leaves rank 1 without a batch
    settings = dict(max_steps=0, max_epochs=2, validate_every=0, batch_tokens=200, label_smoothing=0.1)
    inputs = build_toy_inputs(num_train)
    batches_per_epoch = len(token_batches(inputs.train.src_lengths, inputs.train.tgt_lengths, batch_tokens=200,
                                          shuffle=True, seed=1, epoch=1))
    assert batches_per_epoch % 2 == 1
    start_ranks(tmp_path / "two", num_train=num_train, **settings)
    train_one_process(tmp_path / "one", num_train=num_train, accumulate=2, **settings)
    two, one = last(tmp_path / "two"), last(tmp_path / "one")
    assert two.training_state["step"] == one.training_state["step"] == 2 * ((batches_per_epoch + 1) // 2)
    for name, weight in one.model_state.items():
        torch.testing.assert_close(two.model_state[name], weight, rtol=1e-5, atol=1e-6, msg=name)
    assert two.training_state["world_size"] == 2 and len(two.training_state["rng_per_rank"]) == 2
    # rank 0 alone wrote the run: one metrics line per validation (one per epoch), the same losses
    metrics = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 2
    assert abs(two.metrics["val_loss"] - one.metrics["val_loss"]) < 1e-4


def test_a_two_process_run_killed_with_sigkill_resumes_to_the_same_weights(tmp_path: Path):
    settings = dict(max_steps=120, validate_every=0, max_epochs=0, checkpoint_every=1, keep_checkpoints=1,
                    batch_tokens=200)
    model_config = TINY_TRANSFORMER  # with dropout: each rank's random state must be restored too
    start_ranks(tmp_path / "whole", model_config=model_config, **settings)
    context = start_ranks(tmp_path / "killed", model_config=model_config, join=False, **settings)
    checkpoint_dir = tmp_path / "killed" / "checkpoints"
    deadline = time.monotonic() + 120
    while not any(checkpoint_dir.glob("step-5.pt")) and time.monotonic() < deadline:
        time.sleep(0.01)
    for process in context.processes:
        process.kill()  # SIGKILL: no handler runs, nothing is saved on the way out
    for process in context.processes:
        process.join()
    killed_at = last(tmp_path / "killed").training_state["step"]
    assert 4 <= killed_at < 120
    inputs = build_toy_inputs()
    model = build_model(model_config, src_vocab_size=inputs.tokenizer.src_vocab_size,
                        tgt_vocab_size=inputs.tokenizer.tgt_vocab_size)
    with pytest.raises(NMTError, match=r"written by a run on 2 process\(es\) but this run has 1; resume with the "
                                       r"same number of processes \(torchrun --nproc_per_node\)"):
        Trainer(model=model, inputs=inputs, config=trainer_config(**settings), device=torch.device("cpu"),
                output_dir=tmp_path / "killed", resume_from=checkpoint_dir / "last.pt", ranks=Ranks())
    start_ranks(tmp_path / "killed", model_config=model_config, resume=True, **settings)
    resumed, whole = last(tmp_path / "killed"), last(tmp_path / "whole")
    assert resumed.training_state["step"] == whole.training_state["step"] == 120
    for name, weight in whole.model_state.items():
        assert torch.equal(resumed.model_state[name], weight), name


def test_a_sigterm_to_one_rank_stops_every_rank_after_the_same_update(tmp_path: Path):
    settings = dict(max_steps=100_000, validate_every=0, max_epochs=0, checkpoint_every=5, keep_checkpoints=1,
                    batch_tokens=200)
    context = start_ranks(tmp_path / "run", join=False, **settings)
    deadline = time.monotonic() + 120
    while not any((tmp_path / "run" / "checkpoints").glob("step-*.pt")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(context.processes[1].pid, signal.SIGTERM)  # as a scheduler stopping one process would
    for process in context.processes:
        process.join(timeout=120)
    # both ranks left the loop (no hang) and rank 0 saved where they stopped
    assert [process.exitcode for process in context.processes] == [0, 0]
    state = last(tmp_path / "run").training_state
    assert 0 < state["step"] < 100_000
