"""The in-process measurements of scripts/benchmark.py: the matmul ceiling and attention cost vs source length."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch

# ----------------------------------------------------------------------------- ceiling

def matmul_ceiling(dtype: torch.dtype, *, size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of one large square torch.mm (2 n^3 FLOPs), the median of `repeats` after one warm-up."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times)


# ----------------------------------------------------------------------------- attention

def saved_bytes(run: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Run a forward and count the bytes autograd saves for backward: the activation memory."""
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = run()
    return output, total


def preset_attention_modules() -> dict[str, torch.nn.Module]:
    """The three attentions at the presets' sizes, seeded: additive and multiplicative (general) with
    512-dim decoder and bidirectional encoder states, multi-head with d_model 256 and 4 heads."""
    from nmt.models.attention import AdditiveAttention, MultiHeadAttention, MultiplicativeAttention

    torch.manual_seed(1)
    return {
        "additive": AdditiveAttention(query_dim=512, key_dim=512, attention_dim=512),
        "multiplicative": MultiplicativeAttention(score="general", query_dim=512, key_dim=512, attention_dim=512),
        "sdpa": MultiHeadAttention(d_model=256, num_heads=4, dropout=0.0),
    }


def attention_scaling(lengths: Sequence[int], *, repeats: int, batch_size: int = 32, queries: int = 32) -> list[dict]:
    """Forward+backward of `queries` target positions attending over S source positions, B sentences.

    Sizes are the presets': RNN attention with 512-dim decoder states over 512-dim bidirectional
    encoder states; multi-head attention with d_model 256 and 4 heads (a cross-attention layer).
    """
    modules = preset_attention_modules()
    rows = []
    for length in lengths:
        mask = torch.ones(batch_size, length, dtype=torch.bool)  # (B, S)
        for name, module in modules.items():
            width = 256 if name == "sdpa" else 512
            query = torch.randn(batch_size, queries, width, requires_grad=True)  # (B, T, Dq)
            memory = torch.randn(batch_size, length, width, requires_grad=True)  # (B, S, Dk)

            def forward() -> torch.Tensor:
                if name == "sdpa":
                    return module(query, memory, memory, mask)[0]
                return module(query, module.project_keys(memory), memory, mask)[0]

            times, activation = [], 0
            for _ in range(repeats + 1):  # the first is a warm-up
                started = time.perf_counter()
                output, activation = saved_bytes(forward)
                output.sum().backward()
                times.append(time.perf_counter() - started)
            rows.append({"attention": name, "src_len": length, "ms": statistics.median(times[1:]) * 1000,
                         "saved_mb": activation / 2**20})
    return rows
