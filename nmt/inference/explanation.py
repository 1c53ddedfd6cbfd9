"""Why a model wrote a translation: every attention map and the model's confidence at each target position.

A translation found by any search is replayed under teacher forcing (`forced_attention`), which
gives the same numbers as the decoding steps (the `Seq2Seq` contract) plus what stepping does
not record: the encoder's and the decoder's self-attention. For each target position the
replay also gives the probability of the token that was written and the `top_k` tokens the
model found most probable there (what it could have written instead; PAD and BOS, which no
search writes, are left out).

Positions: rows of cross-attention and of decoder self-attention are the target pieces + EOS
(row t is the decoder position that predicts piece t); columns of cross- and encoder
self-attention are the source pieces + EOS; decoder self-attention columns are the decoder
inputs (BOS + target pieces).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nmt.data.batching import collate, sorted_batches
from nmt.data.tokenizer import Tokenizer
from nmt.models.inspection import attention_modules, forced_attention, real_positions
from nmt.models.seq2seq import Seq2Seq, log_softmax_fp32
from nmt.tokens import BOS_ID, BOS_PIECE, EOS_ID, PAD_ID

MAX_SENTENCES_PER_BATCH = 64


@dataclass(frozen=True)
class Alternative:
    """A token the model considered at one target position."""

    piece: str
    token: int
    probability: float


@dataclass(frozen=True)
class Explanation:
    """One source and one translation of it, replayed.

    attention: module name (see `nmt.models.inspection`) -> float32 (H, rows, cols); empty for a
    model without attention. token_probabilities[t] is P(tgt_pieces[t] | source, earlier pieces);
    alternatives[t] the `top_k` most probable tokens at position t, most probable first.
    """

    src_pieces: list[str]  # (S + 1,) with EOS
    tgt_pieces: list[str]  # (T + 1,) with EOS
    decoder_inputs: list[str]  # (T + 1,) BOS + target pieces: the columns of decoder self-attention
    attention: dict[str, np.ndarray]
    token_probabilities: list[float]
    alternatives: list[list[Alternative]]


def explain(
    model: Seq2Seq,
    tokenizer: Tokenizer,
    src_ids: Sequence[Sequence[int]],
    tgt_ids: Sequence[Sequence[int]],
    *,
    device: torch.device,
    batch_tokens: int,
    top_k: int = 5,
) -> list[Explanation]:
    """Replay each (source ids, target ids) pair, both without EOS/BOS, in length-sorted batches."""
    if len(src_ids) != len(tgt_ids):
        raise ValueError(f"{len(src_ids)} sources for {len(tgt_ids)} targets")
    results: list[Explanation | None] = [None] * len(src_ids)
    lengths = [max(len(s), len(t)) + 1 for s, t in zip(src_ids, tgt_ids)]
    names = list(attention_modules(model))
    for positions in sorted_batches(lengths, max_tokens=batch_tokens, max_sentences=MAX_SENTENCES_PER_BATCH):
        rows = [int(position) for position in positions]
        batch = collate([list(src_ids[r]) for r in rows], [list(tgt_ids[r]) for r in rows], rows).to(device)
        logits, recorded = forced_attention(model, batch.src, batch.src_mask, batch.tgt_in)  # (B, T, V)
        log_probs = log_softmax_fp32(logits)                                                # (B, T, V)
        written = log_probs.gather(2, batch.tgt_out.unsqueeze(2)).squeeze(2).cpu()           # (B, T)
        # PAD and BOS are masked as the searches mask them; only the (B, T, k) best leave the device.
        never_written = log_probs.index_fill_(2, torch.tensor([PAD_ID, BOS_ID], device=device), float("-inf"))
        best_log_probs, best_tokens = (t.cpu() for t in never_written.topk(min(top_k, log_probs.size(-1) - 2), dim=-1))
        for position, row in enumerate(rows):
            src_len, tgt_len = len(src_ids[row]) + 1, len(tgt_ids[row]) + 1
            attention = {name: real_positions(name, recorded[name][position], src_len=src_len,
                                              tgt_len=tgt_len).numpy() for name in names}
            results[row] = Explanation(
                src_pieces=tokenizer.src_pieces([*src_ids[row], EOS_ID]),
                tgt_pieces=tokenizer.tgt_pieces([*tgt_ids[row], EOS_ID]),
                decoder_inputs=[BOS_PIECE, *tokenizer.tgt_pieces(list(tgt_ids[row]))],
                attention=attention,
                token_probabilities=written[position, :tgt_len].exp().tolist(),
                alternatives=[_alternatives(tokenizer, tokens, values)
                              for tokens, values in zip(best_tokens[position, :tgt_len].tolist(),
                                                        best_log_probs[position, :tgt_len].exp().tolist())],
            )
    return [result for result in results if result is not None]


def _alternatives(tokenizer: Tokenizer, tokens: list[int], probabilities: list[float]) -> list[Alternative]:
    pieces = tokenizer.tgt_pieces(tokens)
    return [Alternative(piece=piece, token=token, probability=probability)
            for piece, token, probability in zip(pieces, tokens, probabilities)]
