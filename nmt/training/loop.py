"""The training loop: token batches, AdamW, schedules, validation, checkpoints, exact resume.

A run is a sequence of optimizer updates over length-bucketed batches whose order
depends only on (seed, epoch), so the whole state of a run at an update boundary is
(weights, optimizer, schedule, early-stopping counters, step, epoch, batches consumed
in the epoch, RNG states). `last.pt` stores exactly that, and a run resumed from it
makes the same updates, bit for bit on CPU, as one that was never interrupted.
SIGINT and SIGTERM stop the loop at the next such boundary, after saving `last.pt`.
One Trainer at a time writes a run directory: it holds the directory's lock from
construction until `fit()` returns.

Under torchrun (`nmt.training.distributed`) every rank runs this loop over the same batch
plan: an update takes the next accumulate x world_size batches, each rank every
world_size-th of them, and the loss is normalised by the target tokens of all of them, so
N ranks make the updates one process makes with accumulate=N. Rank 0 alone validates,
logs and writes checkpoints; stopping is decided together.

Nothing in the hot loop reads a value back from the device: losses and the
"first non-finite step" accumulate as tensors and are read at log intervals,
validations and saves.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from nmt.checkpoint import Checkpoint, load_checkpoint, periodic_checkpoints, save_checkpoint
from nmt.data.batching import token_batches
from nmt.device import autocast, pads_to_one_width, warn_if_bf16_is_emulated
from nmt.errors import NMTError
from nmt.models.seq2seq import Seq2Seq
from nmt.training.config import TrainerConfig, rng_state, set_rng_state
from nmt.training.distributed import Ranks, rank_share
from nmt.training.inputs import RunInputs
from nmt.training.loss import label_smoothed_loss
from nmt.training.optimizer import adamw
from nmt.training.resume import training_state_to_resume
from nmt.training.run_directory import RunDirectoryLock, write_error
from nmt.training.run_log import LossMeter, RunLogger, SilentRunLogger, five_decimals, thousands, two_decimals
from nmt.training.schedules import EarlyStopping, LearningRateSchedule, resolve_schedule, warmup_outlasts_budget
from nmt.training.stopping import StopOnSignal
from nmt.training.validation import Validator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingResult:
    """How a run ended: its last update, the best validation and where the checkpoints are.

    stop_signal is the number of the SIGINT/SIGTERM that interrupted the run (None when a
    stopping rule ended it); `last.pt` then holds the state to resume from.
    """

    step: int
    epoch: int
    stop_reason: str
    metric: str
    best_value: float | None
    best_step: int | None
    checkpoint_dir: Path
    stop_signal: int | None = None


class Trainer:
    """Owns one run: model, optimizer, schedule, counters, and the run directory's outputs."""

    def __init__(self, *, model: Seq2Seq, inputs: RunInputs, config: TrainerConfig, device: torch.device,
                 output_dir: Path, resume_from: Path | None = None, ranks: Ranks | None = None) -> None:
        self.model, self.inputs, self.config, self.device = model.to(device), inputs, config, device
        self.ranks = ranks or Ranks()
        self.one_width = pads_to_one_width(device, config.precision)  # bf16 on a CPU: src and tgt padded alike
        if self.ranks.is_main:
            warn_if_bf16_is_emulated(device, config.precision, key="trainer.precision")
        self.output_dir, self.checkpoint_dir = Path(output_dir), Path(output_dir) / "checkpoints"
        # DDP broadcasts rank 0's weights now and all-reduces gradients in backward.
        self.distributed_model = (DistributedDataParallel(self.model, device_ids=[device] if device.type == "cuda"
                                                          else None) if self.ranks.distributed else None)
        training_model = self.distributed_model or self.model
        self.forward_model = torch.compile(training_model) if config.compile else training_model
        self.optimizer = adamw(model.parameters(), lr=config.lr, betas=config.adam_betas, eps=config.adam_eps,
                               weight_decay=config.weight_decay, device=device)
        mode = "min" if config.metric == "loss" else "max"
        self.schedule = LearningRateSchedule(
            kind=resolve_schedule(config.lr_schedule, inputs.model_config), peak_lr=config.lr,
            warmup_steps=config.warmup_steps, mode=mode, plateau_factor=config.plateau_factor,
            plateau_patience=config.plateau_patience, min_lr=config.min_lr)
        self.early_stopping = EarlyStopping(mode=mode, patience=config.patience)
        self.validator = Validator(inputs=inputs, config=config, device=device, output_dir=self.output_dir,
                                   max_positions=model.max_src_len)
        self.step, self.epoch, self.batch_in_epoch = 0, 1, 0
        self._max_time = config.max_time_seconds
        self.elapsed_before = 0.0  # seconds trained before this process (resumed runs)
        self.last_saved_step: int | None = None
        self.last_validated_step: int | None = None
        self.latest_metrics: dict[str, Any] = {}
        self.interval_meter, self.validation_meter = LossMeter(device, self.ranks), LossMeter(device, self.ranks)
        self._first_bad_step = torch.zeros((), dtype=torch.long, device=device)
        self._rng_to_restore: dict[str, Any] | None = None
        self._signals = StopOnSignal()
        # Before anything reads or writes the run; rank 0 is the run directory's one writer.
        self._run_lock = RunDirectoryLock.acquire(self.output_dir) if self.ranks.is_main else None
        try:
            self._open_run(resume_from)
        except BaseException:
            self._release_run()
            raise

    def _open_run(self, resume_from: Path | None) -> None:
        if resume_from is not None:
            self._resume(resume_from)
        elif self.ranks.is_main and (self.checkpoint_dir / "last.pt").exists():
            log.warning("%s holds checkpoints of an earlier run; this new run overwrites them as it saves "
                        "(trainer.resume=true would continue that run instead)", self.checkpoint_dir)
        if not self.ranks.is_main:
            self.logger = SilentRunLogger()
            return
        try:
            self.logger = RunLogger(self.output_dir, tensorboard=self.config.tensorboard,
                                    resumed_step=self.step if resume_from is not None else None)
        except OSError as error:
            raise write_error(error.filename or self.output_dir, error) from None

    # ------------------------------------------------------------------ loop

    def fit(self) -> TrainingResult:
        """Train until a stopping rule or SIGINT/SIGTERM stops it, validating and saving on the way; frees the run dir.

        Interrupted by a signal, it saves last.pt at the update it stopped after and returns with
        `stop_signal` set; the entry point exits with 128 + that number.
        """
        if self._rng_to_restore is not None:
            set_rng_state(self._rng_to_restore)
            self._rng_to_restore = None
        self._clock_start = time.monotonic()
        log.info("training %s (%s parameters) on %s, lr schedule %s, from step %d", type(self.model).__name__,
                 f"{self.model.num_parameters():,}", self.device, self.schedule.kind, self.step)
        self._warn_if_warmup_outlasts_budget()
        self.model.train()
        try:
            with self._signals:
                stop_reason, stop_signal = self._train_until_stopped()
        except OSError as error:  # metrics.jsonl, validation hypotheses, TensorBoard: the run's other writes
            raise write_error(error.filename or self.output_dir, error) from None
        finally:
            self.logger.close()
            self._release_run()
        if stop_signal is not None:
            log.info("%s at step %d; resume with hydra.run.dir=%s trainer.resume=true",
                     stop_reason, self.step, self.output_dir.resolve())
        else:
            log.info("stopped: %s at step %d (epoch %d); best val %s %s at step %s", stop_reason, self.step,
                     self._epoch_of_last_update,
                     self.config.metric, two_decimals(self.early_stopping.best), self.early_stopping.best_step)
        return TrainingResult(step=self.step, epoch=self._epoch_of_last_update, stop_reason=stop_reason,
                              metric=self.config.metric,
                              best_value=self.early_stopping.best, best_step=self.early_stopping.best_step,
                              checkpoint_dir=self.checkpoint_dir, stop_signal=stop_signal)

    def _train_until_stopped(self) -> tuple[str, int | None]:
        """Epochs until a stop reason, then the final validation and save; interrupted by a signal, only the save.

        Returns the stop reason and the interrupting signal's number (None when a stopping rule fired).
        """
        stop_reason = self._stop_reason()
        while stop_reason is None:
            stop_reason = self._train_epoch()
            if stop_reason is None:
                self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                if self.config.validate_every == 0:
                    self._validate_and_save()
                stop_reason = self._stop_reason()
        # Read once, here: a signal during the final validation of a finished run does not interrupt it.
        stop_signal = self._shared_stop_flags()[0]
        if stop_signal is not None:
            stop_reason = f"interrupted by {signal.Signals(stop_signal).name}"
        elif self.last_validated_step != self.step:
            self._validate_and_save()
        if self.last_saved_step != self.step:
            self._save(periodic=False, best=False)
        return stop_reason, stop_signal

    def _epoch_batches(self) -> list[np.ndarray]:
        """The current epoch's batch plan (row indices per batch); every epoch has as many batches, in a new order."""
        return token_batches(self.inputs.train.src_lengths, self.inputs.train.tgt_lengths,
                             batch_tokens=self.config.batch_tokens, shuffle=True, seed=self.config.seed, epoch=self.epoch)

    def _warn_if_warmup_outlasts_budget(self) -> None:
        """Say so at the start when max_epochs/max_steps end the run before the learning rate reaches trainer.lr."""
        if not self.ranks.is_main or not self.config.warmup_steps:
            return
        per_update = self.config.accumulate * self.ranks.world_size
        warning = warmup_outlasts_budget(
            warmup_steps=self.config.warmup_steps, updates_per_epoch=math.ceil(len(self._epoch_batches()) / per_update),
            max_epochs=self.config.max_epochs, max_steps=self.config.max_steps)
        if warning is not None:
            log.warning(warning)

    def _train_epoch(self) -> str | None:
        """Run the rest of the current epoch; returns a stop reason when one fires mid-epoch."""
        batches = self._epoch_batches()
        progress = tqdm(total=len(batches), initial=self.batch_in_epoch, desc=f"epoch {self.epoch}", unit="batch",
                        file=sys.stderr, disable=not (sys.stderr.isatty() and self.ranks.is_main), leave=False, dynamic_ncols=True)
        with progress:
            per_update = self.config.accumulate * self.ranks.world_size
            while self.batch_in_epoch < len(batches):
                group = batches[self.batch_in_epoch:self.batch_in_epoch + per_update]
                self._update(group)
                self.batch_in_epoch += len(group)
                progress.update(len(group))
                if self.step % self.config.log_every == 0:
                    progress.set_postfix_str(self._log_interval(), refresh=False)
                if self.config.validate_every and self.step % self.config.validate_every == 0:
                    self._validate_and_save()
                elif self.config.checkpoint_every and self.step % self.config.checkpoint_every == 0:
                    started = time.monotonic()
                    self._save(periodic=True, best=False)
                    self.interval_meter.exclude(time.monotonic() - started)
                    self.validation_meter.exclude(time.monotonic() - started)
                reason = self._stop_reason()
                if reason is not None:
                    return reason
        return None

    def _update(self, group: list[np.ndarray]) -> None:
        """One optimizer update from `group`, the plan's next batches (row indices): this rank's share is every
        world_size-th one (gradient accumulation over it), the loss a mean per target token of the whole group."""
        train, world_size = self.inputs.train, self.ranks.world_size
        assert train.tgt_lengths is not None
        num_tokens = sum(int(train.tgt_lengths[indices].sum()) + len(indices) for indices in group)  # + EOS each
        share, idle = rank_share(group, self.ranks)  # idle: a zero contribution, so all ranks make the same updates
        total_loss = torch.zeros((), device=self.device)
        nll_sum = torch.zeros((), device=self.device)
        local_tokens = 0
        for position, indices in enumerate(share):
            batch = train.batch(indices, one_width=self.one_width).to(self.device, non_blocking=True)
            with self._gradient_sync(last=position == len(share) - 1):
                with self._autocast():
                    logits = self.forward_model(batch.src, batch.src_mask, batch.tgt_in)   # (B, T, V)
                loss, nll = label_smoothed_loss(logits, batch.tgt_out, smoothing=self.config.label_smoothing)
                # DDP averages gradients over ranks: scaling by world_size makes that a sum.
                (loss * 0.0 if idle else loss * world_size / num_tokens).backward()
            if not idle:
                total_loss += loss.detach()
                nll_sum = nll_sum + nll.detach()
                local_tokens += batch.num_tgt_tokens
        if self.config.clip_grad_norm > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad_norm)
            total_loss = total_loss + norm * 0.0  # a non-finite gradient norm marks the step bad too
        self.step += 1
        for param_group in self.optimizer.param_groups:
            param_group["lr"] = self.schedule.lr(self.step)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        bad = ~torch.isfinite(total_loss) & (self._first_bad_step == 0)
        self._first_bad_step = torch.where(bad, self.step, self._first_bad_step)
        self.interval_meter.add(nll_sum, local_tokens)
        self.validation_meter.add(nll_sum, local_tokens)
        if self.device.type == "cpu" and not self.ranks.distributed:
            self._check_finite()  # reading a CPU tensor costs nothing: stop at the very step (ranks: _stop_reason)

    def _gradient_sync(self, *, last: bool) -> contextlib.AbstractContextManager:
        """Under DDP, gradients are all-reduced in the backward of a rank's last batch of the update only."""
        if self.distributed_model is None or last:
            return contextlib.nullcontext()
        return self.distributed_model.no_sync()

    def _shared_stop_flags(self) -> tuple[int | None, bool]:
        """(the stop signal's number or None, whether max_time has passed), agreed on by all ranks.

        Under several processes one collective also shares the first non-finite step, so that
        every rank stops at the step any of them saw it.
        """
        signum = self._signals.signum or 0
        time_up = self._max_time is not None and self.elapsed >= self._max_time
        if self.ranks.distributed:
            signum, time_up, bad_step = self.ranks.max_ints([signum, int(time_up), int(self._first_bad_step)])
            self._first_bad_step.fill_(bad_step)
            self._check_finite(shared=True)
        return signum or None, bool(time_up)

    def _stop_reason(self) -> str | None:
        """Read at update boundaries only, so a stopped run is always at one, ready to save and resume."""
        config = self.config
        stop_signal, time_up = self._shared_stop_flags()
        if stop_signal is not None:
            return f"interrupted by {signal.Signals(stop_signal).name}"
        if config.max_steps and self.step >= config.max_steps:
            return f"max_steps={config.max_steps} reached"
        if time_up:
            return f"max_time={config.max_time} reached"
        if self.early_stopping.should_stop:
            return f"no improvement of val {config.metric} in {config.patience} validations (early stopping)"
        if config.max_epochs and self.epoch > config.max_epochs:
            return f"max_epochs={config.max_epochs} reached"
        return None

    # ------------------------------------------------------------ validation

    def _validate_and_save(self) -> None:
        """Validate, update best/early stopping/plateau, log, save; its time is left out of tokens/s."""
        started = time.monotonic()
        self._check_finite()
        train_loss, tokens_per_s = self.validation_meter.read_and_reset()
        # Rank 0 validates; every rank takes its scores, so best, early stopping and lr agree everywhere.
        scores = self.ranks.broadcast(self.validator.run(self.model, step=self.step) if self.ranks.is_main else None)
        self.model.train()
        value = scores[self.config.metric]
        is_best = self.early_stopping.observe(value, step=self.step)
        if self.schedule.observe(value):
            log.info("val %s did not improve for %d validations: lr now %.3g",
                     self.config.metric, self.config.plateau_patience, self.schedule.lr(self.step))
        self.latest_metrics = {
            "step": self.step, "epoch": self._epoch_of_last_update, "train_loss": five_decimals(train_loss),
            "val_loss": five_decimals(scores["loss"]), "val_bleu": five_decimals(scores["bleu"]), "val_chrf": five_decimals(scores["chrf"]),
            "lr": self.schedule.lr(self.step), "tokens_per_s": round(tokens_per_s, 1),
            "elapsed_s": round(self.elapsed, 3), "best": is_best}
        self.last_validated_step = self.step
        self.logger.validation(self.latest_metrics)
        periodic = self.config.checkpoint_every == 0 or self.step % self.config.checkpoint_every == 0
        self._save(periodic=periodic, best=is_best)
        for meter in (self.interval_meter, self.validation_meter):
            meter.exclude(time.monotonic() - started)

    # ----------------------------------------------------------- checkpoints

    def _save(self, *, periodic: bool, best: bool) -> None:
        """best.pt first, then last.pt: a kill in between resumes from the older last.pt and redoes the same steps."""
        self._check_finite()
        base = self._checkpoint(training_state=None)
        if best:
            self._write_checkpoint("best.pt", base)
        full = replace(base, training_state=self._training_state())
        if periodic and self.config.keep_checkpoints > 0:
            self._write_checkpoint(f"step-{self.step}.pt", full)
            self._prune_periodic()
        self._write_checkpoint("last.pt", full)
        self.last_saved_step = self.step

    def _write_checkpoint(self, name: str, checkpoint: Checkpoint) -> None:
        """save_checkpoint, atomic: a failed write (disk full, read-only) keeps the previous file and ends the run.

        Rank 0 alone writes."""
        if not self.ranks.is_main:
            return
        path = self.checkpoint_dir / name
        try:
            save_checkpoint(path, checkpoint)
        except OSError as error:
            raise write_error(path, error, what="checkpoint") from None

    def _checkpoint(self, *, training_state: dict[str, Any] | None) -> Checkpoint:
        inputs = self.inputs
        validation = {key: value for key, value in self.latest_metrics.items() if key.startswith("val_")}
        metrics = {"step": self.step, "epoch": self._epoch_of_last_update, **validation}
        return Checkpoint(
            model_state=self.model.state_dict(), model_config=inputs.model_config,
            src_vocab_size=inputs.tokenizer.src_vocab_size, tgt_vocab_size=inputs.tokenizer.tgt_vocab_size,
            tokenizer_state=inputs.tokenizer.to_state(), data_config=inputs.data_config,
            tokenizer_config=inputs.tokenizer_config, training_state=training_state, metrics=metrics)

    def _training_state(self) -> dict[str, Any]:
        """Everything a resumed run needs; under several processes also each rank's random state (a collective)."""
        per_rank = self.ranks.gather(rng_state()) if self.ranks.distributed else None
        return {"world_size": self.ranks.world_size, **({"rng_per_rank": per_rank} if per_rank else {}),
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "elapsed_s": self.elapsed, "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(), "early_stopping": self.early_stopping.state_dict(),
            "last_validated_step": self.last_validated_step, "latest_metrics": self.latest_metrics,
            "rng": rng_state(), "trainer_config": {k: list(v) if isinstance(v, tuple) else v
                                                   for k, v in asdict(self.config).items()},
        }

    def _prune_periodic(self) -> None:
        """Keep the newest keep_checkpoints step-N.pt; files of a later step belong to an earlier run: left alone."""
        if not self.ranks.is_main:
            return
        steps = periodic_checkpoints(self.checkpoint_dir)
        for step in sorted(step for step in steps if step <= self.step)[:-self.config.keep_checkpoints]:
            steps[step].unlink(missing_ok=True)

    def _resume(self, path: Path) -> None:
        checkpoint = load_checkpoint(path)
        state = training_state_to_resume(checkpoint, path=path, inputs=self.inputs, world_size=self.ranks.world_size)
        self.model.load_state_dict(checkpoint.model_state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.early_stopping.load_state_dict(state["early_stopping"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.elapsed_before = state["elapsed_s"]
        self.last_validated_step, self.latest_metrics = state["last_validated_step"], state["latest_metrics"]
        self.last_saved_step = self.step
        # Set when fit() starts, so nothing in between can draw from it.
        self._rng_to_restore = state["rng_per_rank"][self.ranks.rank] if self.ranks.distributed else state["rng"]
        log.info("resumed from %s at step %d (epoch %d, batch %d of the epoch)",
                 path, self.step, self.epoch, self.batch_in_epoch)

    # ------------------------------------------------------------- plumbing

    @property
    def _epoch_of_last_update(self) -> int:
        """The epoch the latest update belongs to (self.epoch has already moved on at an epoch's end)."""
        return self.epoch - 1 if self.batch_in_epoch == 0 and self.epoch > 1 else self.epoch

    @property
    def elapsed(self) -> float:
        """Seconds of training so far, including the processes this run was resumed from."""
        return self.elapsed_before + time.monotonic() - self._clock_start

    def _autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.config.precision)

    def _release_run(self) -> None:
        if self._run_lock is not None:
            self._run_lock.release()

    def _check_finite(self, *, shared: bool = False) -> None:
        """Raise when a step's loss or gradient norm was not finite; `shared`: the value is already all ranks'."""
        bad_step = int(self._first_bad_step)
        if self.ranks.distributed and not shared:
            bad_step = self.ranks.max_ints([bad_step])[0]
        if bad_step:
            kept = (f"the last good checkpoint {self.checkpoint_dir / 'last.pt'} (step {self.last_saved_step}) is kept"
                    if self.last_saved_step is not None else "no checkpoint had been written yet")
            raise NMTError(f"the training loss became NaN or infinite at step {bad_step} and training stopped; {kept}; "
                           f"lower trainer.lr (now {self.config.lr}), raise trainer.warmup_steps "
                           "or set trainer.clip_grad_norm.")

    def _log_interval(self) -> str:
        """Read the interval's loss back from the device (the loop's only sync) and log one line."""
        self._check_finite()
        loss, tokens_per_s = self.interval_meter.read_and_reset()
        lr = self.schedule.lr(self.step)
        self.logger.interval(step=self.step, epoch=self._epoch_of_last_update, loss=loss, lr=lr,
                             tokens_per_s=tokens_per_s, elapsed=self.elapsed)
        return f"loss={loss:.3f} lr={lr:.2e} tok/s={thousands(tokens_per_s)}"

