"""Ancestral sampling over the `Seq2Seq` contract: translations drawn token by token from the model.

Sampled translations make more useful synthetic sources for back-translation than
beam search's (Edunov et al. 2018, sec. 3). Each sentence's N samples are N rows of
one batch that run like greedy search (`decoding.decode_rows`), except that the next
token is drawn from the model's distribution, reshaped in this order:

- temperature T: p_i ∝ exp(log p_i / T); below 1 sharper, above 1 flatter;
- top-k (Fan et al. 2018): only the k most probable tokens stay (k = 0: all);
- top-p (Holtzman et al. 2020): only the nucleus stays, the smallest set of most probable
  tokens whose probability adds up to at least p (p = 1: all).

PAD and BOS are never drawn, EOS is forced at the length limit and a target prefix is
forced token by token, as in the searches (see nmt.inference.decoding).
A hypothesis's score is its log-probability under the model itself (temperature 1, no
filtering), EOS included, so samples compare with beam search output.

Determinism: the uniforms behind a sentence's draws come from a CPU `torch.Generator`
seeded with `seed` and the sentence's source ids, so a sentence gets the same samples
for the same seed whatever batch it is in, and no device's random state is used
(identical lines get identical samples; change `seed` for fresh ones).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from nmt.errors import NMTError
from nmt.inference.decoding import Hypothesis, check_lengths, decode_rows, max_lengths, target_token_cap
from nmt.inference.step_scores import StepRules, step_log_probs
from nmt.models.seq2seq import Seq2Seq

NEG_INF = float("-inf")


MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 100.0
MIN_TOP_P = 0.001


@dataclass(frozen=True, kw_only=True)
class Sampling:
    """How the next token is drawn; the neutral values switch each reshaping off."""

    temperature: float = 1.0  # > 0; 1 = the model's own distribution
    top_k: int = 0  # draw among the k most probable tokens; 0 = off
    top_p: float = 1.0  # draw within the nucleus of this probability mass, in (0, 1]; 1.0 = off
    seed: int = 0  # with the source ids, seeds each sentence's generator

    def __post_init__(self) -> None:
        if not MIN_TEMPERATURE <= self.temperature <= MAX_TEMPERATURE:  # beyond, float32 over- or underflows
            raise NMTError(f"temperature={self.temperature} must be from {MIN_TEMPERATURE} to {MAX_TEMPERATURE} "
                           "(1 = the model's distribution, below 1 sharper); for the single most probable "
                           "translation use sampling=false.")
        if self.top_k < 0:
            raise NMTError(f"top_k={self.top_k} must be 0 (off) or the number of most probable tokens to draw from.")
        if not MIN_TOP_P <= self.top_p <= 1:
            raise NMTError(f"top_p={self.top_p} must be from {MIN_TOP_P} to 1: the probability mass of the tokens "
                           "to draw from, 1.0 = off.")


@torch.no_grad()
def sample(
    model: Seq2Seq,
    src: Tensor,
    src_mask: Tensor,
    *,
    num_samples: int,
    sampling: Sampling,
    max_len_a: float,
    max_len_b: int,
    return_attention: bool = False,
    prefix: Tensor | None = None,
) -> list[list[Hypothesis]]:
    """src (B, S), src_mask (B, S) -> for each sentence `num_samples` sampled translations, in the order drawn.

    prefix (B, P): target ids every sample of a sentence starts with, PAD_ID where free.
    """
    check_lengths(max_len_a, max_len_b)
    if num_samples < 1:
        raise NMTError(f"nbest={num_samples} must be at least 1: it is the number of samples per sentence.")
    batch_size = src.size(0)
    if batch_size == 0:
        return []
    limits = max_lengths(src_mask, max_len_a=max_len_a, max_len_b=max_len_b, cap=target_token_cap(model),
                         prefix=prefix)                                                      # (B,)
    rows = torch.arange(batch_size, device=src.device).repeat_interleave(num_samples)  # (B * N,) sentence of a row
    uniforms = _uniforms(src, src_mask, limits, num_samples=num_samples, seed=sampling.seed).to(src.device)
    state = model.encode(src, src_mask).select(rows)
    hypotheses = decode_rows(model, state, src_mask[rows], max_len=limits[rows], return_attention=return_attention,
                             choose=functools.partial(_draw, sampling=sampling, uniforms=uniforms),
                             prefix=None if prefix is None else prefix[rows])
    return [hypotheses[start:start + num_samples] for start in range(0, len(hypotheses), num_samples)]


def _uniforms(src: Tensor, src_mask: Tensor, limits: Tensor, *, num_samples: int, seed: int) -> Tensor:
    """(B * N, T) uniforms in [0, 1): row r's draw at step t is [r, t]; T = the longest limit + 1 (EOS).

    A sentence's block depends only on the seed, its source ids and its own limit, never on the batch.
    """
    limits = limits.tolist()
    uniforms = torch.zeros(len(limits) * num_samples, max(limits) + 1)              # (B * N, T)
    for sentence, (ids, mask, limit) in enumerate(zip(src.cpu(), src_mask.cpu(), limits)):
        digest = hashlib.blake2b(f"{seed}:{ids[mask].tolist()}".encode(), digest_size=8).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest, "little"))
        block = torch.rand((num_samples, limit + 1), generator=generator)             # (N, limit + 1)
        uniforms[sentence * num_samples:(sentence + 1) * num_samples, :limit + 1] = block
    return uniforms


def _draw(logits: Tensor, rules: StepRules, rows: Tensor, *, sampling: Sampling,
          uniforms: Tensor) -> tuple[Tensor, Tensor]:
    """logits (A, V) of rows (A,) -> one token per row by inverse-CDF sampling, and its model log-probability."""
    log_probs = step_log_probs(logits, rules)                                          # (A, V)
    probs = filtered_probs(log_probs, sampling).double()                               # (A, V)
    cdf = probs.cumsum(dim=1)                                                          # (A, V)
    threshold = uniforms[rows, rules.step].double().unsqueeze(1) * cdf[:, -1:]         # (A, 1), below the total
    # right=True: the first token whose cumulative mass exceeds the threshold, so never one of probability 0
    tokens = torch.searchsorted(cdf, threshold, right=True).squeeze(1).clamp_(max=cdf.size(1) - 1)  # (A,)
    return log_probs.gather(1, tokens.unsqueeze(1)).squeeze(1), tokens


def filtered_probs(log_probs: Tensor, sampling: Sampling) -> Tensor:
    """log_probs (A, V) -> the distribution tokens are drawn from (A, V): temperature, then top-k, then top-p."""
    logits = log_probs / sampling.temperature                                          # (A, V)
    if 0 < sampling.top_k < logits.size(1):
        best = logits.topk(sampling.top_k, dim=1).indices                             # (A, k)
        outside = torch.ones_like(logits, dtype=torch.bool).scatter_(1, best, False)  # (A, V)
        logits = logits.masked_fill(outside, NEG_INF)
    probs = logits.softmax(dim=1)                                                      # (A, V)
    if sampling.top_p < 1:
        sorted_probs, order = probs.sort(dim=1, descending=True)                      # (A, V) each
        mass_before = F.pad(sorted_probs.cumsum(dim=1)[:, :-1], (1, 0))               # (A, V) mass of the more probable
        outside = torch.empty_like(order, dtype=torch.bool).scatter_(1, order, mass_before >= sampling.top_p)
        probs = probs.masked_fill(outside, 0.0)
    return probs
