"""How an MCP tool's JSON schema and results look to Tideflow: schema properties as
ToolParameters, a ``CallToolResult`` as a ToolResult (the way Dify's MCPTool maps them)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

import mcp_types as types

from tideflow.plugins.tools.base import ToolParameter, ToolResult

_PARAMETER_TYPES = {
    "string": "string",
    "number": "number",
    "integer": "number",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}


def parameters_of(schema: Mapping[str, Any]) -> tuple[ToolParameter, ...]:
    """The ToolParameters of a JSON schema's ``properties``: string, number (and integer),
    boolean, array and object keep their type (anything else is a string), an ``enum`` of
    strings is a select, ``required``, ``description`` and ``default`` carry over."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return ()
    required = schema.get("required")
    required_names = set(cast(list[Any], required)) if isinstance(required, list) else set[Any]()
    parameters: list[ToolParameter] = []
    for name, value in cast(Mapping[str, Any], properties).items():
        prop: Mapping[str, Any] = (
            cast(Mapping[str, Any], value) if isinstance(value, Mapping) else {}
        )
        enum = prop.get("enum")
        options: tuple[str, ...] = ()
        if (
            isinstance(enum, list)
            and enum
            and all(isinstance(v, str) for v in cast(list[Any], enum))
        ):
            options = tuple(cast(list[str], enum))
        kind = "select" if options else _PARAMETER_TYPES.get(_json_type(prop), "string")
        parameters.append(
            ToolParameter(
                name=name,
                type=kind,
                required=name in required_names,
                description=str(prop.get("description") or prop.get("title") or ""),
                options=options,
                default=prop.get("default"),
            )
        )
    return tuple(parameters)


def _json_type(prop: Mapping[str, Any]) -> str:
    """The property's type, ignoring "null" (``["string", "null"]``, pydantic's ``anyOf`` of a
    type and null)."""
    kind = prop.get("type")
    if isinstance(kind, str):
        return kind
    if isinstance(kind, list):
        return next((k for k in cast(list[Any], kind) if k != "null" and isinstance(k, str)), "")
    for key in ("anyOf", "oneOf"):
        variants = prop.get(key)
        if isinstance(variants, list):
            for variant in cast(list[Any], variants):
                if isinstance(variant, Mapping):
                    found = _json_type(cast(Mapping[str, Any], variant))
                    if found and found != "null":
                        return found
    return ""


def tool_result(result: types.CallToolResult) -> ToolResult:
    """A call's result as Dify's MCPTool maps it: text blocks joined by newlines into ``text``;
    a text that is a JSON object (or array of objects) also into ``json``, and so does
    ``structuredContent``. Images, audio and binary resources are not turned into files yet: a
    short note stands in their place."""
    texts: list[str] = []
    entries: list[dict[str, Any]] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            texts.append(block.text)
            entries.extend(_json_entries(block.text))
        elif isinstance(block, types.EmbeddedResource):
            resource = block.resource
            if isinstance(resource, types.TextResourceContents):
                texts.append(resource.text)
            else:
                texts.append(f"[binary resource {resource.uri} ({resource.mime_type}) not shown]")
        elif isinstance(block, types.ImageContent | types.AudioContent):
            texts.append(f"[{block.type} ({block.mime_type}) not shown]")
        else:
            texts.append(f"[resource link {block.uri}]")
    structured = result.structured_content
    if structured is not None:
        entry = (
            cast(dict[str, Any], structured)
            if isinstance(structured, dict)
            else {"result": structured}
        )
        if entry not in entries:
            entries.append(entry)
    return ToolResult(text="\n".join(texts), json=entries)


def _json_entries(text: str) -> list[dict[str, Any]]:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return []
    try:
        value = json.loads(stripped)
    except ValueError:
        return []
    if isinstance(value, dict):
        return [cast(dict[str, Any], value)]
    if isinstance(value, list) and all(isinstance(item, dict) for item in cast(list[Any], value)):
        return cast(list[dict[str, Any]], value)
    return []
