"""What a run trains on: the tokenized splits, validation text, tokenizer and the configs every checkpoint stores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nmt.data.batching import TokenizedSplit
from nmt.data.tokenizer import Tokenizer


@dataclass(frozen=True)
class RunInputs:
    """What a run trains on and the configs stored in every checkpoint (plain dicts, no DictConfig)."""

    train: TokenizedSplit
    validation: TokenizedSplit
    validation_sources: list[str]
    validation_references: list[str]
    tokenizer: Tokenizer
    model_config: dict[str, Any]
    data_config: dict[str, Any]
    tokenizer_config: dict[str, Any]
