"""Strategy settings: one frozen dataclass per strategy, built from user parameters and validated."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from colearn_chain.errors import ColearnValueError

S = TypeVar("S")


def settings_from_params(cls: type[S], params: Mapping[str, Any] | None, strategy: str) -> S:
    """``cls(**params)`` with every key checked and every value coerced to its field's type.

    Parameters come from the command line (``--strategy-param trim=0.2``, so strings) or a TOML
    file (already typed); an unknown key or a value of the wrong type is an error that names
    the strategy, the key and the accepted keys. ``cls`` may validate further in
    ``__post_init__`` by raising ColearnValueError.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, raw in (params or {}).items():
        if key not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise ColearnValueError(f"strategy {strategy!r} has no parameter {key!r} (its parameters: {known})")
        values[key] = _coerce(raw, hints[key], strategy, key)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ColearnValueError(f"strategy {strategy!r}: {exc}") from None


def _coerce(raw: Any, hint: Any, strategy: str, key: str) -> Any:
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    options = typing.get_args(hint) if union else (hint,)
    if raw is None and type(None) in options:
        return None
    for option in options:
        if option is type(None):
            continue
        try:
            if option is bool:
                if isinstance(raw, bool):
                    return raw
                if isinstance(raw, str) and raw.lower() in ("true", "false", "1", "0", "yes", "no"):
                    return raw.lower() in ("true", "1", "yes")
                continue
            if option in (int, float, str):
                if option is int and isinstance(raw, float) and not raw.is_integer():
                    continue
                return option(raw)
            return raw
        except (TypeError, ValueError):
            continue
    wanted = " or ".join(getattr(option, "__name__", str(option)) for option in options)
    raise ColearnValueError(f"strategy {strategy!r}: parameter {key!r} must be {wanted}, got {raw!r}")


def parse_params(items: list[str] | None) -> dict[str, str]:
    """``["trim=0.2", "f=2"]`` (from ``--strategy-param``) as a dict; malformed items are errors."""
    params: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ColearnValueError(f"--strategy-param takes KEY=VALUE, got {item!r}")
        params[key.strip()] = value.strip()
    return params


def check_positive(value: float, what: str) -> None:
    """Refuse a setting that must be a positive finite number (a temperature, a rate)."""
    if not (math.isfinite(value) and value > 0):
        raise ColearnValueError(f"{what} must be a positive number, got {value}")
