"""Greedy and beam search over any model that follows the `Seq2Seq` contract.

Both searches work on a batch of sentences at once and drop finished sentences from
the active batch (through `state.select`), so long sentences do not make short ones
pay for extra decoder steps. In bf16 on a CPU they drop them only down to a multiple of
SENTENCE_MULTIPLE: a finished sentence rides along, its output ignored, until the batch
can shrink to one, so the decoder's matrices come in a few shapes rather than a new one
at almost every step (see SENTENCE_MULTIPLE). Beam search keeps K
hypotheses per sentence in one (A * K)-row batch, where A is the number of
sentences still decoding; its first step runs one row per sentence (the K beams
would all be BOS) and expands to K rows with the K best first tokens. Attention
weights are computed only when asked for (`need_weights`).

Length limit: a sentence of S real source positions gets at most
floor(max_len_a * S + max_len_b) target tokens, after which EOS is forced (and
scored with its real log-probability), as in fairseq.

Target prefix: every search takes an optional `prefix` (B, P) of target ids, PAD_ID
where a position is free. While a row's prefix lasts, its prefix token is the only one
allowed (scored with its real log-probability, like EOS at the limit), so a hypothesis
holds the prefix and then what the search finds after it, and its score is the log P of
the whole output. A row's length limit is raised to its prefix length, so the whole
prefix always comes out. Beam search then has one finite candidate per sentence per
forced step; its empty beam slots hold -inf until the prefix ends and the beam widens.

Length penalty: finished hypotheses are ranked by log P(y|x) / lp(|y|) with the
GNMT penalty lp(n) = ((5 + n) / 6) ** alpha (Wu et al. 2016, sec. 7), where n
counts the target tokens including EOS. alpha = 0 ranks by raw log-probability.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from nmt.device import builds_kernels_per_shape
from nmt.errors import NMTError
from nmt.inference.step_scores import StepRules, best_log_probs
from nmt.models.seq2seq import DecoderState, Seq2Seq, log_softmax_fp32
from nmt.tokens import BOS_ID, EOS_ID, PAD_ID

if TYPE_CHECKING:
    from nmt.data.batching import Batch

NEG_INF = float("-inf")
SENTENCE_MULTIPLE = 16
"""In bf16 on a CPU a batch sheds finished sentences only down to a multiple of this many (`shed_multiple`). There
oneDNN builds a kernel for each new matrix shape: dropping every sentence as it finished made new shapes at almost
every step (a bf16 greedy pass over the 1,000 Multi30k test sentences built ~800 kernels, ~0.35 s of its ~2 s),
while whole multiples repeat across steps and batches. float32 matmuls build none, so there each sentence leaves
as it finishes and riders would only cost work."""


@dataclass
class Hypothesis:
    """One translation of one sentence.

    tokens: target ids without BOS and EOS, a forced prefix included. score: summed
    log-probability of them all and EOS, divided by the length penalty for beam search.
    attention: the decoder's weights over the sentence's real source positions, (L, H, T', S_i)
    with T' = len(tokens) + 1 (the last row is the step that produced EOS); None
    unless requested.
    """

    tokens: list[int]
    score: float
    attention: Tensor | None = None


def length_penalty_gnmt(length: int, alpha: float) -> float:
    """lp(n) = ((5 + n) / 6) ** alpha (Wu et al. 2016, eq. 14); 1 for alpha = 0."""
    return ((5.0 + length) / 6.0) ** alpha


def max_lengths(
    src_mask: Tensor, *, max_len_a: float, max_len_b: int, cap: int | None = None, prefix: Tensor | None = None
) -> Tensor:
    """src_mask (B, S) -> the most target tokens (EOS excluded) each sentence may get, (B,) long.

    `cap` bounds every sentence (a model with a fixed table of target positions). A sentence's
    limit is at least the length of its row of `prefix` (B, P), so the whole prefix fits.
    """
    src_lengths = src_mask.sum(dim=1).float()                                # (B,)
    limits = (max_len_a * src_lengths + max_len_b).floor().clamp(min=0).long()  # (B,)
    limits = limits if cap is None else limits.clamp(max=cap)
    if prefix is None:
        return limits
    lengths = prefix_lengths(prefix)                                         # (B,)
    if cap is not None and lengths.numel() > 0 and int(lengths.max()) > cap:
        raise NMTError(f"a target prefix of {int(lengths.max())} tokens is longer than the {cap} target tokens "
                       "the model can produce; shorten the prefix.")
    return torch.maximum(limits, lengths)


def prefix_lengths(prefix: Tensor) -> Tensor:
    """prefix (B, P), PAD_ID where free -> the steps each row is constrained for (B,): its last forced position + 1."""
    if prefix.size(1) == 0:
        return prefix.new_zeros(prefix.size(0))
    positions = torch.arange(1, prefix.size(1) + 1, device=prefix.device)    # (P,)
    return ((prefix != PAD_ID) * positions).amax(dim=1)                      # (B,)


def target_token_cap(model: Seq2Seq) -> int | None:
    """The most target tokens (EOS excluded) `model` can produce, or None when unbounded.

    The decoder inputs are BOS and the tokens before EOS, hence one fewer than
    the model's `max_tgt_len` positions.
    """
    positions = model.max_tgt_len
    return None if positions is None else positions - 1


Choose = Callable[[Tensor, StepRules, Tensor], tuple[Tensor, Tensor]]
"""How `decode_rows` picks each row's next token: (logits (A, V), the step's rules, rows (A,) of the batch
still decoding) -> (the chosen tokens' log-probabilities (A,), the tokens (A,))."""


@torch.no_grad()
def greedy_search(
    model: Seq2Seq,
    src: Tensor,
    src_mask: Tensor,
    *,
    max_len_a: float,
    max_len_b: int,
    return_attention: bool = False,
    prefix: Tensor | None = None,
) -> list[Hypothesis]:
    """src (B, S), src_mask (B, S) -> the most probable next token at each step, one hypothesis per sentence.

    prefix (B, P): target ids each translation must start with, PAD_ID where free (see the module docstring).
    """
    check_lengths(max_len_a, max_len_b)
    max_len = max_lengths(src_mask, max_len_a=max_len_a, max_len_b=max_len_b, cap=target_token_cap(model),
                          prefix=prefix)                                                               # (B,)
    return decode_rows(model, model.encode(src, src_mask), src_mask, max_len=max_len,
                       choose=_most_probable, return_attention=return_attention, prefix=prefix)


def _most_probable(logits: Tensor, rules: StepRules, rows: Tensor) -> tuple[Tensor, Tensor]:
    best, tokens = best_log_probs(logits, 1, rules)                                  # (A, 1) each
    return best.squeeze(1), tokens.squeeze(1)


def decode_rows(
    model: Seq2Seq,
    state: DecoderState,
    src_mask: Tensor,
    *,
    max_len: Tensor,
    choose: Choose,
    return_attention: bool,
    prefix: Tensor | None = None,
) -> list[Hypothesis]:
    """One hypothesis per row of `state`: each step appends the token `choose` picks, until EOS.

    src_mask (B, S), max_len (B,) and prefix (B, P) belong to the B rows of `state`; while a row's
    prefix lasts, the rules allow only the prefix token, and max_len must let it through.
    A row that picks EOS is finished: its hypothesis is taken there, so nothing follows EOS, and it leaves
    the batch (through `state.select`) when `kept_rows` lets it, riding along with its output ignored until
    then. Greedy search and sampling differ only in `choose`.
    """
    batch_size = src_mask.size(0)
    active = torch.arange(batch_size, device=src_mask.device)                   # (A,) input row of each row
    prev = torch.full((batch_size,), BOS_ID, dtype=torch.long, device=src_mask.device)  # (A,)
    tokens = prev.new_empty((batch_size, 0))                                     # (A, t)
    scores = torch.zeros(batch_size, device=src_mask.device)                     # (A,)
    attention: Tensor | None = None                                              # (A, t, L, H, S)
    hypotheses: list[Hypothesis | None] = [None] * batch_size
    finished = torch.zeros(batch_size, dtype=torch.bool, device=src_mask.device)  # (A,) riders: output ignored
    step = 0
    while active.numel() > 0:
        logits, state, attn_weights = model.decode_step(prev, state, need_weights=return_attention)  # (A, V)
        rules = StepRules(step, max_len[active], _forced(prefix, active, step))
        step_scores, prev = choose(logits, rules, active)                        # (A,), (A,)
        multiple = shed_multiple(logits)
        scores = scores + step_scores
        tokens = torch.cat([tokens, prev.unsqueeze(1)], dim=1)                   # (A, t + 1)
        if return_attention:
            attention = _append_step(attention, attn_weights)
        done = (prev == EOS_ID) & ~finished                                      # (A,) finished at this step
        for row in done.nonzero().flatten().tolist():
            origin = int(active[row])
            hypotheses[origin] = Hypothesis(
                tokens=tokens[row, :-1].tolist(),
                score=float(scores[row]),
                attention=None if attention is None else _trim(attention[row], src_mask[origin]),
            )
        finished |= done
        keep = kept_rows(finished, multiple)                                     # (A',) or None: all stay
        if keep is not None:
            active, prev, tokens, scores = active[keep], prev[keep], tokens[keep], scores[keep]
            finished = finished[keep]
            attention = None if attention is None else attention[keep]
            if keep.numel() > 0:
                state = state.select(keep)
        step += 1
    return [hypothesis for hypothesis in hypotheses if hypothesis is not None]


@dataclass
class _Beams:
    """The live part of a batched beam search: A sentences still decoding or riding along, W rows each.

    Row a * W + w of every tensor (and of the decoder state) is beam w of sentence active[a].
    W is 1 before the first step (every beam would be BOS alone) and K after it.
    """

    active: Tensor              # (A,) index of each sentence in the input batch
    riding: Tensor              # (A,) bool: done, kept only so that the batch shrinks to a multiple (kept_rows)
    scores: Tensor              # (A, W) summed log-probabilities, -inf for an empty slot
    tokens: Tensor              # (A * W, t) tokens so far, BOS excluded
    attention: Tensor | None    # (A * W, t, L, H, S) when attention is requested

    @property
    def width(self) -> int:
        return self.scores.size(1)


@torch.no_grad()
def beam_search(
    model: Seq2Seq,
    src: Tensor,
    src_mask: Tensor,
    *,
    beam_size: int,
    length_penalty: float,
    max_len_a: float,
    max_len_b: int,
    nbest: int = 1,
    return_attention: bool = False,
    prefix: Tensor | None = None,
) -> list[list[Hypothesis]]:
    """src (B, S), src_mask (B, S) -> for each sentence its `nbest` best hypotheses, best first.

    Each step expands every live beam, keeps the 2K best continuations per sentence
    (so K of them remain even when up to K end in EOS), moves the EOS endings that
    rank within the top K to the finished list, and continues with the K best others.
    A sentence stops when it has K finished hypotheses or reaches its length limit.
    prefix (B, P): target ids every hypothesis must start with, PAD_ID where free (see the module docstring).
    """
    check_lengths(max_len_a, max_len_b)
    if beam_size < 1:
        raise NMTError(f"beam_size={beam_size} must be at least 1; use 1 for greedy search or e.g. 5.")
    if not 1 <= nbest <= beam_size:
        raise NMTError(f"nbest={nbest} must be between 1 and beam_size={beam_size}; raise beam_size or lower nbest.")
    batch_size = src.size(0)
    max_len = max_lengths(src_mask, max_len_a=max_len_a, max_len_b=max_len_b, cap=target_token_cap(model),
                          prefix=prefix)                                                               # (B,)
    state = model.encode(src, src_mask)
    beams = _Beams(
        active=torch.arange(batch_size, device=src.device),
        riding=torch.zeros(batch_size, dtype=torch.bool, device=src.device),
        scores=torch.zeros((batch_size, 1), device=src.device),
        tokens=src.new_empty((batch_size, 0)),
        attention=None,
    )
    finished: list[list[Hypothesis]] = [[] for _ in range(batch_size)]
    prev = src.new_full((batch_size,), BOS_ID)                                          # (A * W,)
    step = 0
    while beams.active.numel() > 0:
        logits, state, attn_weights = model.decode_step(prev, state, need_weights=return_attention)  # (A * W, V)
        sentences = beams.active.repeat_interleave(beams.width)                        # (A * W,) sentence of each row
        rules = StepRules(step, max_len[sentences], _forced(prefix, sentences, step))
        if return_attention:
            beams.attention = _append_step(beams.attention, attn_weights)
        row_scores, row_tokens = best_log_probs(logits, min(2 * beam_size, logits.size(-1)), rules)  # (A * W, k)
        multiple = shed_multiple(logits)
        del logits  # the (A * W, V) block is free again before the next step allocates its own
        cand_scores, cand_beams, cand_tokens = _advance(beams.scores, row_scores, row_tokens, beam_size=beam_size)
        _finish(
            beams, cand_scores, cand_beams, cand_tokens,
            finished=finished, src_mask=src_mask, step=step, alpha=length_penalty, beam_size=beam_size,
        )
        kept, rows, prev = _select(beams, cand_scores, cand_beams, cand_tokens, finished=finished, max_len=max_len,
                                   step=step, beam_size=beam_size, multiple=multiple)
        if rows.numel() > 0:
            # while no sentence is done and the width stays K, rows only reorder beams within their sentences
            same_sources = kept.active.numel() == beams.active.numel() and kept.width == beams.width
            state = state.select(rows, same_sources=same_sources)
        beams = kept
        step += 1
    return [sorted(hyps, key=lambda h: h.score, reverse=True)[:nbest] for hyps in finished]


def _advance(
    scores: Tensor, row_scores: Tensor, row_tokens: Tensor, *, beam_size: int
) -> tuple[Tensor, Tensor, Tensor]:
    """scores (A, W), each row's k = min(2K, V) best log-probabilities (A * W, k) and their tokens (A * W, k)
    -> the 2K best continuations per sentence, best first: their summed scores (A, 2K), the beam they
    extend (A, 2K) and their token (A, 2K).

    Adding a beam's score does not reorder its row, so the sentence's 2K best are among its rows'
    W * k best: the (A * W, V) block is searched once, row by row, not as one (A, W * V) block.
    Fewer than 2K possible continuations (W * V < 2K) are padded with -inf scores.
    """
    num_sentences, width = scores.shape
    per_row = row_scores.size(1)
    total = row_scores.view(num_sentences, width * per_row) + scores.repeat_interleave(per_row, dim=1)  # (A, W * k)
    num_candidates = min(2 * beam_size, width * per_row)
    cand_scores, flat = total.topk(num_candidates, dim=1)                            # (A, 2K)
    cand_tokens = row_tokens.view(num_sentences, width * per_row).gather(1, flat)   # (A, 2K)
    missing = 2 * beam_size - num_candidates
    if missing > 0:
        cand_scores = F.pad(cand_scores, (0, missing), value=NEG_INF)
        flat = F.pad(flat, (0, missing), value=0)
        cand_tokens = F.pad(cand_tokens, (0, missing), value=PAD_ID)  # beam 0, token PAD: never finished nor kept
    return cand_scores, flat // per_row, cand_tokens


def _finish(
    beams: _Beams,
    cand_scores: Tensor,
    cand_beams: Tensor,
    cand_tokens: Tensor,
    *,
    finished: list[list[Hypothesis]],
    src_mask: Tensor,
    step: int,
    alpha: float,
    beam_size: int,
) -> None:
    """Move the EOS candidates ranked within the top K to `finished`, scored with the length penalty."""
    ends = (cand_tokens == EOS_ID) & torch.isfinite(cand_scores) & ~beams.riding.unsqueeze(1)  # (A, 2K)
    # An EOS below rank K would not have survived a beam of K: counting it would let
    # a larger candidate list change the result.
    ends[:, beam_size:] = False
    penalty = length_penalty_gnmt(step + 1, alpha)  # every candidate of this step has step + 1 tokens
    positions = ends.nonzero().tolist()
    if not positions:
        return
    # One transfer each instead of one per element (each element read would sync a GPU).
    scores, origins, active = cand_scores.tolist(), cand_beams.tolist(), beams.active.tolist()
    for a, c in positions:
        row = a * beams.width + origins[a][c]
        sentence = active[a]
        finished[sentence].append(Hypothesis(
            tokens=beams.tokens[row].tolist(),
            score=scores[a][c] / penalty,
            attention=None if beams.attention is None else _trim(beams.attention[row], src_mask[sentence]),
        ))


def _select(
    beams: _Beams,
    cand_scores: Tensor,
    cand_beams: Tensor,
    cand_tokens: Tensor,
    *,
    finished: list[list[Hypothesis]],
    max_len: Tensor,
    step: int,
    beam_size: int,
    multiple: int,
) -> tuple[_Beams, Tensor, Tensor]:
    """Keep the K best non-EOS continuations of every sentence; drop done sentences (`kept_rows`).

    Returns the new beams, the rows (A' * K,) of the old (A * W)-row batch they continue
    (for `state.select`) and their last tokens (A' * K,), the next decoder input.
    """
    open_scores = cand_scores.masked_fill(cand_tokens == EOS_ID, NEG_INF)            # (A, 2K)
    scores, position = open_scores.topk(beam_size, dim=1)                            # (A, K)
    origin = cand_beams.gather(1, position)                                          # (A, K)
    tokens = cand_tokens.gather(1, position)                                         # (A, K)
    counts = torch.tensor([len(finished[s]) for s in beams.active.tolist()], device=scores.device)  # (A,)
    done = beams.riding | (counts >= beam_size) | (step >= max_len[beams.active]) | torch.isinf(scores[:, 0])  # (A,)
    keep = kept_rows(done, multiple)                                                 # (A',)
    if keep is None:
        keep = torch.arange(done.numel(), device=done.device)
    rows = (keep.unsqueeze(1) * beams.width + origin[keep]).flatten()                # (A' * K,)
    prev = tokens[keep].flatten()                                                    # (A' * K,)
    new_beams = _Beams(
        active=beams.active[keep],
        riding=done[keep],
        scores=scores[keep],
        tokens=torch.cat([beams.tokens[rows], prev.unsqueeze(1)], dim=1),            # (A' * K, t + 1)
        attention=None if beams.attention is None else beams.attention[rows],
    )
    return new_beams, rows, prev


def shed_multiple(logits: Tensor) -> int:
    """What a batch's sentence count shrinks to multiples of, from a step's logits (the model's compute dtype):
    SENTENCE_MULTIPLE where kernels are built per shape (bf16 on a CPU), else 1 (each finished sentence leaves
    at once)."""
    return SENTENCE_MULTIPLE if builds_kernels_per_shape(logits.device, bf16=logits.dtype == torch.bfloat16) else 1


def kept_rows(finished: Tensor, multiple: int) -> Tensor | None:
    """finished (A,) bool -> the rows that stay (A',), in order: every unfinished one and the first finished ones
    that round the count up to a multiple of `multiple` (none once all are finished); None if all stay."""
    unfinished = (~finished).nonzero().flatten()                                     # (U,)
    count = unfinished.numel()
    rounded = min(finished.numel(), -(-count // multiple) * multiple)
    if rounded == finished.numel():
        return None
    if rounded == count:
        return unfinished
    riders = finished.nonzero().flatten()[: rounded - count]
    return torch.cat([unfinished, riders]).sort().values                             # (A',)


def _forced(prefix: Tensor | None, rows: Tensor, step: int) -> Tensor | None:
    """The prefix token (N,) each of `rows` (N,) must take at `step`, PAD_ID where free; None once no prefix lasts."""
    if prefix is None or step >= prefix.size(1):
        return None
    return prefix[rows, step]                                                        # (N,)


def _append_step(history: Tensor | None, attn_weights: Tensor) -> Tensor:
    """history (N, t, L, H, S) + attn_weights (N, L, H, S) -> (N, t + 1, L, H, S)."""
    step = attn_weights.detach().float().unsqueeze(1)
    return step if history is None else torch.cat([history, step], dim=1)


def _trim(attention: Tensor, src_mask: Tensor) -> Tensor:
    """attention (T', L, H, S), src_mask (S,) -> (L, H, T', S_i) over the real source positions, on the CPU."""
    return attention.permute(1, 2, 0, 3)[..., src_mask].cpu()


def check_lengths(max_len_a: float, max_len_b: int) -> None:
    """The length-limit settings every search takes, as one NMTError when negative."""
    if max_len_a < 0 or max_len_b < 0:
        raise NMTError(
            f"max_len_a={max_len_a} and max_len_b={max_len_b} must not be negative; "
            "the length limit is max_len_a * source length + max_len_b (e.g. 1.5 and 10)."
        )


@torch.no_grad()
def sequence_log_probs(model: Seq2Seq, batch: Batch) -> Tensor:
    """Teacher-forced log P(y|x) per sentence, EOS included: (B,) float32.

    Used for contrastive evaluation (Müller et al. 2018; Sennrich 2017): a model
    "prefers" the correct pronoun when its reference scores higher than the contrast.
    """
    if batch.tgt_in is None or batch.tgt_out is None:
        raise ValueError("sequence_log_probs needs a batch with targets (tgt_in and tgt_out)")
    logits = model(batch.src, batch.src_mask, batch.tgt_in)                          # (B, T, V)
    log_probs = log_softmax_fp32(logits)                                             # (B, T, V)
    token_log_probs = log_probs.gather(2, batch.tgt_out.unsqueeze(2)).squeeze(2)     # (B, T)
    return token_log_probs.masked_fill(batch.tgt_out == PAD_ID, 0.0).sum(dim=1)      # (B,)
