"""Dify's condition language (if-else cases, loop break conditions, list-operator filters)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.engine.pool import VariablePool
from tideflow.workflows.engine.template import render_template
from tideflow.workflows.nodes._common import as_dict, as_list
from tideflow.workflows.nodes.values import parse_bool, parse_number

FILE_ATTRIBUTES = ("type", "size", "name", "mime_type", "transfer_method", "url", "extension")
# Operators that are meaningful on a variable that does not exist.
MISSING_OK = frozenset({"empty", "not empty", "null", "not null", "exists", "not exists"})
ALIASES = {"==": "=", "!=": "≠", ">=": "≥", "<=": "≤", "is empty": "empty"}


def _number(value: Any) -> float | None:
    try:
        return float(parse_number(value))
    except (TypeError, ValueError):
        return None


def _compare_numbers(op: str, actual: Any, expected: Any) -> bool:
    left, right = _number(actual), _number(expected)
    if left is None or right is None:
        return False
    checks: dict[str, Callable[[float, float], bool]] = {
        "=": lambda a, b: a == b,
        "≠": lambda a, b: a != b,
        ">": lambda a, b: a > b,
        "<": lambda a, b: a < b,
        "≥": lambda a, b: a >= b,
        "≤": lambda a, b: a <= b,
    }
    return checks[op](left, right)


def _contains(actual: Any, expected: Any) -> bool:
    if not actual:
        return False
    if isinstance(actual, str):
        return str(expected) in actual
    if isinstance(actual, list | tuple | dict):
        members: list[Any] = [*cast(Iterable[Any], actual)]
        return expected in members or str(expected) in [str(a) for a in members]
    return False


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool):
        return actual == parse_bool(expected)
    return str(actual) == str(expected) if isinstance(actual, str | int | float) else False


def _as_list(expected: Any) -> list[Any]:
    if isinstance(expected, list):
        return expected  # pyright: ignore[reportUnknownVariableType]
    if expected is None or expected == "":
        return []
    return [expected]


def compare(operator: str, actual: Any, expected: Any) -> bool:
    """One comparison with Dify's rules for None and types."""
    op = ALIASES.get(operator, operator)
    if op in ("=", "≠", ">", "<", "≥", "≤"):
        return _compare_numbers(op, actual, expected)
    simple: dict[str, Callable[[], bool]] = {
        "contains": lambda: _contains(actual, expected),
        "not contains": lambda: not _contains(actual, expected),
        "start with": lambda: isinstance(actual, str) and actual.startswith(str(expected)),
        "end with": lambda: isinstance(actual, str) and actual.endswith(str(expected)),
        "is": lambda: actual is not None and _same(actual, expected),
        "is not": lambda: actual is not None and not _same(actual, expected),
        "empty": lambda: not actual,
        "not empty": lambda: bool(actual),
        "null": lambda: actual is None,
        "not null": lambda: actual is not None,
        "exists": lambda: actual is not None,
        "not exists": lambda: actual is None,
        "in": lambda: actual in _as_list(expected),
        "not in": lambda: actual not in _as_list(expected),
        "all of": lambda: bool(actual) and all(_contains(actual, e) for e in _as_list(expected)),
    }
    check = simple.get(op)
    if check is None:
        raise NodeError(f"Unsupported comparison operator: {operator}", "InvalidConditionError")
    return check()


def _file_attribute(file: dict[str, Any], key: str) -> Any:
    value = file.get(key)
    if key == "name":
        value = file.get("filename", value)
    elif key == "url":
        value = file.get("remote_url", value)
    elif key == "extension" and isinstance(value, str) and value and not value.startswith("."):
        value = "." + value
    return value


def _match_files(files: list[Any], sub: dict[str, Any], render: Callable[[str], str]) -> bool:
    results: list[bool] = []
    for raw in as_list(sub.get("conditions")):
        cond = as_dict(raw)
        key, op = str(cond.get("key", "")), str(cond.get("comparison_operator", ""))
        expected = cond.get("value")
        if isinstance(expected, str):
            expected = render(expected)
        if key == "extension" and isinstance(expected, str) and expected[:1] not in ("", "."):
            expected = "." + expected
        hits = [compare(op, _file_attribute(as_dict(f), key), expected) for f in files]
        results.append(all(hits) if "not" in op else any(hits))
    if not results:
        return True
    return all(results) if sub.get("logical_operator", "and") == "and" else any(results)


def evaluate_condition(condition: dict[str, Any], pool: VariablePool) -> tuple[bool, Any, Any]:
    """(result, actual value, expected value) of one condition."""
    selector: Sequence[str] = as_list(condition.get("variable_selector"))
    op = str(condition.get("comparison_operator", ""))
    found, value = pool.find(selector)
    actual: Any = value
    if not found and op not in MISSING_OK:
        raise NodeError(f"Variable {'.'.join(selector)} not found", "VariableNotFoundError")
    expected = condition.get("value")
    if isinstance(expected, str):
        expected = render_template(expected, pool)
    if isinstance(actual, bool) and expected is not None and op in ("is", "is not"):
        expected = parse_bool(expected)
    sub = as_dict(condition.get("sub_variable_condition"))
    if sub and isinstance(actual, list) and op in ("contains", "not contains", "all of"):
        matched = _match_files(as_list(actual), sub, lambda t: render_template(t, pool))
        return (not matched if op == "not contains" else matched), value, expected
    return compare(op, actual, expected), value, expected


def evaluate_group(
    conditions: list[dict[str, Any]], logical_operator: str, pool: VariablePool
) -> tuple[bool, list[bool], list[dict[str, Any]]]:
    """Conditions joined by and/or, stopping early like Dify: (final, results, inputs)."""
    results: list[bool] = []
    inputs: list[dict[str, Any]] = []
    is_and = logical_operator != "or"
    for condition in conditions:
        ok, actual, expected = evaluate_condition(condition, pool)
        results.append(ok)
        inputs.append(
            {
                "actual_value": actual,
                "expected_value": expected,
                "comparison_operator": condition.get("comparison_operator"),
            }
        )
        if ok != is_and:
            break
    final = all(results) if is_and else any(results)
    return (final if conditions else is_and), results, inputs
