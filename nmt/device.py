"""Where the work runs: the device choice and the number of CPU threads."""

from __future__ import annotations

import torch

from nmt.errors import NMTError


def resolve_device(choice: str, *, key: str = "device") -> torch.device:
    """auto | cpu | cuda | cuda:N -> a torch.device; auto picks CUDA when present.

    `key` is the config key the user set, named in the error (e.g. trainer.device).
    """
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice != "cpu" and not choice.startswith("cuda"):
        raise NMTError(f"{key}={choice} is not a device; use auto, cpu or cuda.")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise NMTError(f"{key}={choice} but torch sees no CUDA device; use {key}=cpu or {key}=auto.")
    return torch.device(choice)


def set_cpu_threads(threads: int, *, key: str = "threads") -> None:
    """threads > 0: torch's intra-op CPU threads; 0 keeps torch's default (one per core).

    Small models run many tiny operations; on a machine whose cores are busy with
    other work, fewer threads are often much faster than the default.
    """
    if threads < 0:
        raise NMTError(f"{key}={threads} must be 0 (torch's default) or a positive number of CPU threads.")
    if threads > 0:
        torch.set_num_threads(threads)
