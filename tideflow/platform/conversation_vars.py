"""A chatflow's conversation variables as the service API shows them: their definitions (id,
name, type, initial value, description) from the published DSL, and the type check a new
value must pass."""

from __future__ import annotations

from typing import Any

from tideflow.platform.api.errors import invalid_param
from tideflow.platform.db.models import AppVersion
from tideflow.platform.drafts import parse_dsl

_SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "secret": (str,),
    "number": (int, float),
    "integer": (int,),
    "float": (int, float),
    "boolean": (bool,),
    "object": (dict,),
}


def definitions(version: AppVersion | None) -> list[dict[str, Any]]:
    """The conversation variables the published version declares."""
    if version is None or not version.dsl:
        return []
    return [dict(v) for v in parse_dsl(version.dsl).conversation_variables]


def _fits(value: Any, value_type: str) -> bool:
    if value_type == "any":
        return True
    if value_type.startswith("array[") and value_type.endswith("]"):
        if not isinstance(value, list):
            return False
        item_type = value_type[6:-1]
        return item_type == "any" or all(_fits(v, item_type) for v in value)  # pyright: ignore[reportUnknownVariableType]
    kinds = _SCALARS.get(value_type)
    if kinds is None:
        return True  # a type this check does not know (file...) is left to the run
    if bool not in kinds and isinstance(value, bool):
        return False  # True is an int to Python, not a number to Dify
    return isinstance(value, kinds)


def check_value(definition: dict[str, Any], value: Any) -> None:
    """400 naming the variable when ``value`` does not fit its declared type."""
    value_type = str(definition.get("value_type") or "string")
    if not _fits(value, value_type):
        name = definition.get("name")
        got = type(value).__name__ if value is not None else "null"
        raise invalid_param(f"value: variable {name!r} is of type {value_type}, not {got}")
