"""The parameter extractor's parameters: their types, their JSON schema, and how a model's
answer becomes their values (checked and converted, with defaults for what is missing)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tideflow.workflows.engine.template import value_text
from tideflow.workflows.nodes._common import as_dict, as_list
from tideflow.workflows.nodes._llm_common import loose_json, short

ELEMENT_TYPES = ("string", "number", "object", "boolean")
# Legacy names: ``bool`` is a boolean, ``select`` a string limited to ``options``.
LEGACY_TYPES = {"bool": "boolean", "select": "string"}
TYPES = frozenset({"string", "number", "boolean", *(f"array[{t}]" for t in ELEMENT_TYPES)})


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One parameter to extract (legacy types mapped to current ones)."""

    name: str
    type: str
    description: str = ""
    required: bool = False
    options: tuple[str, ...] = ()


def parameters(data: dict[str, Any]) -> list[Parameter]:
    """The node's parameters."""
    found: list[Parameter] = []
    for item in as_list(data.get("parameters")):
        entry = as_dict(item)
        kind = str(entry.get("type") or "string")
        found.append(
            Parameter(
                name=str(entry.get("name") or ""),
                type=LEGACY_TYPES.get(kind, kind),
                description=str(entry.get("description") or ""),
                required=bool(entry.get("required")),
                options=tuple(str(o) for o in as_list(entry.get("options"))),
            )
        )
    return found


def default(kind: str) -> Any:
    """A parameter's value when none was extracted."""
    if kind.startswith("array"):
        return []
    return {"number": 0, "boolean": False}.get(kind, "")


def json_schema(params: list[Parameter]) -> dict[str, Any]:
    """The parameters as a JSON schema object (the tool's, and the one the prompt shows)."""
    properties: dict[str, Any] = {}
    for param in params:
        schema: dict[str, Any] = {"description": param.description}
        if param.type.startswith("array["):
            schema.update(type="array", items={"type": param.type[6:-1]})
        else:
            schema["type"] = param.type
        if param.options:
            schema["enum"] = list(param.options)
        properties[param.name] = schema
    required = [p.name for p in params if p.required]
    return {"type": "object", "properties": properties, "required": required}


Convert = Callable[[Any], tuple[bool, Any]]


def _to_string(value: Any) -> tuple[bool, Any]:
    if isinstance(value, dict | list):
        return False, None
    return True, value_text(value)


def _to_number(value: Any) -> tuple[bool, Any]:
    if isinstance(value, bool):
        return True, int(value)
    if isinstance(value, int | float):
        return True, value
    if isinstance(value, str):
        text = value.strip()
        for kind in (int, float):
            try:
                return True, kind(text)
            except ValueError:
                continue
    return False, None


_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


def _to_boolean(value: Any) -> tuple[bool, Any]:
    if isinstance(value, bool | int):
        return True, bool(value)
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text in _TRUE or text in _FALSE:
        return True, text in _TRUE
    return False, None


def _to_object(value: Any) -> tuple[bool, Any]:
    return isinstance(value, dict), value


CONVERTERS: dict[str, Convert] = {
    "string": _to_string,
    "number": _to_number,
    "boolean": _to_boolean,
    "object": _to_object,
}


def convert(param: Parameter, value: Any) -> tuple[Any, str | None]:
    """(the value as the parameter's type, or its default; the problem, None when fine).

    Array items that do not convert are dropped, as in Dify.
    """
    if param.type.startswith("array["):
        items = loose_json(value) if isinstance(value, str) else value
        if not isinstance(items, list):
            return [], f"{param.name}: expected an array, got {short(value)!r}"
        to_item = CONVERTERS[param.type[6:-1]]
        return [v for ok, v in (to_item(i) for i in as_list(items)) if ok], None
    ok, converted = CONVERTERS[param.type](value)
    if not ok:
        return default(param.type), f"{param.name}: expected a {param.type}, got {short(value)!r}"
    if param.options and converted not in param.options:
        options = ", ".join(param.options)
        return default(param.type), f"{param.name}: {converted!r} is not one of {options}"
    return converted, None


def read_values(params: list[Parameter], found: Any) -> tuple[dict[str, Any], list[str]]:
    """The parameters' values from the model's answer, and what was wrong with it."""
    if not isinstance(found, dict):
        defaults = {p.name: default(p.type) for p in params}
        return defaults, ["no parameters could be read from the model's answer"]
    answer = as_dict(found)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for param in params:
        raw = answer.get(param.name)
        if raw is None:
            values[param.name] = default(param.type)
            if param.required:
                problems.append(f"{param.name}: required but not extracted")
            continue
        values[param.name], problem = convert(param, raw)
        if problem:
            problems.append(problem)
    return values, problems
