"""The training loop on a toy reversal task: learning, outputs, exact resume, stopping rules, NaN stop."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import signal
from pathlib import Path

import pytest
import torch
from toy_run import TINY_RNN, TINY_TRANSFORMER, build_toy_inputs, trainer_config

import nmt.training.loop
from nmt.checkpoint import load_checkpoint, save_checkpoint
from nmt.data.batching import TokenizedSplit, token_batches
from nmt.errors import NMTError
from nmt.models import build_model
from nmt.training.config import seed_everything
from nmt.training.inputs import RunInputs
from nmt.training.loop import Trainer
from nmt.training.run_directory import LOCK_NAME


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and a shared machine cannot oversubscribe it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy_inputs() -> RunInputs:
    return build_toy_inputs()


def make_trainer(inputs: RunInputs, output_dir: Path, *, resume_from: Path | None = None, model_config=None,
                 **overrides) -> Trainer:
    config = trainer_config(**overrides)
    seed_everything(config.seed)
    model_config = model_config or inputs.model_config
    inputs = RunInputs(**{**inputs.__dict__, "model_config": model_config})
    model = build_model(model_config, src_vocab_size=inputs.tokenizer.src_vocab_size,
                        tgt_vocab_size=inputs.tokenizer.tgt_vocab_size)
    return Trainer(model=model, inputs=inputs, config=config, device=torch.device("cpu"), output_dir=output_dir,
                   resume_from=resume_from)


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / "last.pt").model_state


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_training_learns_and_writes_every_output(tmp_path, toy_inputs):
    result = make_trainer(toy_inputs, tmp_path, max_steps=60, validate_every=20, keep_checkpoints=2,
                          tensorboard=True).fit()
    assert (result.step, result.stop_reason) == (60, "max_steps=60 reached")
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [20, 40, 60]
    assert set(records[0]) >= {"step", "epoch", "train_loss", "val_loss", "val_bleu", "val_chrf", "tokens_per_s",
                               "elapsed_s"}
    assert records[-1]["val_loss"] < records[0]["val_loss"]
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    checkpoints = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert checkpoints == ["best.pt", "last.pt", "step-40.pt", "step-60.pt"]
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert best.training_state is None and best.metrics["step"] == result.best_step
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt").training_state["step"] == 60
    hypotheses = (tmp_path / "validation" / "step-60.txt").read_text().splitlines()
    assert len(hypotheses) == len(toy_inputs.validation_sources)
    assert any((tmp_path / "tensorboard").iterdir())


def test_stopped_then_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(tmp_path, toy_inputs):
    make_trainer(toy_inputs, tmp_path / "whole", max_steps=12, accumulate=2).fit()
    make_trainer(toy_inputs, tmp_path / "parts", max_steps=8, accumulate=2).fit()
    resumed = make_trainer(toy_inputs, tmp_path / "parts", max_steps=12, accumulate=2,
                           resume_from=tmp_path / "parts" / "checkpoints" / "last.pt")
    assert resumed.step == 8
    torch.manual_seed(12345)  # the resume must restore the RNG, not rely on the process's state
    resumed.fit()
    assert_same_weights(final_weights(tmp_path / "whole"), final_weights(tmp_path / "parts"))
    whole = (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()
    parts = (tmp_path / "parts" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["val_loss"] for line in whole] == [json.loads(line)["val_loss"] for line in parts]


def test_resume_across_an_epoch_boundary_restores_the_position_in_the_epoch(tmp_path, toy_inputs):
    # 400 short pairs in 256-token batches: about 30 batches an epoch, so 45 steps cross it.
    make_trainer(toy_inputs, tmp_path / "whole", max_steps=45, validate_every=0, checkpoint_every=5).fit()
    make_trainer(toy_inputs, tmp_path / "parts", max_steps=25, validate_every=0, checkpoint_every=5).fit()
    state = load_checkpoint(tmp_path / "parts" / "checkpoints" / "last.pt").training_state
    assert state["batch_in_epoch"] > 0
    make_trainer(toy_inputs, tmp_path / "parts", max_steps=45, validate_every=0, checkpoint_every=5,
                 resume_from=tmp_path / "parts" / "checkpoints" / "last.pt").fit()
    assert load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt").training_state["epoch"] == 2
    assert_same_weights(final_weights(tmp_path / "whole"), final_weights(tmp_path / "parts"))


def test_non_finite_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, toy_inputs, monkeypatch):
    calls = {"count": 0}
    real_loss = nmt.training.loop.label_smoothed_loss

    def loss_that_overflows_at_update_7(logits, target, *, smoothing):
        calls["count"] += 1
        loss, nll = real_loss(logits, target, smoothing=smoothing)
        return (loss * float("inf"), nll) if calls["count"] >= 7 else (loss, nll)

    monkeypatch.setattr(nmt.training.loop, "label_smoothed_loss", loss_that_overflows_at_update_7)
    trainer = make_trainer(toy_inputs, tmp_path, max_steps=20, validate_every=0, checkpoint_every=3, log_every=5)
    with pytest.raises(NMTError, match=r"NaN or infinite at step 7 .*last\.pt \(step 6\) is kept") as error:
        trainer.fit()
    assert "\n" not in str(error.value)
    saved = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert saved.training_state["step"] == 6
    assert all(torch.isfinite(tensor).all() for tensor in saved.model_state.values())


def test_early_stopping_ends_the_run_after_patience_validations_without_improvement(tmp_path, toy_inputs):
    # A learning rate this small cannot change the greedy output: BLEU never improves on the first validation.
    result = make_trainer(toy_inputs, tmp_path, lr=1e-9, max_steps=100, validate_every=2, patience=2).fit()
    assert result.step == 6
    assert "early stopping" in result.stop_reason
    assert result.best_step == 2


def test_max_epochs_stops_at_the_end_of_an_epoch(tmp_path, toy_inputs):
    result = make_trainer(toy_inputs, tmp_path, max_steps=0, max_epochs=1, validate_every=0).fit()
    assert result.stop_reason == "max_epochs=1 reached"
    assert result.epoch == 1
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt").training_state
    assert (state["epoch"], state["batch_in_epoch"]) == (2, 0)


def test_a_run_that_ends_before_its_warmup_does_warns_at_the_start_naming_the_numbers(tmp_path, toy_inputs, caplog):
    with caplog.at_level(logging.INFO):
        make_trainer(toy_inputs, tmp_path, max_steps=0, max_epochs=1, validate_every=0, warmup_steps=4000).fit()
    updates_per_epoch = len(token_batches(toy_inputs.train.src_lengths, toy_inputs.train.tgt_lengths,
                                          batch_tokens=256, shuffle=True, seed=1, epoch=1))
    expected = (f"the run stops after {updates_per_epoch} updates (trainer.max_epochs=1 x {updates_per_epoch} "
                "updates per epoch) but trainer.warmup_steps=4000")
    warned = [index for index, record in enumerate(caplog.records)
              if record.levelno == logging.WARNING and record.getMessage().startswith(expected)]
    first_validation = next(index for index, record in enumerate(caplog.records)
                            if record.getMessage().startswith("validation step="))
    assert warned and warned[0] < first_validation


def test_rnn_with_bf16_autocast_plateau_schedule_and_accumulation_trains(tmp_path, toy_inputs):
    result = make_trainer(toy_inputs, tmp_path, model_config=TINY_RNN, precision="bf16", lr_schedule="auto",
                          accumulate=2, max_steps=6, validate_every=3).fit()
    assert result.step == 6
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["val_loss"] == pytest.approx(record["val_loss"])  # finite, not NaN
    trainer = make_trainer(toy_inputs, tmp_path / "other", model_config=TINY_RNN)
    assert trainer.schedule.kind == "plateau"


def test_bf16_training_on_a_cpu_pads_each_batchs_source_and_target_to_one_width(tmp_path, toy_inputs):
    train = toy_inputs.train  # reversals: each target as long as its source, so lengthen some targets
    sources = [train.src(row).tolist() for row in range(len(train))]
    targets = [train.tgt(row).tolist() + train.tgt(row).tolist()[: row % 4] for row in range(len(train))]
    inputs = RunInputs(**{**toy_inputs.__dict__, "train": TokenizedSplit.from_lists(sources, targets)})
    widths = {}
    for precision in ("32", "bf16"):
        trainer = make_trainer(inputs, tmp_path / precision, precision=precision, max_steps=4, validate_every=4)
        forward, seen = trainer.forward_model, []

        def spy(src, src_mask, tgt_in, forward=forward, seen=seen):
            seen.append((src.size(1), tgt_in.size(1)))
            return forward(src, src_mask, tgt_in)

        trainer.forward_model = spy
        trainer.fit()
        widths[precision] = seen
    assert len(widths["bf16"]) == len(widths["32"]) >= 4  # the same batches, seeded
    assert any(source != target for source, target in widths["32"])  # float32 keeps each side's own width
    assert widths["bf16"] == [(max(source, target),) * 2 for source, target in widths["32"]]


def test_resume_with_another_model_config_names_the_differing_key(tmp_path, toy_inputs):
    make_trainer(toy_inputs, tmp_path, max_steps=2, validate_every=2).fit()
    changed = {**TINY_TRANSFORMER, "dropout": 0.3}
    with pytest.raises(NMTError, match=r"model\.dropout=0\.1 but this run has model\.dropout=0\.3"):
        make_trainer(toy_inputs, tmp_path, model_config=changed,
                     resume_from=tmp_path / "checkpoints" / "last.pt")


def test_resume_with_another_nested_data_setting_names_the_dotted_key(tmp_path, toy_inputs):
    inputs = RunInputs(**{**toy_inputs.__dict__, "data_config": {"name": "toy", "clean": {"max_len": 50}}})
    make_trainer(inputs, tmp_path, max_steps=2, validate_every=2).fit()
    changed = RunInputs(**{**toy_inputs.__dict__, "data_config": {"name": "toy", "clean": {"max_len": 5}}})
    with pytest.raises(NMTError, match=r"data\.clean\.max_len=50 but this run has data\.clean\.max_len=5;"):
        make_trainer(changed, tmp_path, resume_from=tmp_path / "checkpoints" / "last.pt")


def test_resume_from_a_weights_only_checkpoint_is_refused(tmp_path, toy_inputs):
    make_trainer(toy_inputs, tmp_path, max_steps=2, validate_every=2).fit()
    with pytest.raises(NMTError, match=r"best\.pt holds no training state"):
        make_trainer(toy_inputs, tmp_path, resume_from=tmp_path / "checkpoints" / "best.pt")


def test_best_checkpoint_restores_a_model_that_translates_like_the_trained_one(tmp_path, toy_inputs):
    from nmt.data.tokenizer import Tokenizer
    from nmt.inference.translation import Translator
    from nmt.models import restore_model

    trainer = make_trainer(toy_inputs, tmp_path, max_steps=8, validate_every=8)
    trainer.fit()
    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    model, tokenizer = restore_model(checkpoint, device="cpu"), Tokenizer.from_state(checkpoint.tokenizer_state)
    translator = Translator(model, tokenizer, beam_size=1, length_penalty=0.0, max_len_a=1.5, max_len_b=10,
                            batch_tokens=8000)
    logged = (tmp_path / "validation" / "step-8.txt").read_text().splitlines()
    assert translator.translate(toy_inputs.validation_sources) == logged
    save_checkpoint(tmp_path / "copy.pt", checkpoint)
    assert load_checkpoint(tmp_path / "copy.pt").model_config == TINY_TRANSFORMER


def test_periodic_pruning_keeps_the_newest_and_leaves_an_earlier_runs_files_alone(tmp_path, toy_inputs):
    stale = tmp_path / "checkpoints" / "step-999.pt"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier run's checkpoint")
    make_trainer(toy_inputs, tmp_path, max_steps=8, validate_every=0, checkpoint_every=2, keep_checkpoints=2).fit()
    names = sorted(path.name for path in (tmp_path / "checkpoints").glob("step-*.pt"))
    assert names == ["step-6.pt", "step-8.pt", "step-999.pt"]


# ------------------------------------------------- signals, one writer per run directory, failed writes


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, toy_inputs) -> Path:
    """The reference for the signal tests: the default 12 updates, validated every 4, never interrupted."""
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the interrupted runs, which the function-scoped one_thread gives
    make_trainer(toy_inputs, run_dir).fit()
    torch.set_num_threads(threads)
    return run_dir


def signal_during_update(monkeypatch, *, update: int, signum: int) -> None:
    """Send this process `signum` from inside the forward pass of optimizer update number `update`."""
    calls = {"count": 0}
    real_loss = nmt.training.loop.label_smoothed_loss

    def loss_then_signal(logits, target, *, smoothing):
        calls["count"] += 1
        if calls["count"] == update:
            os.kill(os.getpid(), signum)
        return real_loss(logits, target, smoothing=smoothing)

    monkeypatch.setattr(nmt.training.loop, "label_smoothed_loss", loss_then_signal)


@pytest.mark.usefixtures("sigint_handled")
def test_sigint_saves_last_pt_at_the_interrupted_update_and_the_resumed_run_ends_equal(tmp_path, toy_inputs,
                                                                                       uninterrupted, monkeypatch,
                                                                                       caplog):
    signal_during_update(monkeypatch, update=6, signum=signal.SIGINT)
    with caplog.at_level(logging.INFO, logger="nmt.training.loop"):
        result = make_trainer(toy_inputs, tmp_path).fit()
    assert (result.step, result.stop_signal, result.stop_reason) == (6, signal.SIGINT, "interrupted by SIGINT")
    assert (f"interrupted by SIGINT at step 6; resume with hydra.run.dir={tmp_path.resolve()} trainer.resume=true"
            in caplog.messages)
    last = tmp_path / "checkpoints" / "last.pt"
    assert load_checkpoint(last).training_state["step"] == 6
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.undo()
    make_trainer(toy_inputs, tmp_path, resume_from=last).fit()
    assert_same_weights(final_weights(uninterrupted), final_weights(tmp_path))
    val_losses = [[json.loads(line)["val_loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
                  for run in (uninterrupted, tmp_path)]
    assert val_losses[0] == val_losses[1]


@pytest.mark.usefixtures("sigint_handled")
def test_a_second_sigint_during_the_save_exits_at_once_and_keeps_the_previous_last_pt(tmp_path, toy_inputs,
                                                                                      monkeypatch):
    signal_during_update(monkeypatch, update=5, signum=signal.SIGINT)
    real_save = torch.save

    def save_interrupted_half_way(payload, file):
        if payload["training_state"]["step"] == 5:
            file.write(b"partial bytes")
            os.kill(os.getpid(), signal.SIGINT)
        real_save(payload, file)

    monkeypatch.setattr(torch, "save", save_interrupted_half_way)
    with pytest.raises(SystemExit) as exit_info:
        make_trainer(toy_inputs, tmp_path, validate_every=0, checkpoint_every=2, keep_checkpoints=0).fit()
    assert exit_info.value.code == 130
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt").training_state["step"] == 4
    assert [path.name for path in (tmp_path / "checkpoints").iterdir()] == ["last.pt"]  # no temporary file
    assert not (tmp_path / LOCK_NAME).exists()  # the run directory is free
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_trainer_on_the_same_run_directory_is_refused_until_the_first_has_finished(tmp_path, toy_inputs):
    first = make_trainer(toy_inputs, tmp_path, max_steps=2, validate_every=2)
    with pytest.raises(NMTError) as error:
        make_trainer(toy_inputs, tmp_path, max_steps=2, validate_every=2)
    assert str(error.value).startswith(f"run directory {tmp_path} is in use by another nmt-train "
                                       f"(pid {os.getpid()} on ")
    first.fit()
    last = tmp_path / "checkpoints" / "last.pt"
    assert make_trainer(toy_inputs, tmp_path, max_steps=3, validate_every=3, resume_from=last).fit().step == 3


def test_disk_full_while_saving_ends_the_run_with_one_error_and_keeps_the_previous_last_pt(tmp_path, toy_inputs,
                                                                                          monkeypatch):
    real_save = torch.save

    def fill_the_disk_at_step_6(payload, file):
        if payload["training_state"]["step"] == 6:
            file.write(b"partial bytes")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(payload, file)

    monkeypatch.setattr(torch, "save", fill_the_disk_at_step_6)
    with pytest.raises(NMTError) as error:
        make_trainer(toy_inputs, tmp_path, validate_every=0, checkpoint_every=2, keep_checkpoints=0).fit()
    last = tmp_path / "checkpoints" / "last.pt"
    assert str(error.value) == (f"cannot write checkpoint {last}: No space left on device; "
                                "free space or choose another hydra.run.dir.")
    assert load_checkpoint(last).training_state["step"] == 4
    assert [path.name for path in last.parent.iterdir()] == ["last.pt"]
    assert not (tmp_path / LOCK_NAME).exists()


def test_disk_full_while_writing_the_validation_hypotheses_is_one_error_naming_the_run_directory(tmp_path, toy_inputs,
                                                                                                 monkeypatch):
    trainer = make_trainer(toy_inputs, tmp_path, max_steps=2, validate_every=2)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # write() names no file

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(NMTError, match=rf"^cannot write {re.escape(str(tmp_path))}: No space left on device; "
                                       r"free space or choose another hydra\.run\.dir\.$"):
        trainer.fit()
