"""Where the work runs: the device choice, the number of CPU threads and the CPU allocator."""

from __future__ import annotations

import ctypes
import os
import re
import sys
from typing import Literal, get_args

import torch

from nmt.errors import NMTError

Device = Literal["auto", "cpu", "cuda"]  # of trainer.device; nmt-evaluate / nmt-translate also take cuda:N


def check_device(choice: object, *, key: str = "device") -> None:
    """Raise NMTError unless `choice` is auto, cpu, cuda or cuda:N (whether CUDA is present is resolve_device's)."""
    if not isinstance(choice, str) or not (choice in get_args(Device) or re.fullmatch(r"cuda:\d+", choice)):
        raise NMTError(f"{key}={choice} is not a device; use auto, cpu, cuda or cuda:N.")


def resolve_device(choice: str, *, key: str = "device") -> torch.device:
    """auto | cpu | cuda | cuda:N -> a torch.device; auto picks CUDA when present.

    `key` is the config key the user set, named in the error (e.g. trainer.device).
    """
    check_device(choice, key=key)
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise NMTError(f"{key}={choice} but torch sees no CUDA device; use {key}=cpu or {key}=auto.")
    device = torch.device(choice)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise NMTError(f"{key}={choice} but torch sees {torch.cuda.device_count()} CUDA device(s), "
                       f"numbered from 0; use {key}=cuda:0 or {key}=cuda.")
    return device


Precision = Literal["32", "bf16"]  # of trainer.precision and of nmt-evaluate / nmt-translate


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """precision "bf16": torch.autocast to bfloat16 (matmuls in bf16, softmax and norms in fp32); "32": off."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 instructions that compute bf16 matmuls natively


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool | None:
    """Whether this CPU has bf16 matmul instructions (from /proc/cpuinfo's flags); None where that is unknown."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
                cpuinfo = file.read()
        except OSError:
            return None
    match = re.search(r"^flags\s*:(.*)$", cpuinfo, flags=re.MULTILINE)
    if match is None:
        return None
    flags = set(match.group(1).split())
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def warn_if_bf16_is_emulated(device: torch.device, precision: str, *, key: str = "precision") -> bool:
    """Warn (stderr, once per call) when bf16 is asked for on a CPU without bf16 instructions; True if it warned.

    Without them torch emulates bf16 matmuls in software, several times slower than float32
    (a 1,250 x 256 x 8,000 matmul: 5.6x slower on an AVX2-only CPU), so the user should know.
    """
    if precision != "bf16" or device.type != "cpu" or cpu_has_native_bf16() is not False:
        return False
    print(f"warning: {key}=bf16 on a CPU without bf16 instructions ({' or '.join(BF16_CPU_FLAGS)}): torch emulates "
          f"them, which is several times slower than {key}=32; use {key}=32 on this machine.", file=sys.stderr)
    return True


def builds_kernels_per_shape(device: torch.device, *, bf16: bool) -> bool:
    """Whether matmuls run through oneDNN kernels (primitives) built and cached per matrix shape: in bf16 on a CPU.

    There a new shape costs a kernel build, so nmt keeps shapes few: training pads each batch to one width
    (`pads_to_one_width`) and sizes the cache by model (`bound_onednn_primitive_cache`), and decoding sheds
    finished sentences in multiples (`nmt.inference.decoding.SENTENCE_MULTIPLE`). float32 matmuls build none.
    """
    return device.type == "cpu" and bf16


ONEDNN_CACHE_CAPACITY = 1024  # oneDNN's own default: for models whose matmul shapes repeat
VARIED_SHAPES_ONEDNN_CACHE_CAPACITY = 32  # for those whose shapes hardly repeat (RNNs over packed sequences)


def bound_onednn_primitive_cache(*, shapes_repeat: bool) -> None:
    """Let oneDNN keep the primitives bf16 training on a CPU needs, for a model whose matmul shapes repeat across
    batches (`Seq2Seq.matmul_shapes_repeat`) or not, unless ONEDNN_PRIMITIVE_CACHE_CAPACITY is already set.
    oneDNN reads the variable when it makes its first primitive, so call this before any bf16 work.

    oneDNN builds a primitive per matmul shape and keeps up to 1,024 with their buffers. With one width
    per batch (`pads_to_one_width`) a Transformer's shapes recur, so all of them pay: the Transformer preset
    (bf16, 2 threads, a 2-core Xeon with AMX, 350 updates) trained 1.22x faster than with 32 for ~0.35 GB more,
    and a whole 8,000-update transformer_small run held 2.4-2.5 GB against 2.2-2.3. An RNN's packed time
    steps come in ever new row counts, so the cache only grows: multi30k_rnn_bahdanau in bf16 reached 8.6 GB
    with 1,024 before one width (4.4 GB after 10 epochs with it); 32 holds the shapes of one update.
    """
    capacity = ONEDNN_CACHE_CAPACITY if shapes_repeat else VARIED_SHAPES_ONEDNN_CACHE_CAPACITY
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(capacity))


def pads_to_one_width(device: torch.device, precision: str) -> bool:
    """Whether training pads each batch's source and target to one width: in bf16 on a CPU.

    There oneDNN builds a primitive per matmul shape and keeps a bounded number of
    them; with source and target lengths varying independently across batches the shapes hardly
    repeat, and rebuilding them is much of a bf16 update. One width lets the encoder's and the
    decoder's matmuls share shapes: 150 updates of the Transformer preset (bf16, 2 threads, a
    2-core Xeon with AMX) ran 1.12x faster at a lower peak RSS, multi30k_rnn_bahdanau 1.07x. In
    float32, which builds no primitives, the extra padding is pure cost (0.88x, the Transformer
    preset), so it stays off. Measured on AMX only. The model masks padding, so a batch's outputs
    at real positions are the same up to summation order (dropout draws its masks over the padded
    shape, though, so a run takes another random path).
    """
    return builds_kernels_per_shape(device, bf16=precision == "bf16")


def configure_cpu(threads: int, *, key: str = "threads") -> None:
    """threads > 0: torch's intra-op CPU threads; 0 keeps torch's default (one per core).

    Small models run many tiny operations; on a machine whose cores are busy with
    other work, fewer threads are often much faster than the default.
    Also keeps large freed blocks in the process heap (`reuse_freed_memory`).
    """
    if threads < 0:
        raise NMTError(f"{key}={threads} must be 0 (torch's default) or a positive number of CPU threads.")
    if threads > 0:
        torch.set_num_threads(threads)
    reuse_freed_memory()


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_HEAP_LIMIT = 1 << 30


def reuse_freed_memory() -> bool:
    """Let glibc serve blocks up to 1 GiB from its heap and keep freed ones, instead of mmap/munmap.

    torch's CPU allocator calls malloc for every tensor. glibc maps blocks above 32 MiB
    afresh and unmaps them on free, so each training step pays page faults to zero
    the memory of every large activation again (the logits of one batch are ~150 MB):
    on 2 cores a third of a Transformer step. With the thresholds raised, a freed
    block is reused by the next step. Peak memory is unchanged; memory is returned to
    the system when the process ends. Returns False where libc has no mallopt (not
    glibc): nothing changes there.
    """
    if not sys.platform.startswith("linux"):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _HEAP_LIMIT)) and bool(mallopt(_M_TRIM_THRESHOLD, _HEAP_LIMIT))
