"""Training on several processes: the ranks torchrun assigns, one process group, and the decisions ranks share.

`torchrun --nproc_per_node=N -m nmt.cli.train ...` starts N copies of the training command
and tells each its RANK, LOCAL_RANK and WORLD_SIZE (plus where rank 0 listens) through the
environment. Each copy builds the same model and the same batch plan; DistributedDataParallel
sums the gradients; rank 0 alone validates, logs and writes checkpoints. Whatever decides
when to stop (a signal, the time budget, a non-finite loss, early stopping) is agreed on with
a collective, so every rank stops after the same update. A rank that waits longer than the
process group's timeout for the others (one of them died or hangs) fails with an error
instead of waiting forever.

Without torchrun (no WORLD_SIZE, or 1) nothing here creates a process group and every
collective below returns its input: one process is the world of size 1.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from nmt.errors import NMTError

log = logging.getLogger(__name__)

_ENVIRONMENT = ("RANK", "LOCAL_RANK", "WORLD_SIZE")
T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """Where this process stands among the training processes; the default is the single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # where collectives' tensors live

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that validates, logs and writes the run directory."""
        return self.rank == 0

    def max_ints(self, values: Sequence[int]) -> list[int]:
        """The element-wise maximum over all ranks (one collective); the values themselves in one process."""
        if not self.distributed:
            return [int(value) for value in values]
        tensor = torch.tensor(list(values), dtype=torch.long, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return [int(value) for value in tensor.tolist()]

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        """The element-wise sum over all ranks, in float64 (one collective)."""
        if not self.distributed:
            return [float(value) for value in values]
        tensor = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return [float(value) for value in tensor.tolist()]

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` on every rank (any picklable object)."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0, device=self.device)
        return box[0]

    def gather(self, value: Any) -> list[Any] | None:
        """Every rank's `value`, in rank order, on rank 0; None on the other ranks."""
        if not self.distributed:
            return [value]
        gathered: list[Any] | None = [None] * self.world_size if self.is_main else None
        dist.gather_object(value, gathered, dst=0)
        return gathered

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def rank_share(group: Sequence[T], ranks: Ranks) -> tuple[list[T], bool]:
    """This rank's batches of an update's `group` (every world_size-th, from its rank) and whether it is idle.

    An idle rank (the epoch's last group can be shorter than the world) gets the group's first
    batch to run with a zero weight: it must still join the gradient all-reduce.
    """
    share = list(group[ranks.rank::ranks.world_size])
    return (share, False) if share else (list(group[:1]), True)


def ranks_from_environment() -> Ranks:
    """This process's ranks as torchrun sets them; the single process when WORLD_SIZE is unset or 1."""
    values = {name: os.environ.get(name) for name in _ENVIRONMENT}
    if values["WORLD_SIZE"] in (None, "", "1"):
        return Ranks()
    try:
        rank, local_rank, world_size = int(values["RANK"]), int(values["LOCAL_RANK"]), int(values["WORLD_SIZE"])
    except (TypeError, ValueError):
        raise NMTError(f"WORLD_SIZE={values['WORLD_SIZE']} but RANK={values['RANK']} and "
                       f"LOCAL_RANK={values['LOCAL_RANK']} are not both integers; start distributed training "
                       "with torchrun, which sets all three.") from None
    if not 0 <= rank < world_size:
        raise NMTError(f"RANK={rank} is outside WORLD_SIZE={world_size}; start distributed training with torchrun.")
    return Ranks(rank=rank, world_size=world_size, local_rank=local_rank)


def start_process_group(ranks: Ranks, device: torch.device, *, timeout_s: float) -> Ranks:
    """Join the process group (gloo on CPU, NCCL on CUDA); returns `ranks` with the collectives' device."""
    if not ranks.distributed:
        return ranks
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    kwargs: dict[str, Any] = {"device_id": device} if device.type == "cuda" else {}
    dist.init_process_group(backend=backend, rank=ranks.rank, world_size=ranks.world_size,
                            timeout=timedelta(seconds=timeout_s), **kwargs)
    log.info("rank %d of %d joined the %s process group", ranks.rank, ranks.world_size, backend)
    return Ranks(rank=ranks.rank, world_size=ranks.world_size, local_rank=ranks.local_rank, device=device)


def stop_process_group() -> None:
    """Leave the process group while the interpreter is whole.

    The DDP wrapper of a finished Trainer still holds the group; collecting it first lets the
    backend's worker threads stop here rather than during interpreter shutdown, where gloo can
    abort the process (SIGABRT, "terminate called without an active exception").
    """
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


@contextlib.contextmanager
def main_rank_first(ranks: Ranks) -> Iterator[None]:
    """Rank 0 runs the block first (e.g. building a cache), the others after it, so they find its result."""
    if not ranks.is_main:
        ranks.barrier()
    yield
    if ranks.is_main:
        ranks.barrier()
