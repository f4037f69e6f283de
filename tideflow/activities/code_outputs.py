"""Dify's checks on what a code node's ``main()`` returned, against the declared outputs.

Follows graphon's ``CodeNode._transform_result``: every declared output must be present and
of its type; undeclared outputs are an error; ``None`` is accepted for any declared output and
inside string, object and boolean arrays (not number arrays); booleans declared as numbers
become 0/1; objects without ``children`` are checked loosely (strings, numbers, same-typed
arrays, depth). Where graphon is lax we are strict: a ``boolean`` output must be a bool,
number-array items get the range/precision check, and NaN is refused. NUL bytes are stripped
from every string, typed or not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

from pydantic import BaseModel

MAX_STRING_LENGTH = 400_000
MAX_NUMBER = 2**63 - 1
MIN_NUMBER = -(2**63)
MAX_PRECISION = 20
MAX_DEPTH = 5
MAX_STRING_ARRAY_LENGTH = 30
MAX_OBJECT_ARRAY_LENGTH = 30
MAX_NUMBER_ARRAY_LENGTH = 1000

OUTPUT_TYPES = frozenset(
    {
        "string",
        "number",
        "object",
        "boolean",
        "array[string]",
        "array[number]",
        "array[object]",
        "array[boolean]",
    }
)


class CodeOutputSpec(BaseModel):
    """One declared output: its Dify type and, for objects, the schema of its keys."""

    type: str
    children: dict[str, CodeOutputSpec] | None = None


class OutputCheckError(Exception):
    """An output broke the declared schema or a limit; ``error_type`` is Dify's class name."""

    def __init__(self, message: str, error_type: str = "OutputValidationError") -> None:
        super().__init__(message)
        self.error_type = error_type


def declared_type_problems(schema: dict[str, CodeOutputSpec], prefix: str = "") -> list[str]:
    """Each declared output whose type a code node cannot produce, as ``path: type``."""
    problems: list[str] = []
    for name, spec in schema.items():
        path = f"{prefix}{name}"
        if spec.type not in OUTPUT_TYPES:
            problems.append(f"{path}: {spec.type}")
        if spec.children:
            problems.extend(declared_type_problems(spec.children, f"{path}."))
    return problems


def check_outputs(result: dict[str, Any], schema: dict[str, CodeOutputSpec]) -> dict[str, Any]:
    """Validate ``main()``'s result against the declared outputs and return the cleaned values."""
    return _check_object(result, schema, "", 1)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _check_object(
    value: dict[str, Any], schema: dict[str, CodeOutputSpec] | None, path: str, depth: int
) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise OutputCheckError(f"Output `{path}` is nested deeper than {MAX_DEPTH} levels.")
    if schema is None:
        return {key: _check_untyped(item, _join(path, key), depth) for key, item in value.items()}
    checked: dict[str, Any] = {}
    for name, spec in schema.items():
        if name not in value:
            raise OutputCheckError(f"Output `{_join(path, name)}` is missing.")
        checked[name] = _check_declared(value[name], spec, _join(path, name), depth)
    extra = [_join(path, key) for key in value if key not in schema]
    if extra:
        # graphon reports undeclared outputs as a CodeNodeError, not a validation error.
        names = ", ".join(f"`{name}`" for name in extra)
        raise OutputCheckError(
            f"Output {names} not declared in the node's outputs.", "CodeNodeError"
        )
    return checked


def _check_string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise OutputCheckError(f"Output `{path}` must be a string, got {_type_name(value)}.")
    if len(value) > MAX_STRING_LENGTH:
        raise OutputCheckError(
            f"Output `{path}` is longer than {MAX_STRING_LENGTH} characters ({len(value)})."
        )
    return value.replace("\x00", "")


