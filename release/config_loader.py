"""Build a frozen settings dataclass from a parsed mapping, strictly.

Unknown keys, missing required keys, wrong types and bad values each become one
:class:`~release.errors.ConfigError` naming the key, the value and what is allowed. The
sections live in :mod:`release.config` and its ``config_*`` modules; they call
:func:`check` from their ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal

from release.errors import ConfigError


def show(value: Any) -> str:
    """A value's repr cut to one short line (a list from a YAML alias may be huge)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check(ok: bool, key: str, value: Any, allowed: str) -> None:
    """Raise ConfigError for ``key`` unless ``ok``: ``key = value is invalid (expected ...)``."""
    if not ok:
        raise ConfigError(f"{key} = {show(value)} is invalid", f"expected {allowed}")


def build(cls: type, raw: Any, prefix: str) -> Any:
    """An instance of the dataclass ``cls`` from ``raw``, every key checked and coerced."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{prefix or 'top level'} = {show(raw)} is invalid", "expected a mapping of keys"
        )
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(map(str, raw)) - names)
    if unknown:
        key = f"{prefix}{unknown[0]}"
        raise ConfigError(f"unknown key {key}", "allowed keys here: " + ", ".join(sorted(names)))
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    absent = [name for name in required if name not in raw]
    if absent:
        raise ConfigError(f"{prefix}{absent[0]} is missing", f"set {prefix}{absent[0]}")
    kwargs = {name: _coerce(hints[name], raw[name], f"{prefix}{name}") for name in raw}
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return build(tp, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            try:
                return _coerce(option, value, key)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"{key} = {show(value)} is invalid", f"expected {_describe(tp)}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key} = {show(value)} is invalid", "expected null")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(
            f"{key} = {show(value)} is invalid", "expected one of " + ", ".join(map(str, args))
        )
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key} = {show(value)} is invalid", f"expected {_describe(tp)}")
        return [_coerce(args[0], item, f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} = {show(value)} is invalid", f"expected {_describe(tp)}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():  # `1e9` in YAML is a float
            return int(value)
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "-inf", ".inf"):
            return math.inf if not value.strip().startswith("-") else -math.inf
    elif tp is str and isinstance(value, str):
        return value
    raise ConfigError(f"{key} = {show(value)} is invalid", f"expected {_describe(tp)}")


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin is list:
        return f"a list of {_describe(args[0])}"
    if origin is dict:
        return f"a mapping to {_describe(args[1])}"
    if tp is type(None):
        return "null"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )
