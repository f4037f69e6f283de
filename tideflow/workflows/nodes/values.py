"""Dify value types: parsing declared constants and zero values."""

from __future__ import annotations

import json
from typing import Any


def parse_number(value: Any) -> int | float:
    """A number from a number or numeric string (ints stay ints)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    text = str(value).strip()
    number = float(text)
    return int(number) if number.is_integer() and not any(c in text for c in ".eE") else number


def parse_bool(value: Any) -> bool:
    """JSON-style truth: ``"true"``, ``1``, ``True``."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def parse_typed(value: Any, value_type: str | None) -> Any:
    """A constant (often a string from the editor) converted to its declared Dify type."""
    if value is None or value_type is None:
        return value
    try:
        if value_type in ("number", "integer", "float"):
            return parse_number(value) if value != "" else None
        if value_type == "boolean":
            return parse_bool(value)
        if (value_type == "object" or value_type.startswith("array")) and isinstance(value, str):
            return json.loads(value) if value.strip() else zero_value(value_type)
    except ValueError:
        return value
    return value


def zero_value(value_type: str | None, current: Any = None) -> Any:
    """The value ``clear`` sets: by declared type, else by the current value's kind."""
    kind = value_type or _kind_of(current)
    if kind.startswith("array"):
        return []
    zeros: dict[str, Any] = {
        "object": {},
        "number": 0,
        "integer": 0,
        "float": 0.0,
        "boolean": False,
    }
    return zeros.get(kind, "")


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"
