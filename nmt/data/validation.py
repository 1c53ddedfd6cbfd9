"""Type and choice checks for the keyword-only config dataclasses built from Hydra groups.

A config dataclass calls `check_fields(self, prefix="data")` in `__post_init__`; a wrong type
or a value outside a `Literal[...]` becomes one `NMTError` naming the key as the user types it
on the command line (`data.source`, `tokenizer.vocab_size`) and the valid choices.
`from_mapping` builds a config from a plain dict and turns a misspelt key into the same kind
of error, listing the keys that exist.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

from nmt.errors import NMTError

C = TypeVar("C")


def from_mapping(cls: type[C], values: Mapping[str, Any], *, prefix: str) -> C:
    """`cls(**values)`, with an unknown or missing key reported as an `NMTError`."""
    names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise NMTError(
            f"unknown config key {prefix}.{unknown[0]}; valid keys are: {', '.join(names)}"
        )
    required = [
        field.name
        for field in dataclasses.fields(cls)  # type: ignore[arg-type]
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in values]
    if missing:
        raise NMTError(f"config key {prefix}.{missing[0]} is missing; add it to the {prefix} config")
    return cls(**values)


def check_fields(config: object, *, prefix: str) -> None:
    """Check every field of a dataclass instance against its annotation.

    Nested dataclass fields given as dicts are built in place (`object.__setattr__`, so
    this works on frozen dataclasses) and ints given for float fields become floats.
    """
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, field.name)
        checked = _check(value, hints[field.name], key=f"{prefix}.{field.name}")
        if checked is not value:
            object.__setattr__(config, field.name, checked)


def _check(value: Any, hint: Any, *, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        if len(options) == 1 and typing.get_origin(options[0]) is Literal:
            return _check(value, options[0], key=key)  # keeps the list of valid choices
        for option in options:
            try:
                return _check(value, option, key=key)
            except NMTError:
                continue
        raise NMTError(f"{key}={value!r} has the wrong type; expected {_describe(hint)}")
    if origin is Literal:
        if value not in args:
            choices = ", ".join(str(arg) for arg in args)
            raise NMTError(f"{key}={value!r} is not a valid choice; valid choices are: {choices}")
        return value
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise NMTError(f"{key}={value!r} must be a mapping like {{train: ..., validation: ...}}")
        key_hint, value_hint = args
        return {
            _check(name, key_hint, key=key): _check(item, value_hint, key=f"{key}.{name}")
            for name, item in value.items()
        }
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise NMTError(f"{key}={value!r} must be a mapping of the keys of {hint.__name__}")
        return from_mapping(hint, value, prefix=key)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    # bool is an int subclass: 'max_len: true' must not pass as 1.
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise NMTError(f"{key}={value!r} has the wrong type; expected {_describe(hint)}")
    return value


def _describe(hint: Any) -> str:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint))
