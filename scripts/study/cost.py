"""The cost of attention against source length: additive, multiplicative and multi-head attention, 32 to 512 tokens.

Training: forward + backward time and the activation memory autograd saves, for 32 target positions
attending over S source positions, 32 sentences (`benchmarks.kernels.attention_scaling`, the
benchmark's own measurement). Decoding: the time of one step (one query per sentence, keys
projected once per sentence as the models do) and the size of what the decoder keeps per
sentence for it (projected keys and values). Sizes are the presets': RNN attention over 512-dim
states, multi-head attention with d_model 256 and 4 heads.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from study.experiment import Claim, Experiment, Findings, StudyResults, Table
from study.figures import new_figure

LENGTHS = (32, 64, 128, 256, 512)
REPEATS = 3
ATTENTIONS = ("additive", "multiplicative", "sdpa")  # the row names of attention_scaling
LABELS = {"additive": "additive (Bahdanau)", "multiplicative": "multiplicative, general (Luong)",
          "sdpa": "multi-head, 4 heads (Vaswani)"}
LINEAR_R2 = 0.99  # an affine fit a + b * length explaining this much of the variance counts as linear


def measure_cost(lengths: Sequence[int] = LENGTHS, *, repeats: int = REPEATS) -> dict[str, Any]:
    """Training and decoding cost per attention and source length, with the torch threads used."""
    import torch
    from benchmarks.kernels import attention_scaling

    return {"lengths": list(lengths), "repeats": repeats, "threads": torch.get_num_threads(),
            "training": attention_scaling(lengths, repeats=repeats),
            "decoding": decoding_step_cost(lengths, repeats=repeats)}


def decoding_step_cost(lengths: Sequence[int], *, repeats: int, batch_size: int = 32, steps: int = 16) -> list[dict]:
    """Rows {attention, src_len, ms_per_step, state_mb}: the median over `repeats` of `steps` decoding steps."""
    import torch
    from benchmarks.kernels import preset_attention_modules

    modules = preset_attention_modules()
    rows = []
    with torch.no_grad():
        for length in lengths:
            for name, module in modules.items():
                step, state = _decoding_step(module.eval(), batch_size=batch_size, length=length,
                                             width=256 if name == "sdpa" else 512)
                times = []
                for _ in range(repeats + 1):  # the first is a warm-up
                    started = time.perf_counter()
                    for _ in range(steps):
                        step()
                    times.append((time.perf_counter() - started) / steps)
                rows.append({"attention": name, "src_len": length, "ms_per_step": statistics.median(times[1:]) * 1000,
                             "state_mb": sum(t.numel() * t.element_size() for t in state) / 2**20})
    return rows


def _decoding_step(module, *, batch_size: int, length: int, width: int):
    """One decoding step of `module` as the models run it, and the per-sentence tensors it reads (its state)."""
    import torch

    from nmt.models.attention import MultiHeadAttention

    memory = torch.randn(batch_size, length, width)  # (B, S, D) encoder states
    mask = torch.ones(batch_size, length, dtype=torch.bool)  # (B, S)
    if isinstance(module, MultiHeadAttention):
        query = torch.randn(batch_size, 1, width)  # (B, 1, D): one target position
        key, value = module.project_key_value(memory)  # (B, H, S, Dh) each, once per sentence
        return (lambda: module.attend(module.project_query(query), key, value, mask[:, None, None, :])), (key, value)
    query = torch.randn(batch_size, width)  # (B, Dq)
    keys = module.project_keys(memory)  # (B, S, Da), once per sentence
    return (lambda: module(query, keys, memory, mask)), (keys, memory)


def affine_fit(lengths: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """Least-squares value = a + b * length: (b, the cost of one more source token; R², 1 = exactly affine).

    Linear growth shows as R² near 1 whatever the constant part (the queries' own activations),
    which a log-log slope would mistake for slower growth."""
    mean_x, mean_y = sum(lengths) / len(lengths), sum(values) / len(values)
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in zip(lengths, values))
    per_token = covariance / sum((x - mean_x) ** 2 for x in lengths)
    residual = sum((y - mean_y - per_token * (x - mean_x)) ** 2 for x, y in zip(lengths, values))
    total = sum((y - mean_y) ** 2 for y in values)
    return per_token, 1.0 if total == 0 else 1 - residual / total


def _series(rows: list[dict], key: str) -> dict[str, list[float]]:
    """attention -> values of `key` in order of source length."""
    ordered = sorted(rows, key=lambda row: row["src_len"])
    return {name: [row[key] for row in ordered if row["attention"] == name] for name in ATTENTIONS}


def analyse(results: StudyResults) -> Findings:
    cost = results.cost
    if cost is None:
        return Findings(notes=["Not measured yet: `run --experiments cost` measures it (a few minutes)."])
    lengths = cost["lengths"]
    measures = {"training ms (forward + backward)": _series(cost["training"], "ms"),
                "training activation MB": _series(cost["training"], "saved_mb"),
                "decoding ms per step": _series(cost["decoding"], "ms_per_step"),
                "decoding state MB per batch": _series(cost["decoding"], "state_mb")}
    findings = Findings(notes=[(f"Medians of {cost['repeats']} repetitions on {cost['threads']} torch thread(s), "
                               "32 sentences; one measurement, so no seeds and no ties.")])
    for measure, series in measures.items():
        fits = {name: affine_fit(lengths, values) for name, values in series.items()}
        findings.tables.append(Table(
            caption=f"{measure} by source length (tokens); per token and R² of the fit a + b × length",
            header=["attention", *(str(length) for length in lengths), "per token", "R²"],
            rows=[[LABELS[name], *(f"{value:.3g}" for value in values), f"{fits[name][0]:.3g}", f"{fits[name][1]:.3f}"]
                  for name, values in series.items()]))
    findings.claims += _claims(lengths, measures)
    figure, panels = new_figure(12.0, 3.6, panels=3)
    for axes, measure in zip(panels, ("training ms (forward + backward)", "training activation MB",
                                      "decoding ms per step")):
        for name, values in measures[measure].items():
            axes.plot(lengths, values, marker="o", label=LABELS[name])
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        axes.set_xticks(lengths, [str(length) for length in lengths])
        axes.set_xlabel("source length (tokens)")
        axes.set_title(measure)
        axes.grid(alpha=0.3)
    panels[0].legend(fontsize="small")
    findings.figures["attention_cost"] = figure
    return findings


def _claims(lengths: list[int], measures: dict[str, dict[str, list[float]]]) -> list[Claim]:
    cheaper = {measure: all(m < a for m, a in zip(series["multiplicative"], series["additive"]))
               for measure, series in measures.items() if not measure.startswith("decoding state")}
    longest = lengths[-1]
    evidence = "; ".join(f"{measure} at {longest}: additive {series['additive'][-1]:.3g}, multiplicative "
                         f"{series['multiplicative'][-1]:.3g}" for measure, series in measures.items()
                         if measure in cheaper)
    fits = {(measure, name): affine_fit(lengths, values) for measure in ("training activation MB",
                                                                          "decoding state MB per batch")
            for name, values in measures[measure].items()}
    return [
        Claim("Dot-product (multiplicative) attention is faster and more space-efficient than additive in practice "
              "(Vaswani et al. 2017, 3.2.1)", "holds" if all(cheaper.values()) else "does not hold",
              evidence + "; cheaper at every length: " + ", ".join(f"{m} {'yes' if c else 'no'}"
                                                                    for m, c in cheaper.items())),
        Claim("With the target positions fixed, memory grows linearly with the source length (O(n) per query; "
              "Table 1's O(n²) is self-attention, where the queries grow with n too)",
              "holds" if all(r2 >= LINEAR_R2 for _, r2 in fits.values()) else "does not hold",
              "MB per source token (R² of a + b × length): " + ", ".join(
                  f"{name} {per_token:.3g} ({r2:.3f}) in {measure.split()[0]}"
                  for (measure, name), (per_token, r2) in fits.items())),
    ]


EXPERIMENT = Experiment(
    name="cost",
    title="The cost of attention against source length",
    paper="Vaswani et al. 2017, Attention Is All You Need, 3.2.1 and Table 1",
    published=(("Table 1: a self-attention layer costs O(n²·d), a recurrent one O(n·d²); one query attending over "
               "n positions costs O(n·d)."),
               ("3.2.1: additive and dot-product attention have similar theoretical complexity, but dot-product "
               "attention is much faster and more space-efficient in practice (optimized matrix multiplication).")),
    compared="additive, multiplicative (general) and multi-head attention at 32 to 512 source tokens: training "
             "time and activation memory, decoding time per step and the per-sentence state.",
    variants=(),
    splits=(),
    analyse=analyse,
)
