"""Dify's metadata filtering conditions, evaluated on a document's metadata values.

``{logical_operator: and|or, conditions: [{name, comparison_operator, value}]}``; operators as
Dify names them: string ``contains, not contains, start with, end with, is, is not, empty,
not empty, in, not in``; number ``=, ≠, >, <, ≥, ≤`` (ASCII ``!=, >=, <=`` too); time
``before, after`` (unix seconds). A condition on a field the document lacks fails, except
``empty``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


class MetadataFilterError(ValueError):
    """A condition that cannot be evaluated (unknown operator, value of the wrong type)."""


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise MetadataFilterError(f"{where}: expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise MetadataFilterError(f"{where}: expected a number, got {value!r}") from None
    if number != number:  # NaN compares false with everything
        raise MetadataFilterError(f"{where}: expected a number, got {value!r}")
    return number


def _texts(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(item) for item in value]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    return [part.strip() for part in str(value).split(",")]


_STRING_OPS: dict[str, Callable[[str, Any], bool]] = {
    "contains": lambda have, want: str(want) in have,
    "not contains": lambda have, want: str(want) not in have,
    "start with": lambda have, want: have.startswith(str(want)),
    "end with": lambda have, want: have.endswith(str(want)),
    "is": lambda have, want: have == str(want),
    "is not": lambda have, want: have != str(want),
    "in": lambda have, want: have in _texts(want),
    "not in": lambda have, want: have not in _texts(want),
}
_NUMBER_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "≠": lambda a, b: a != b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "≥": lambda a, b: a >= b,
    ">=": lambda a, b: a >= b,
    "≤": lambda a, b: a <= b,
    "<=": lambda a, b: a <= b,
    "before": lambda a, b: a < b,
    "after": lambda a, b: a > b,
}


def check_conditions(conditions: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The conditions list, each checked for a name and a known operator."""
    if not conditions:
        return []
    items: Any = conditions.get("conditions") or []
    if not isinstance(items, list):
        raise MetadataFilterError("metadata_filtering_conditions.conditions: expected a list")
    checked: list[dict[str, Any]] = []
    for index, raw in enumerate(items):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        where = f"metadata_filtering_conditions.conditions[{index}]"
        condition: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}  # pyright: ignore[reportUnknownArgumentType]
        if not condition.get("name"):
            raise MetadataFilterError(f"{where}.name: required")
        operator = str(condition.get("comparison_operator") or "")
        if (
            operator not in _STRING_OPS
            and operator not in _NUMBER_OPS
            and operator
            not in (
                "empty",
                "not empty",
            )
        ):
            raise MetadataFilterError(f"{where}.comparison_operator: unknown {operator!r}")
        if operator in _NUMBER_OPS:
            _number(condition.get("value"), f"{where}.value")
        elif operator in _STRING_OPS and condition.get("value") is None:
            raise MetadataFilterError(f"{where}.value: required by {operator!r}")
        checked.append(condition)
    return checked


def matches(
    values: Mapping[str, Any], conditions: Sequence[Mapping[str, Any]], logical_operator: str
) -> bool:
    """Whether a document's metadata ``values`` pass the conditions (all, or any for ``or``)."""
    if not conditions:
        return True
    results = (_holds(values, condition, index) for index, condition in enumerate(conditions))
    return any(results) if logical_operator == "or" else all(results)


def _holds(values: Mapping[str, Any], condition: Mapping[str, Any], index: int) -> bool:
    name = str(condition["name"])
    operator = str(condition.get("comparison_operator"))
    have = values.get(name)
    missing = have is None or have == ""
    if operator == "empty":
        return missing
    if operator == "not empty":
        return not missing
    if missing:
        return False
    want = condition.get("value")
    if operator in _STRING_OPS:
        return _STRING_OPS[operator](str(have), want)
    where = f"metadata_filtering_conditions.conditions[{index}].value"
    try:
        have_number = _number(have, name)
    except MetadataFilterError:
        return False  # a stored value of another type never matches a numeric condition
    return _NUMBER_OPS[operator](have_number, _number(want, where))
