"""The ``langgenius/json_process`` plugin's tools: parse, insert, replace and delete by JSONPath.

Same parameters and text output as the Dify plugin; where the plugin answers a bad input with
an error string as its result, these raise ToolError (the node fails, its error strategy
applies) so that a broken document is not passed on as if it were data.
"""

from __future__ import annotations

import json
from typing import Any, cast

from tideflow.plugins.tools.base import (
    FunctionTool,
    ToolContext,
    ToolError,
    ToolParameter,
    ToolResult,
)
from tideflow.plugins.tools.jsonpath import Match, create_path, find, parse_path, set_value

_CONTENT = ToolParameter("content", "string", required=True, description="JSON data")
_QUERY = ToolParameter("query", "string", required=True, description="JSONPath query")
_ENSURE_ASCII = ToolParameter("ensure_ascii", "boolean", form="form", default=True)
_VALUE_DECODE = ToolParameter("value_decode", "boolean", form="form", default=False)


def _load(params: dict[str, Any]) -> Any:
    try:
        return json.loads(params["content"])
    except ValueError as exc:
        raise ToolError(f"parameter 'content' is not valid JSON: {exc}") from None


def _decoded(text: str, decode: bool, name: str) -> Any:
    if not decode:
        return text
    try:
        return json.loads(text)
    except ValueError:
        raise ToolError(f"Cannot decode {name} to a JSON value: {text[:80]!r}") from None


def _dump(data: Any, params: dict[str, Any]) -> ToolResult:
    return ToolResult(text=json.dumps(data, ensure_ascii=params["ensure_ascii"]))


async def _parse(params: dict[str, Any], _context: ToolContext) -> ToolResult:
    data = _load(params)
    values = [match.value for match in find(data, parse_path(params["json_filter"]))]
    if not values:
        return ToolResult(text="")
    result: Any = values[0] if len(values) == 1 else values
    if isinstance(result, dict | list):
        return ToolResult(text=json.dumps(result, ensure_ascii=params["ensure_ascii"]))
    return ToolResult(text=str(result))


async def _insert(params: dict[str, Any], _context: ToolContext) -> ToolResult:
    data = _load(params)
    steps = parse_path(params["query"])
    new_value = _decoded(params["new_value"], params["value_decode"], "new_value")
    matches = find(data, steps)
    if not matches and params["create_path"]:
        return _dump(create_path(data, steps, new_value), params)
    for match in matches:
        target: Any = match.value
        if isinstance(target, dict):
            if not isinstance(new_value, dict):
                raise ToolError("Cannot insert a non-object value into an object")
            cast(dict[str, Any], target).update(cast(dict[str, Any], new_value))
        elif isinstance(target, list):
            items = cast(list[Any], target)
            index = params.get("index")
            if index is None:
                items.append(new_value)
            else:
                items.insert(int(index), new_value)
        else:
            data = set_value(data, match, new_value)
    return _dump(data, params)


def _rename_key(match: Match, new_key: str) -> None:
    if isinstance(match.parent, dict) and isinstance(match.key, str):
        match.parent[new_key] = match.parent.pop(match.key)


async def _replace(params: dict[str, Any], _context: ToolContext) -> ToolResult:
    data = _load(params)
    matches = find(data, parse_path(params["query"]))
    model, new = params["replace_model"], params["replace_value"]
    if model == "key":
        for match in matches:
            _rename_key(match, new)
        return _dump(data, params)
    if model == "value":
        value = _decoded(new, params["value_decode"], "replace_value")
        for match in matches:
            data = set_value(data, match, value)
        return _dump(data, params)
    pattern = params.get("replace_pattern")
    if not pattern:
        raise ToolError("parameter 'replace_pattern' is required when replace_model is pattern")
    for match in matches:
        if not isinstance(match.value, str):
            raise ToolError(f"replace_model pattern needs string values, found {match.value!r}")
        replaced = match.value.replace(pattern, new)
        data = set_value(data, match, _decoded(replaced, params["value_decode"], "the result"))
    return _dump(data, params)


def _list_index(match: Match) -> int:
    return match.key if isinstance(match.key, int) else 0


async def _delete(params: dict[str, Any], _context: ToolContext) -> ToolResult:
    data = _load(params)
    matches = find(data, parse_path(params["query"]))
    if any(match.parent is None for match in matches):
        raise ToolError("json_delete cannot delete the whole document ($)")
    # List items last-first, so earlier deletions do not shift the later indexes.
    for match in sorted(matches, key=_list_index, reverse=True):
        parent = match.parent
        if isinstance(parent, dict):
            parent.pop(str(match.key), None)
        elif isinstance(parent, list) and isinstance(match.key, int) and match.key < len(parent):
            del parent[match.key]
    return _dump(data, params)


JSON_PARSE = FunctionTool(
    "parse",
    "JSON Parse",
    "A tool for extracting JSON objects",
    [
        _CONTENT,
        ToolParameter("json_filter", "string", required=True, description="JSONPath to read"),
        _ENSURE_ASCII,
    ],
    _parse,
)
JSON_INSERT = FunctionTool(
    "json_insert",
    "JSON Insert",
    "A tool for inserting JSON content",
    [
        _CONTENT,
        _QUERY,
        ToolParameter("new_value", "string", required=True),
        ToolParameter("index", "number"),
        _VALUE_DECODE,
        ToolParameter("create_path", "boolean", form="form", default=False),
        _ENSURE_ASCII,
    ],
    _insert,
)
JSON_REPLACE = FunctionTool(
    "json_replace",
    "JSON Replace",
    "A tool for replacing JSON content",
    [
        _CONTENT,
        _QUERY,
        ToolParameter("replace_pattern", "string", description="string to be replaced"),
        ToolParameter("replace_value", "string", required=True),
        _VALUE_DECODE,
        ToolParameter(
            "replace_model",
            "select",
            required=True,
            form="form",
            options=("key", "value", "pattern"),
            default="pattern",
        ),
        _ENSURE_ASCII,
    ],
    _replace,
)
JSON_DELETE = FunctionTool(
    "json_delete",
    "JSON Delete",
    "A tool for deleting JSON content",
    [_CONTENT, _QUERY, _ENSURE_ASCII],
    _delete,
)

# By name, plus the names older Dify versions of the provider used.
JSON_TOOLS = {
    "parse": JSON_PARSE,
    "json_parse": JSON_PARSE,
    "json_insert": JSON_INSERT,
    "insert": JSON_INSERT,
    "json_replace": JSON_REPLACE,
    "replace": JSON_REPLACE,
    "json_delete": JSON_DELETE,
    "delete": JSON_DELETE,
}