def _check_number(value: object, path: str) -> int | float:
    if not isinstance(value, int | float):
        raise OutputCheckError(f"Output `{path}` must be a number, got {_type_name(value)}.")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and math.isnan(value):
        raise OutputCheckError(f"Output `{path}` is NaN, which is not a number Dify accepts.")
    if not MIN_NUMBER <= value <= MAX_NUMBER:
        raise OutputCheckError(
            f"Output `{path}` is out of range, it must be between {MIN_NUMBER} and {MAX_NUMBER}."
        )
    if isinstance(value, float):
        exponent = Decimal(str(value)).normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > MAX_PRECISION:
            raise OutputCheckError(f"Output `{path}` has more than {MAX_PRECISION} decimal places.")
    return value


def _check_boolean(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise OutputCheckError(f"Output `{path}` must be a boolean, got {_type_name(value)}.")
    return value


def _as_list(value: object, path: str, limit: int | None) -> list[Any]:
    if not isinstance(value, list):
        raise OutputCheckError(f"Output `{path}` must be an array, got {_type_name(value)}.")
    items = cast(list[Any], value)
    if limit is not None and len(items) > limit:
        raise OutputCheckError(
            f"Output `{path}` has {len(items)} elements; at most {limit} are allowed."
        )
    return items


def _nullable(check: Callable[[object, str], Any]) -> Callable[[object, str], Any]:
    return lambda value, path: None if value is None else check(value, path)


def _check_declared(value: object, spec: CodeOutputSpec, path: str, depth: int) -> Any:
    if value is None:
        return None  # graphon accepts None for every declared output type
    kind = spec.type
    if kind == "object":
        if not isinstance(value, dict):
            raise OutputCheckError(f"Output `{path}` must be an object, got {_type_name(value)}.")
        return _check_object(cast(dict[str, Any], value), spec.children, path, depth + 1)
    if kind == "array[object]":
        items = _as_list(value, path, MAX_OBJECT_ARRAY_LENGTH)
        return [
            _check_declared(
                item,
                CodeOutputSpec(type="object", children=spec.children),
                f"{path}[{index}]",
                depth,
            )
            for index, item in enumerate(items)
        ]
    scalar, element, limit = _DECLARED[kind]
    if scalar is not None:
        return scalar(value, path)
    assert element is not None
    items = _as_list(value, path, limit)
    return [element(item, f"{path}[{index}]") for index, item in enumerate(items)]


# type -> (scalar check, element check, array length limit)
_DECLARED: dict[
    str, tuple[Callable[[object, str], Any] | None, Callable[[object, str], Any] | None, int | None]
] = {
    "string": (_check_string, None, None),
    "number": (_check_number, None, None),
    "boolean": (_check_boolean, None, None),
    "array[string]": (None, _nullable(_check_string), MAX_STRING_ARRAY_LENGTH),
    "array[number]": (None, _check_number, MAX_NUMBER_ARRAY_LENGTH),
    "array[boolean]": (None, _nullable(_check_boolean), None),
}


def _check_untyped(value: object, path: str, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _check_number(value, path)
    if isinstance(value, str):
        return _check_string(value, path)
    if isinstance(value, dict):
        return _check_object(cast(dict[str, Any], value), None, path, depth + 1)
    if isinstance(value, list):
        return _check_untyped_list(cast(list[Any], value), path, depth)
    raise OutputCheckError(f"Output `{path}` has an unsupported type {_type_name(value)}.")


def _check_untyped_list(items: list[Any], path: str, depth: int) -> list[Any]:
    if depth > MAX_DEPTH:
        raise OutputCheckError(f"Output `{path}` is nested deeper than {MAX_DEPTH} levels.")
    kinds = {_untyped_kind(item) for item in items if item is not None}
    if len(kinds) > 1:
        raise OutputCheckError(
            f"Output `{path}` is not a valid array: all elements must be of the same type."
        )
    # Objects add their own level; an array directly inside an array adds one here.
    inner = depth + 1 if kinds == {"array"} else depth
    return [_check_untyped(item, f"{path}[{index}]", inner) for index, item in enumerate(items)]


def _untyped_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return _type_name(value)
