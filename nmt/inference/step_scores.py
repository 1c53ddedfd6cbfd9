"""A search step's next-token log-probabilities, from the logits `Seq2Seq.decode_step` returns.

Every search normalises a step's (N, V) logits in float32 (`log_softmax_fp32`, whatever the
model's dtype) and applies the same rules (`StepRules`): never PAD or BOS; only EOS for a row
at its length limit; only its prefix token for a row inside a target prefix. A token a rule
leaves alone keeps its real log-probability, normalised over the whole vocabulary.

Greedy and beam search need only each row's k best log-probabilities (`best_log_probs`), so the
block is normalised and searched a slice of rows at a time: the float32 log-probabilities of a
slice (a few MB) are written, read back by the chunked top-k and overwritten by the next slice
while they are in the cache, instead of a whole (N, V) float32 block going out to memory and back
(~40 MB for 256 sentences x 5 beams x 8,000 pieces). Row by row the numbers are those of one
`log_softmax` over the block. Sampling draws from the whole distribution (`step_log_probs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.inference.row_topk import row_topk
from nmt.models.seq2seq import log_softmax_fp32
from nmt.tokens import BOS_ID, EOS_ID, PAD_ID

NEG_INF = float("-inf")
SLICE_BYTES = 4 << 20  # float32 log-probabilities per slice of rows: within a core's share of the cache


@dataclass(frozen=True)
class StepRules:
    """The rules of one step for N rows: step index, each row's length limit (N,), its prefix token (N,)
    (PAD_ID where free; None once no row's prefix lasts)."""

    step: int
    max_len: Tensor
    forced: Tensor | None = None

    def only_tokens(self) -> Tensor:
        """The one token each row (N,) may take, -1 where free: EOS at the limit, the prefix token inside a
        prefix (which wins: a row's limit is never below its prefix length)."""
        only = torch.where(self.step >= self.max_len, EOS_ID, -1)                  # (N,)
        if self.forced is not None:
            only = torch.where(self.forced != PAD_ID, self.forced, only)
        return only


def step_log_probs(logits: Tensor, rules: StepRules) -> Tensor:
    """logits (N, V) -> float32 log-probabilities (N, V) under the rules (-inf where not allowed)."""
    return _ruled_log_probs(logits, rules.only_tokens())


def best_log_probs(logits: Tensor, k: int, rules: StepRules) -> tuple[Tensor, Tensor]:
    """logits (N, V) -> each row's k best float32 log-probabilities under the rules (N, k), best first, and their
    tokens (N, k). Where fewer than k tokens are allowed, the rest are -inf (their tokens arbitrary)."""
    num_rows, vocab = logits.shape
    if num_rows == 0:
        return logits.new_empty((0, k), dtype=torch.float32), logits.new_empty((0, k), dtype=torch.long)
    rows_per_slice = max(1, SLICE_BYTES // (4 * vocab))
    only = rules.only_tokens()                                                     # (N,)
    values, tokens = [], []
    for start in range(0, num_rows, rows_per_slice):
        end = start + rows_per_slice
        block_values, block_tokens = row_topk(_ruled_log_probs(logits[start:end], only[start:end]), k)  # (n, k)
        values.append(block_values)
        tokens.append(block_tokens)
    return torch.cat(values), torch.cat(tokens)                                    # (N, k) each


def _ruled_log_probs(logits: Tensor, only: Tensor) -> Tensor:
    """logits (n, V), the one token each row may take (n,) (-1: free) -> float32 log-probabilities (n, V):
    PAD and BOS -inf, and a row with one token keeps only that one's (so a forced PAD or BOS allows nothing)."""
    result = log_softmax_fp32(logits)                                              # (n, V)
    result[:, PAD_ID] = NEG_INF
    result[:, BOS_ID] = NEG_INF
    rows = (only >= 0).nonzero().flatten()                                         # (r,) rows with one token
    if rows.numel() > 0:
        kept = result[rows, only[rows]]                                            # (r,)
        result[rows] = NEG_INF
        result[rows, only[rows]] = kept
    return result
