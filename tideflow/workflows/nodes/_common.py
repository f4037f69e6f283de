"""Small helpers shared by node modules: reading config and naming problems."""

from __future__ import annotations

from typing import Any, TypeGuard

from tideflow.workflows.nodes.spec import ConfigProblems


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a dict, else an empty one."""
    return value if isinstance(value, dict) else {}  # pyright: ignore[reportUnknownVariableType]


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a list, else an empty one."""
    return value if isinstance(value, list) else []  # pyright: ignore[reportUnknownVariableType]


def is_selector(value: Any) -> TypeGuard[list[str]]:
    """A selector is a list of at least two strings."""
    return isinstance(value, list) and len(value) >= 2 and all(isinstance(p, str) for p in value)  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]


def require(data: dict[str, Any], *fields: str) -> ConfigProblems:
    """A problem for each field that is missing or empty."""
    return [(f, f"{f} is required") for f in fields if data.get(f) in (None, "", [], {})]


def require_selector(data: dict[str, Any], field: str) -> ConfigProblems:
    """A problem when ``field`` is not a variable selector."""
    return [] if is_selector(data.get(field)) else [(field, f"{field} must be a variable selector")]


def mapped_variables(data: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """``variables: [{variable, value_selector}]`` as (name, selector) pairs."""
    pairs: list[tuple[str, list[str]]] = []
    for item in as_list(data.get("variables")):
        entry = as_dict(item)
        selector = entry.get("value_selector")
        if entry.get("variable") and is_selector(selector):
            pairs.append((str(entry["variable"]), selector))
    return pairs


def check_mapped_variables(data: dict[str, Any]) -> ConfigProblems:
    """Problems in a ``variables`` mapping list."""
    problems: ConfigProblems = []
    for i, item in enumerate(as_list(data.get("variables"))):
        entry = as_dict(item)
        if not entry.get("variable"):
            problems.append((f"variables[{i}].variable", "variable name is required"))
        if not is_selector(entry.get("value_selector")):
            problems.append((f"variables[{i}].value_selector", "must be a variable selector"))
    return problems
