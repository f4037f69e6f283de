"""Checks a run's inputs against the Start node's variables (Dify's user-input rules)."""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.errors import RunInputError

TEXT_TYPES = frozenset({"text-input", "paragraph", "select", "string"})
SHAPES: dict[str, tuple[type, str]] = {
    "json_object": (dict, "a JSON object"),
    "file": (dict, "a file"),
    "file-list": (list, "a list of files"),
}


def _coerce(name: str, kind: str, value: Any, var: dict[str, Any]) -> Any:
    if kind in TEXT_TYPES:
        if not isinstance(value, str):
            raise RunInputError(f"{name} in input form must be a string")
        max_length = var.get("max_length")
        if kind != "select" and isinstance(max_length, int) and 0 < max_length < len(value):
            raise RunInputError(f"{name} in input form must be less than {max_length} characters")
        options: list[Any] = var.get("options") or []
        if kind == "select" and options and value not in options:
            raise RunInputError(f"{name} in input form must be one of the following: {options}")
        return value
    if kind == "number":
        if isinstance(value, bool):
            raise RunInputError(f"{name} in input form must be a valid number")
        if isinstance(value, int | float):
            return value
        try:
            number = float(str(value))
        except ValueError:
            raise RunInputError(f"{name} in input form must be a valid number") from None
        return int(number) if number.is_integer() and "." not in str(value) else number
    if kind == "checkbox":
        if not isinstance(value, bool):
            raise RunInputError(f"{name} in input form must be a boolean")
        return value
    shape = SHAPES.get(kind)
    if shape is not None and not isinstance(value, shape[0]):
        raise RunInputError(f"{name} in input form must be {shape[1]}")
    return value


def validate_start_inputs(
    variables: list[dict[str, Any]], inputs: dict[str, Any]
) -> dict[str, Any]:
    """The Start node's outputs for ``inputs``; raises RunInputError naming the variable."""
    result: dict[str, Any] = {}
    for var in variables:
        name = str(var.get("variable", ""))
        kind = str(var.get("type", "text-input"))
        value = inputs.get(name)
        if value is None or (value == "" and kind not in TEXT_TYPES):
            if var.get("required"):
                raise RunInputError(f"{name} is required in input form")
            default = var.get("default")
            if default is not None and default != "":
                result[name] = default
            elif name in inputs:
                result[name] = value
            continue
        result[name] = _coerce(name, kind, value, var)
    # Inputs the form does not declare are passed through (Dify keeps them in the pool).
    for name, value in inputs.items():
        result.setdefault(name, value)
    return result
