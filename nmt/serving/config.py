"""nmt-serve's settings, checked in one place before any model is loaded (defaults: configs/serve.yaml).

`ServeConfig.from_dict(<resolved config>)` turns a wrong type, a missing checkpoint path, a
limit below its minimum or a bad model name into one `NMTError` naming the key, so a typo
costs no model loading. The decoding defaults are nmt-translate's `DecodingOptions`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmt.data.validation import check_at_least, check_fields, from_mapping
from nmt.errors import NMTError
from nmt.inference.options import DecodingOptions
from nmt.serving.decoding_process import DecoderKind

MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
DECODING_KEYS = ("beam_size", "length_penalty", "max_len_a", "max_len_b", "max_src_tokens", "device", "precision",
                 "threads")


@dataclass(frozen=True, kw_only=True)
class ModelSource:
    """One model to serve: its name (None: SRC-TGT of its corpus, known once loaded) and its path."""

    name: str | None
    path: Path


@dataclass(frozen=True, kw_only=True)
class ServeConfig:
    """Every key of configs/serve.yaml (see there for what each does)."""

    ckpt: str | list[str] | None
    models: dict[str, str] | None
    host: str
    port: int
    ui: bool
    api_keys: list[str]
    log_text: bool
    beam_size: int
    length_penalty: float
    max_len_a: float
    max_len_b: int
    max_src_tokens: int | None
    device: str
    precision: str
    threads: int
    decoder: DecoderKind
    max_batch_tokens: int
    max_wait_ms: float
    max_queue_sentences: int
    timeout_s: float
    drain_timeout_s: float
    max_body_bytes: int
    max_chars_per_request: int
    max_sentences_per_request: int
    max_beam_size: int
    max_nbest: int
    max_attention_weights: int

    def __post_init__(self) -> None:
        check_fields(self, prefix="")
        check_at_least(self, 1, "port", "max_batch_tokens", "max_queue_sentences", "max_body_bytes",
                       "max_chars_per_request", "max_sentences_per_request", "max_beam_size", "max_nbest",
                       "max_attention_weights", prefix="")
        check_at_least(self, 0, "max_wait_ms", "drain_timeout_s", prefix="")
        if self.port > 65535:
            raise NMTError(f"port={self.port} is not a TCP port; choose one from 1 to 65535, e.g. port=5000.")
        if self.timeout_s <= 0:
            raise NMTError(f"timeout_s={self.timeout_s} must be a positive number of seconds, e.g. timeout_s=60.")
        if self.beam_size > self.max_beam_size:
            raise NMTError(f"beam_size={self.beam_size} exceeds max_beam_size={self.max_beam_size}; "
                           "raise max_beam_size or lower beam_size.")
        if self.max_queue_sentences < self.max_sentences_per_request:
            raise NMTError(f"max_queue_sentences={self.max_queue_sentences} is below max_sentences_per_request="
                           f"{self.max_sentences_per_request}: the largest request allowed could never be queued; "
                           "raise max_queue_sentences.")
        if self.max_nbest > self.max_beam_size:
            raise NMTError(f"max_nbest={self.max_nbest} exceeds max_beam_size={self.max_beam_size}: n-best lists come "
                           "from the beam; lower max_nbest or raise max_beam_size.")
        if any(not key for key in self.api_keys):
            raise NMTError("api_keys holds an empty key; remove it or give every key some characters.")
        self.decoding_options()  # the decoding defaults are checked as nmt-translate checks them
        self.model_sources()

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ServeConfig:
        """Build from the resolved Hydra config (its `hydra` node, if any, is not ours)."""
        return from_mapping(cls, {key: value for key, value in values.items() if key != "hydra"}, prefix="")

    def decoding_options(self, **overrides: Any) -> DecodingOptions:
        """nmt-translate's options with this server's defaults, and `overrides` (a request's search settings)."""
        values: dict[str, Any] = {key: getattr(self, key) for key in DECODING_KEYS}
        values.update(batch_tokens=self.max_batch_tokens, nbest=1, sampling=False, temperature=1.0, top_k=0,
                      top_p=1.0, seed=0)
        values.update(overrides)
        return DecodingOptions.from_dict(values)

    def model_sources(self) -> list[ModelSource]:
        """The models to load, in the order given; each path exists (a file, or an export directory)."""
        if self.ckpt is not None and self.models:
            raise NMTError("both ckpt= and models= are set; name the models either one way or the other.")
        if self.ckpt is None and not self.models:
            raise NMTError("no model to serve: pass ckpt=PATH (a .pt checkpoint or an nmt-export directory), "
                           "or models={de-en: a.pt, en-de: b/} for several.")
        if self.models:
            sources = [ModelSource(name=name, path=Path(path)) for name, path in self.models.items()]
        else:
            paths = [self.ckpt] if isinstance(self.ckpt, str) else list(self.ckpt or [])
            if not paths:
                raise NMTError("ckpt=[] names no model; pass ckpt=PATH or ckpt=[PATH,PATH,...].")
            sources = [ModelSource(name=None, path=Path(path)) for path in paths]
        for source in sources:
            key = "ckpt" if source.name is None else f"models.{source.name}"
            if source.name is not None and not MODEL_NAME.fullmatch(source.name):
                raise NMTError(f"{key}: the model name {source.name!r} may hold only letters, digits and '._-' "
                               "(e.g. de-en), up to 64 characters.")
            if not source.path.exists():
                raise NMTError(f"{key}={source.path} does not exist; pass a .pt checkpoint written by nmt-train "
                               "or a directory written by nmt-export.")
        return sources
