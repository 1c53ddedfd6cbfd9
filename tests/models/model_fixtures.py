"""Test helpers: tiny models built from the real presets, and a toy copy task every model must learn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor

from nmt.models import Seq2Seq, build_model
from nmt.tokens import BOS_ID, EOS_ID, PAD_ID

PRESET_DIR = Path(__file__).parents[2] / "configs" / "model"
VOCAB_SIZE = 14  # PAD, UNK, BOS, EOS and the digits 0-9 as ids 4..13
FIRST_DIGIT = 4

TINY_TRANSFORMER = dict(d_model=16, num_heads=2, num_encoder_layers=2, num_decoder_layers=2, ff_dim=32)
TINY_RNN = dict(emb_dim=16, encoder_hidden_dim=8, decoder_hidden_dim=16)

# Every model variant the contract tests cover: preset name and the overrides on top of its tiny size.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "transformer": ("transformer", {}),
    "transformer_post_norm_learned": ("transformer", dict(norm="post", positions="learned", max_positions=32,
                                                          tie_embeddings="all")),
    "rnn_bahdanau": ("rnn_bahdanau", {}),
    "rnn_bahdanau_lstm_2_layers": ("rnn_bahdanau", dict(cell="lstm", encoder_layers=2, decoder_layers=2)),
    "rnn_luong_general": ("rnn_luong", {}),
    "rnn_luong_dot": ("rnn_luong", dict(score="dot")),
    "rnn_luong_concat_lstm": ("rnn_luong", dict(score="concat", cell="lstm")),
    "rnn_luong_no_input_feeding": ("rnn_luong", dict(input_feeding=False, decoder_layers=2)),
    "rnn_plain": ("rnn_plain", {}),
    "rnn_plain_lstm": ("rnn_plain", dict(cell="lstm", tie_embeddings="decoder")),
}


def load_preset(name: str) -> dict[str, Any]:
    return yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text())


def tiny_model(preset: str, *, seed: int = 0, vocab_size: int = VOCAB_SIZE, **overrides: Any) -> Seq2Seq:
    """The preset with tiny sizes (and `overrides`), seeded, in eval mode."""
    config = load_preset(preset)
    config.update(TINY_TRANSFORMER if preset == "transformer" else TINY_RNN)
    config.update(overrides)
    torch.manual_seed(seed)
    return build_model(config, src_vocab_size=vocab_size, tgt_vocab_size=vocab_size).eval()


def padded_batch(sequences: list[list[int]]) -> tuple[Tensor, Tensor]:
    """Right-padded ids (B, S) and mask (B, S), True = real token."""
    length = max(len(sequence) for sequence in sequences)
    ids = torch.full((len(sequences), length), PAD_ID, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence)
    return ids, ids != PAD_ID


def copy_task(generator: torch.Generator, *, batch_size: int, min_len: int, max_len: int, reverse: bool = False):
    """Random digit strings: src = x + EOS, tgt_in = BOS + y, tgt_out = y + EOS with y = x or reversed x."""
    lengths = torch.randint(min_len, max_len + 1, (batch_size,), generator=generator).tolist()
    digits = [torch.randint(FIRST_DIGIT, VOCAB_SIZE, (n,), generator=generator).tolist() for n in lengths]
    targets = [d[::-1] if reverse else d for d in digits]
    src, src_mask = padded_batch([d + [EOS_ID] for d in digits])
    tgt_in, _ = padded_batch([[BOS_ID] + t for t in targets])
    tgt_out, _ = padded_batch([t + [EOS_ID] for t in targets])
    return src, src_mask, tgt_in, tgt_out


def train_copy(model: Seq2Seq, *, steps: int, lr: float, min_len: int, max_len: int, batch_size: int = 32,
               reverse: bool = False, seed: int = 0) -> float:
    """Train with Adam on the copy task; return teacher-forced token accuracy on 256 held-out strings."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=PAD_ID)
    model.train()
    for _ in range(steps):
        src, src_mask, tgt_in, tgt_out = copy_task(generator, batch_size=batch_size, min_len=min_len,
                                                   max_len=max_len, reverse=reverse)
        logits = model(src, src_mask, tgt_in)  # (B, T, V)
        loss = loss_fn(logits.flatten(0, 1), tgt_out.flatten())
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    model.eval()
    src, src_mask, tgt_in, tgt_out = copy_task(torch.Generator().manual_seed(seed + 1000), batch_size=256,
                                               min_len=min_len, max_len=max_len, reverse=reverse)
    with torch.no_grad():
        predictions = model(src, src_mask, tgt_in).argmax(dim=-1)  # (B, T)
    real = tgt_out != PAD_ID
    return (predictions[real] == tgt_out[real]).float().mean().item()
