"""Checkpoint averaging: one model whose weights are the elementwise mean of several checkpoints of a run.

Near convergence the last few checkpoints of a run sit around the same optimum, each
pushed a little off it by the noise of its latest updates, and their mean often
translates better than any one of them (Vaswani et al. 2017, 6.1, average the last 5 or 20 checkpoints;
Joey NMT, OpenNMT-py and fairseq ship the same tool). Only checkpoints of one model
can be averaged: same architecture, vocabulary and tokenizer, so the same meaning for
every weight.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nmt.checkpoint import Checkpoint, first_difference, load_checkpoint, periodic_checkpoints, save_checkpoint
from nmt.errors import NMTError

log = logging.getLogger(__name__)

# What must be equal for the weights to mean the same thing (and the result to translate).
_SAME_MODEL_FIELDS = ("model_config", "src_vocab_size", "tgt_vocab_size", "tokenizer_state",
                      "tokenizer_config", "data_config")


def last_periodic_checkpoints(run_dir: str | Path, *, last: int) -> list[Path]:
    """The `last` step-N.pt files of `run_dir`/checkpoints with the highest step numbers, oldest first."""
    if last < 1:
        raise NMTError(f"last={last} is too small; average at least 1 checkpoint (e.g. last=5).")
    checkpoint_dir = Path(run_dir) / "checkpoints"
    if not checkpoint_dir.is_dir():
        raise NMTError(f"run={run_dir} has no checkpoints/ directory; pass the output directory of an nmt-train run.")
    steps = periodic_checkpoints(checkpoint_dir)
    if last > len(steps):
        raise NMTError(f"last={last} but {checkpoint_dir} holds {_count_of(steps)}; "
                       f"{f'pass last={len(steps)} or fewer' if steps else 'pass ckpts=[a.pt,b.pt] instead'}, "
                       f"or train with trainer.checkpoint_every=N and trainer.keep_checkpoints={last} or more.")
    return [steps[step] for step in sorted(steps)[-last:]]


def average_last_checkpoints(checkpoint_dir: Path, *, last: int, final_step: int) -> Path | None:
    """trainer.average_last: `checkpoint_dir`/average.pt from the last `last` step-N.pt of a run that ended at
    `final_step` (fewer, with a warning, when it saved fewer); returns its path, or None when it saved none.

    Files of later steps belong to another run in the same directory (one resumed from an earlier
    checkpoint leaves them, as its pruning does) and are never averaged in.
    """
    steps = {step: path for step, path in periodic_checkpoints(checkpoint_dir).items() if step <= final_step}
    if not steps:
        log.warning("trainer.average_last=%d but the run saved no step-N.pt checkpoint: no average.pt", last)
        return None
    if len(steps) < last:
        log.warning("trainer.average_last=%d but the run saved %d step-N.pt checkpoints: averaging those",
                    last, len(steps))
    chosen = sorted(steps)[-last:]
    paths = [steps[step] for step in chosen]
    average = average_checkpoints(paths)
    try:
        output = save_checkpoint(checkpoint_dir / "average.pt", average)
    except OSError as error:
        raise NMTError(f"the average of the last {len(paths)} checkpoints cannot be written to "
                       f"{checkpoint_dir / 'average.pt'} ({error}); free some space and run nmt-average "
                       f"run={checkpoint_dir.parent} last={len(paths)} output=PATH.") from None
    log.info("averaged the weights of %d checkpoints (steps %s) into %s", len(paths),
             ", ".join(map(str, chosen)), output)
    return output


def average_checkpoints(paths: Sequence[str | Path]) -> Checkpoint:
    """A translate-only checkpoint whose weights are the mean of those of the checkpoints at `paths`.

    Floating-point tensors are summed in float64, divided once and cast back to their own
    dtype, so N copies of one checkpoint average to it exactly. Integer and bool buffers
    cannot be averaged: they must be equal in every checkpoint. The metrics record the
    averaged steps and files. One checkpoint is in memory at a time, besides the float64 sums.
    """
    if not paths:
        raise NMTError("no checkpoints to average; pass at least one .pt file.")
    first = load_checkpoint(paths[0])
    dtypes = {name: tensor.dtype for name, tensor in first.model_state.items()}
    tied = _tied_names(first.model_state)
    sums = {name: tensor.to(torch.float64) if tensor.is_floating_point() else tensor
            for name, tensor in first.model_state.items()}
    first = replace(first, model_state={}, training_state=None)  # its weights live on in sums, its optimizer not
    steps = [first.step]
    for path in paths[1:]:
        checkpoint = load_checkpoint(path)
        _require_same_model(checkpoint, first, path=Path(path), reference_path=Path(paths[0]))
        _add_weights(sums, checkpoint.model_state, path=Path(path), reference=Path(paths[0]))
        steps.append(checkpoint.step)
    model_state = {name: (total / len(paths)).to(dtypes[name]) if total.is_floating_point() else total
                   for name, total in sums.items()}
    model_state.update({name: model_state[tied_to] for name, tied_to in tied.items()})
    known_steps = [step for step in steps if step is not None]
    metrics = {"step": max(known_steps) if known_steps else None, "averaged_steps": steps,
               "averaged_checkpoints": [str(path) for path in paths]}
    return replace(first, model_state=model_state, metrics=metrics)


def _tied_names(state: Mapping[str, Tensor]) -> dict[str, str]:
    """{name: earlier name} for tensors that are one tensor under two names (tied embeddings).

    The average keeps them one tensor, so it is saved once, as in the checkpoints averaged.
    """
    first_name: dict[tuple[Any, ...], str] = {}
    tied = {}
    for name, tensor in state.items():
        where = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tensor.shape, tensor.stride())
        if tensor.numel() > 0 and where in first_name:
            tied[name] = first_name[where]
        first_name.setdefault(where, name)
    return tied


def _require_same_model(checkpoint: Checkpoint, reference: Checkpoint, *, path: Path, reference_path: Path) -> None:
    for field in _SAME_MODEL_FIELDS:
        difference = first_difference(getattr(checkpoint, field), getattr(reference, field), key=field)
        if difference is not None:
            key, value, reference_value = difference
            raise NMTError(f"checkpoint {path} has {key}={_short(value)} but {reference_path} has "
                           f"{key}={_short(reference_value)}; average only checkpoints of one model (one run).")


def _add_weights(sums: dict[str, Tensor], state: Mapping[str, Tensor], *, path: Path, reference: Path) -> None:
    """Add the floating-point tensors of `state` to `sums` (float64); check the others are equal."""
    for name in sorted(set(sums) ^ set(state)):
        where, other = (reference, path) if name in sums else (path, reference)
        raise NMTError(f"checkpoint {where} has the weight {name} but {other} does not; "
                       "average only checkpoints of one model (one run).")
    for name, tensor in state.items():
        if tensor.shape != sums[name].shape:
            raise NMTError(f"checkpoint {path} has {name} of shape {tuple(tensor.shape)} but {reference} has "
                           f"{tuple(sums[name].shape)}; average only checkpoints of one model (one run).")
        if sums[name].is_floating_point():
            sums[name] += tensor.to(torch.float64)
        elif not torch.equal(tensor, sums[name]):
            raise NMTError(f"checkpoint {path} has other values in the {tensor.dtype} buffer {name} than {reference}; "
                           "integer and bool buffers cannot be averaged, so they must be equal.")


def _short(value: Any) -> str:
    """A value for an error message: SentencePiece model bytes are thousands of characters."""
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value):,} bytes>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _count_of(steps: dict[int, Path]) -> str:
    """`3 periodic checkpoints (step-4.pt, step-8.pt, step-10.pt)`, in step order."""
    if not steps:
        return "no periodic step-N.pt checkpoints"
    names = ", ".join(steps[step].name for step in sorted(steps))
    return f"{len(steps)} periodic checkpoint{'s' if len(steps) > 1 else ''} ({names})"
