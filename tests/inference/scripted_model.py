"""A scripted model whose next-token probabilities are set by hand, and tiny real models, for decoding tests.

The scripted model looks up the next-token distribution by (sentence, prefix),
sentence being the first source token, so beams, length penalties, samples and
ensembles can be worked out on paper. Prefixes the script does not list get the
`default` distribution, or a random one seeded by the prefix (a complete random tree)
for the parity tests.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch import Tensor

from nmt.inference.decoding import Hypothesis
from nmt.models import build_model
from nmt.models.seq2seq import Seq2Seq
from nmt.tokens import BOS_ID, EOS_ID, PAD_ID

VOCAB_SIZE = 10
Script = dict[int, dict[tuple[int, ...], dict[int, float]]]


@dataclass(frozen=True)
class ScriptedState:
    sentence: Tensor                 # (B,) first source token
    prefixes: tuple[tuple[int, ...], ...]
    src_mask: Tensor                 # (B, S)

    def select(self, indices: Tensor, *, same_sources: bool = False) -> ScriptedState:
        rows = indices.tolist()
        prefixes = tuple(self.prefixes[r] for r in rows)
        if same_sources:  # the caller's promise is checked, then source-side fields are kept
            assert torch.equal(self.sentence[indices], self.sentence), "same_sources promised for other sentences"
            return ScriptedState(self.sentence, prefixes, self.src_mask)
        return ScriptedState(self.sentence[indices], prefixes, self.src_mask[indices])


class ScriptedModel(Seq2Seq):
    """P(next | sentence, prefix) from `script`; unlisted prefixes use `default` or a seeded random draw.

    Listed probabilities are used as given; the rest of the mass is spread evenly over
    the unlisted tokens other than PAD and BOS. Attention at step t is one-hot on
    source position t modulo the sentence's real length (L = H = 1). Like a real model it returns
    logits, not log-probabilities: each row's log-probabilities plus a constant of its own (its
    sentence id + 1), so a search that skipped the normalisation would score wrongly.
    """

    def __init__(self, script: Script | None = None, *, default: dict[int, float] | None = None,
                 eos_bias: float = 0.0, max_tgt_len: int | None = None,
                 logits_dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.logits_dtype = logits_dtype  # bfloat16: a model searched in bf16
        self.script = script or {}
        self.default = default
        self.eos_bias = eos_bias
        self.target_positions = max_tgt_len
        self.steps = 0  # rows processed by decode_step, to show finished sentences stop costing work
        self.batch_rows: list[int] = []  # the rows of each decode_step call, in order

    @property
    def max_tgt_len(self) -> int | None:
        return self.target_positions

    def encode(self, src: Tensor, src_mask: Tensor) -> ScriptedState:
        return ScriptedState(src[:, 0], tuple(() for _ in range(src.size(0))), src_mask)

    def decode_step(
        self, prev_tokens: Tensor, state: ScriptedState, *, need_weights: bool = True
    ) -> tuple[Tensor, ScriptedState, Tensor | None]:
        self.steps += prev_tokens.numel()
        self.batch_rows.append(prev_tokens.numel())
        prefixes = tuple(p if t == BOS_ID else p + (t,) for p, t in zip(state.prefixes, prev_tokens.tolist()))
        sentences = state.sentence.tolist()
        log_probs = torch.stack([self._distribution(s, p) for s, p in zip(sentences, prefixes)]).log()
        logits = log_probs + (state.sentence.float() + 1).unsqueeze(1)          # (B, V), not normalised
        lengths = state.src_mask.sum(dim=1)                                     # (B,)
        positions = torch.tensor([len(p) for p in prefixes]) % lengths          # (B,)
        attn = torch.nn.functional.one_hot(positions, state.src_mask.size(1)).float()  # (B, S)
        weights = attn[:, None, None, :] if need_weights else None
        return logits.to(self.logits_dtype), ScriptedState(state.sentence, prefixes, state.src_mask), weights

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        state, steps = self.encode(src, src_mask), []
        for t in range(tgt_in.size(1)):
            logits, state, _ = self.decode_step(tgt_in[:, t], state)
            steps.append(logits)
        return torch.stack(steps, dim=1)                                        # (B, T, V)

    def _distribution(self, sentence: int, prefix: tuple[int, ...]) -> Tensor:
        listed = self.script.get(sentence, {}).get(prefix, self.default)
        if listed is None:
            seed = zlib.crc32(repr((sentence, prefix)).encode())
            logits = torch.randn(VOCAB_SIZE, generator=torch.Generator().manual_seed(seed))
            logits[EOS_ID] += self.eos_bias * len(prefix)
            logits[[PAD_ID, BOS_ID]] = float("-inf")
            return logits.softmax(dim=0)
        probs = torch.zeros(VOCAB_SIZE, dtype=torch.float64)
        for token, p in listed.items():
            probs[token] = p
        rest = [t for t in range(VOCAB_SIZE) if t not in listed and t not in (PAD_ID, BOS_ID)]
        probs[rest] = (1.0 - sum(listed.values())) / len(rest)
        return probs.float()


def source(*sentences: list[int]) -> tuple[Tensor, Tensor]:
    """Right-padded (B, S) ids and mask from token lists."""
    width = max(len(s) for s in sentences)
    src = torch.tensor([s + [PAD_ID] * (width - len(s)) for s in sentences])
    return src, src != PAD_ID


def prefix_ids(*rows: list[int]) -> Tensor:
    """(B, P) target prefixes right-padded with PAD_ID (an empty row: no prefix)."""
    width = max(len(row) for row in rows)
    return torch.tensor([row + [PAD_ID] * (width - len(row)) for row in rows], dtype=torch.long)


def tokens_of(hypotheses: list[Hypothesis]) -> list[list[int]]:
    return [h.tokens for h in hypotheses]


PRESETS = Path(__file__).parents[2] / "configs" / "model"
TINY = {
    "transformer": {"d_model": 16, "num_heads": 2, "num_encoder_layers": 2, "num_decoder_layers": 2, "ff_dim": 32},
    "rnn_bahdanau": {"emb_dim": 16, "encoder_hidden_dim": 8, "decoder_hidden_dim": 16},
    "rnn_luong": {"emb_dim": 16, "encoder_hidden_dim": 8, "decoder_hidden_dim": 16},
}


def tiny_real_model(preset: str, *, vocab_size: int = 20, seed: int = 0) -> Seq2Seq:
    """A model preset (transformer, rnn_bahdanau, rnn_luong) at tiny size, seeded, in eval mode."""
    torch.manual_seed(seed)
    config = {**yaml.safe_load((PRESETS / f"{preset}.yaml").read_text()), **TINY[preset]}
    return build_model(config, src_vocab_size=vocab_size, tgt_vocab_size=vocab_size).eval()
