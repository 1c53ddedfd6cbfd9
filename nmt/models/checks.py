"""Validation of model constructor arguments.

Each check raises one NMTError naming the `model.<key>` a user sets from the command line
or YAML, the value received and what is valid, so a typo reads as one sentence with the fix.
Models call them as `checks.positive("d_model", d_model)`.
"""

from __future__ import annotations

from nmt.errors import NMTError


def choice(key: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise NMTError unless `value` is one of `choices` (a Literal's options)."""
    if value not in choices:
        raise NMTError(f"model.{key}={value!r} is not valid: choose one of {', '.join(choices)}.")


def positive(key: str, value: object) -> None:
    """Raise NMTError unless `value` is an int >= 1 (sizes, layer and head counts)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NMTError(f"model.{key}={value!r} is not valid: it must be a whole number >= 1.")


def probability(key: str, value: object) -> None:
    """Raise NMTError unless `value` is a float in [0, 1) (dropout rates)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise NMTError(f"model.{key}={value!r} is not valid: it must be a number in [0, 1).")


def boolean(key: str, value: object) -> None:
    """Raise NMTError unless `value` is true or false (YAML booleans, not strings)."""
    if not isinstance(value, bool):
        raise NMTError(f"model.{key}={value!r} is not valid: it must be true or false.")


TIE_CHOICES = ("none", "decoder", "all")


def tie_embeddings(value: str, *, src_vocab_size: int, tgt_vocab_size: int) -> None:
    """`all` shares one matrix between source and target, so the vocabularies must be one (joint)."""
    choice("tie_embeddings", value, TIE_CHOICES)
    if value == "all" and src_vocab_size != tgt_vocab_size:
        raise NMTError(
            f"model.tie_embeddings=all needs one joint vocabulary, but the source has {src_vocab_size} "
            f"pieces and the target {tgt_vocab_size}: train a joint tokenizer or use "
            "model.tie_embeddings=decoder."
        )
