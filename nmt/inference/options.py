"""The decoding options nmt-evaluate and nmt-translate share, checked in one place before any file is read.

The entry points build `DecodingOptions.from_dict(<their resolved config>)` first, so a bad
beam_size or precision is one error naming the key, not a traceback after the checkpoint
has loaded. Defaults live in configs/evaluate.yaml and configs/translate.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from nmt.data.tokenizer import Tokenizer
from nmt.data.validation import check_at_least, check_fields, from_mapping
from nmt.device import Precision, check_device
from nmt.errors import NMTError
from nmt.inference.sampling import Sampling
from nmt.inference.translation import Translator
from nmt.models.seq2seq import Seq2Seq


MAX_LENGTH_PENALTY = 10.0


@dataclass(frozen=True, kw_only=True)
class DecodingOptions:
    """Search, length limits, batching and hardware of one decoding run (top-level keys, no prefix)."""

    beam_size: int  # hypotheses kept per sentence; 1 = greedy search; ignored with sampling
    nbest: int = 1  # translations per sentence, at most beam_size, or samples with sampling (nmt-translate only)
    length_penalty: float  # GNMT alpha; 0 = raw log-prob
    max_len_a: float  # a translation gets at most max_len_a * source pieces + max_len_b pieces
    max_len_b: int
    max_src_tokens: int | None  # longer sources are truncated; None = only the model's own limit
    batch_tokens: int  # source pieces per decoding batch
    device: str  # auto | cpu | cuda | cuda:N
    precision: Precision
    threads: int  # torch's CPU threads; 0 = torch's default
    sampling: bool  # draw translations (nmt.inference.sampling) instead of searching
    temperature: float  # > 0; 1 = the model's distribution
    top_k: int  # draw among the k most probable tokens; 0 = off
    top_p: float  # draw within the nucleus of this probability mass, in (0, 1]; 1.0 = off
    seed: int  # seeds the draws

    def __post_init__(self) -> None:
        check_fields(self, prefix="")
        check_device(self.device)
        check_at_least(self, 1, "beam_size", "nbest", "batch_tokens", "max_src_tokens", prefix="")
        check_at_least(self, 0, "length_penalty", "max_len_a", "max_len_b", "threads", prefix="")
        if self.length_penalty > MAX_LENGTH_PENALTY:  # ((5 + n) / 6) ** alpha overflows long before alpha = 400
            raise NMTError(f"length_penalty={self.length_penalty} is above {MAX_LENGTH_PENALTY:g}; GNMT's alpha is "
                           "usually 0.6 to 2 (0 = raw log-probability).")
        self._sampling_settings()  # checked whether sampling is on or not: a bad value is a mistake either way
        if not self.sampling and self.nbest > self.beam_size:
            raise NMTError(f"nbest={self.nbest} exceeds beam_size={self.beam_size}; raise beam_size or lower nbest.")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DecodingOptions:
        """Build from a command's resolved config, taking only the keys named here (ckpt, split, ... stay)."""
        names = {field.name for field in fields(cls)}
        return from_mapping(cls, {key: value for key, value in values.items() if key in names}, prefix="")

    def replace(self, **changes: Any) -> DecodingOptions:
        """These options with `changes` (keys of nmt-translate), checked as a command's config is checked:
        a misspelt key is one `NMTError` listing the valid ones."""
        return from_mapping(DecodingOptions, {**asdict(self), **changes}, prefix="")

    def translator(self, model: Seq2Seq, tokenizer: Tokenizer, *, device: torch.device) -> Translator:
        """The `Translator` these options describe, for `model` on `device` (resolved from `self.device`)."""
        return Translator(
            model, tokenizer, beam_size=self.beam_size, length_penalty=self.length_penalty,
            max_len_a=self.max_len_a, max_len_b=self.max_len_b, batch_tokens=self.batch_tokens,
            device=device, max_src_tokens=self.max_src_tokens, precision=self.precision,
            sampling=self._sampling_settings() if self.sampling else None,
        )

    def _sampling_settings(self) -> Sampling:
        return Sampling(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, seed=self.seed)
