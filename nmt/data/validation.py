"""Type and choice checks for the keyword-only config dataclasses built from Hydra groups.

A config dataclass calls `check_fields(self, prefix="data")` in `__post_init__`; a wrong type
or a value outside a `Literal[...]` becomes one `NMTError` naming the key as the user types it
on the command line (`data.source`, `tokenizer.vocab_size`) and the valid choices. Then
`check_at_least` checks the ranges. `from_mapping` builds a config from a plain dict and turns a
misspelt key into the same kind of error, listing the keys that exist. The prefix "" names
top-level keys (`beam_size` of nmt-translate); `check_value` checks one value the same way.
"""

from __future__ import annotations

import dataclasses
import math
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
            f"unknown config key {_key(prefix, unknown[0])}; valid keys are: {', '.join(names)}"
        )
    required = [
        field.name
        for field in dataclasses.fields(cls)  # type: ignore[arg-type]
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in values]
    if missing:
        where = f"the {prefix} config" if prefix else "the config"
        raise NMTError(f"config key {_key(prefix, missing[0])} is missing; add it to {where}")
    return cls(**values)


def check_fields(config: object, *, prefix: str) -> None:
    """Check every field of a dataclass instance against its annotation.

    Nested dataclass fields given as dicts are built in place (`object.__setattr__`, so
    this works on frozen dataclasses) and ints given for float fields become floats.
    """
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, field.name)
        checked = _check(value, hints[field.name], key=_key(prefix, field.name))
        if checked is not value:
            object.__setattr__(config, field.name, checked)


def check_value(value: Any, hint: Any, *, key: str) -> Any:
    """`value` checked against the annotation `hint` as `check_fields` checks a field; returns it converted."""
    return _check(value, hint, key=key)


def check_at_least(config: object, minimum: int, *names: str, prefix: str) -> None:
    """Raise NMTError naming the first of the fields `names` below `minimum`; None (a switched-off limit) passes.

    Call it after `check_fields`, so every value is already a number or None.
    """
    for name in names:
        value = getattr(config, name)
        if value is not None and value < minimum:
            raise NMTError(f"{_key(prefix, name)}={value!r} is too small; it must be {minimum} or more")


def _key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


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
        if _is_number(value) and str(value) in args:
            return str(value)  # YAML and the command line read precision=32 as the int 32
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
    if origin in (list, tuple):
        return _check_sequence(value, hint, key=key)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise NMTError(f"{key}={value!r} must be a mapping of the keys of {hint.__name__}")
        return from_mapping(hint, value, prefix=key)
    if hint is Any:
        return value
    if hint is float and _is_number(value):
        if not math.isfinite(value):
            raise NMTError(f"{key}={value!r} is not a finite number")
        return float(value)
    # bool is an int subclass: 'max_len: true' must not pass as 1.
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise NMTError(f"{key}={value!r} has the wrong type; expected {_describe(hint)}")
    return value


def _check_sequence(value: Any, hint: Any, *, key: str) -> list | tuple:
    """list[X] or tuple[X, ...] of any length, tuple[X, Y] of exactly that many; YAML gives lists for both."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    fixed = origin is tuple and Ellipsis not in args
    if not isinstance(value, (list, tuple)) or (fixed and len(value) != len(args)):
        raise NMTError(f"{key}={value!r} has the wrong type; expected {_describe(hint)}")
    items = args if fixed else args[:1] * len(value)
    checked = [_check(item, item_hint, key=f"{key}[{index}]")
               for index, (item, item_hint) in enumerate(zip(value, items))]
    return tuple(checked) if origin is tuple else checked


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(hint: Any) -> str:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) in (list, tuple):
        count = f"{len(args)} " if typing.get_origin(hint) is tuple and Ellipsis not in args else ""
        return f"a list of {count}{_describe(args[0])}s"
    return getattr(hint, "__name__", str(hint))
