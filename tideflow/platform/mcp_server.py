"""An app published as an MCP server, as Dify publishes one: a stateless JSON-RPC 2.0 endpoint
(streamable HTTP answered with plain JSON) offering the app as ONE tool.

The tool is named after the app (made MCP-safe), described by the server's description (else
the app's), and takes the start node's form as its input schema; chat-like apps add a required
``query``. This module holds the protocol side (reading messages, the tool's shape, checking
arguments, the JSON bodies); ``api/routes/mcp_server.py`` runs the app.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from mcp_types import Tool
from mcp_types.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    JSONRPCNotification,
    JSONRPCRequest,
    RequestId,
)
from pydantic import BaseModel, ValidationError

from tideflow.workflows.graph.plan import CHAT_MODES

PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18")
"""The revisions this server speaks, oldest to newest (Dify's)."""
QUERY_DESCRIPTION = "User Input/Question content"
MAX_BODY_BYTES = 10 * 1024 * 1024
# Form types that travel as JSON tool arguments; files and external data tools do not (Dify
# leaves them out of the schema too).
_JSON_TYPES = {
    "text-input": "string",
    "paragraph": "string",
    "string": "string",
    "select": "string",
    "number": "number",
    "checkbox": "boolean",
    "json_object": "object",
}
_TYPE_NAMES = {"string": "a string", "number": "a number", "boolean": "a boolean"}
_TYPE_NAMES["object"] = "a JSON object"
# Result fields of later protocol revisions (2026-07-28) that this server's revisions lack.
_LATER_FIELDS = ("resultType", "ttlMs", "cacheScope")
M = TypeVar("M", bound=BaseModel)


class McpError(Exception):
    """A JSON-RPC error answer: its code, message and HTTP status (200 unless the request
    itself is unusable)."""

    def __init__(
        self, code: int, message: str, *, status: int = 200, request_id: RequestId | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.request_id = code, message, status, request_id


def invalid_params(message: str) -> McpError:
    """-32602, the message naming the parameter at fault."""
    return McpError(INVALID_PARAMS, message)


def negotiate_version(requested: str) -> str:
    """The client's revision when this server speaks it, else the newest one it does."""
    return requested if requested in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[-1]


def tool_name(app_name: str) -> str:
    """The app's name as an MCP tool name: letters, digits, ``_`` and ``-``, at most 64."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", app_name).strip("_")[:64]
    return name or "app"


def input_schema(
    mode: str, variables: list[dict[str, Any]], descriptions: Mapping[str, Any]
) -> dict[str, Any]:
    """The tool's JSON schema from the start node's form (``descriptions`` by variable name
    override the labels); chat-like modes add a required ``query``."""
    properties: dict[str, dict[str, Any]] = {}
    required: list[str] = []
    if mode in CHAT_MODES:
        properties["query"] = {"type": "string", "description": QUERY_DESCRIPTION}
        required.append("query")
    for var in variables:
        name, kind = str(var.get("variable") or ""), str(var.get("type") or "text-input")
        json_type = _JSON_TYPES.get(kind)
        if not name or json_type is None:
            continue
        described = descriptions.get(name) or var.get("label") or ""
        prop = _property(var, json_type, str(described))
        properties[name] = prop
        if var.get("required") and name not in required:
            required.append(name)
    return {"type": "object", "properties": properties, "required": required}


def _property(var: dict[str, Any], json_type: str, description: str) -> dict[str, Any]:
    """One variable's schema: a select's options as ``enum``, a text's limit as ``maxLength``."""
    prop: dict[str, Any] = {"type": json_type, "description": description}
    if var.get("type") == "select":
        options: list[Any] = list(var.get("options") or [])
        if options:
            prop["enum"] = [str(option) for option in options]
        return prop
    max_length = var.get("max_length")
    if json_type == "string" and isinstance(max_length, int) and max_length > 0:
        prop["maxLength"] = max_length
    return prop


def app_tool(name: str, description: str, schema: dict[str, Any]) -> Tool:
    """The one tool the server lists."""
    return Tool(name=name, description=description, input_schema=schema)


def _fits(json_type: str, value: Any) -> bool:
    if json_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    kinds = {"string": str, "boolean": bool, "object": dict}
    return isinstance(value, kinds[json_type])


def check_arguments(schema: dict[str, Any], arguments: Mapping[str, Any]) -> None:
    """-32602 naming the first argument that is missing or of the wrong type."""
    for name in schema["required"]:
        if arguments.get(name) is None:
            raise invalid_params(f"argument '{name}' is required")
    for name, prop in schema["properties"].items():
        value = arguments.get(name)
        if value is None:
            continue
        if not _fits(prop["type"], value):
            raise invalid_params(f"argument '{name}' must be {_TYPE_NAMES[prop['type']]}")
        if "enum" in prop and value not in prop["enum"]:
            raise invalid_params(f"argument '{name}' must be one of {prop['enum']}")
        if "maxLength" in prop and len(value) > prop["maxLength"]:
            limit = prop["maxLength"]
            raise invalid_params(f"argument '{name}' must be at most {limit} characters")


def _problem(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "message"
    return f"{where}: {first['msg']}"


def _request_id(data: dict[str, Any]) -> RequestId | None:
    value = data.get("id")
    is_id = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    return value if is_id else None


def read_message(raw: bytes) -> JSONRPCRequest | JSONRPCNotification | None:
    """The POSTed message; None for a response (this server asks the client nothing, so
    there is nothing to match it with). -32700 / -32600 when it is not one JSON-RPC message."""
    if len(raw) > MAX_BODY_BYTES:
        raise McpError(INVALID_REQUEST, "the message is larger than 10 MB", status=413)
    try:
        data: Any = json.loads(raw)
    except (ValueError, RecursionError) as err:
        message = f"Parse error: the body is not JSON ({err})"
        raise McpError(PARSE_ERROR, message, status=400) from None
    if isinstance(data, list):
        message = "batches are not supported: send one JSON-RPC message per POST"
        raise McpError(INVALID_REQUEST, message, status=400)
    if not isinstance(data, dict):
        raise McpError(INVALID_REQUEST, "expected a JSON-RPC 2.0 message object", status=400)
    return _envelope(cast(dict[str, Any], data))


def _envelope(data: dict[str, Any]) -> JSONRPCRequest | JSONRPCNotification | None:
    if "method" not in data:
        if "result" in data or "error" in data:
            return None
        raise McpError(INVALID_REQUEST, "method: missing", status=400, request_id=_request_id(data))
    model = JSONRPCRequest if "id" in data else JSONRPCNotification
    try:
        return model.model_validate(data)
    except ValidationError as err:
        request_id = _request_id(data)
        raise McpError(INVALID_REQUEST, _problem(err), status=400, request_id=request_id) from None


def params_of(model: type[M], params: dict[str, Any] | None) -> M:
    """A request's params as ``model``; -32602 naming the field that does not fit."""
    try:
        return model.model_validate(params or {})
    except ValidationError as err:
        raise invalid_params(f"params.{_problem(err)}") from None


def result_body(request_id: RequestId, result: BaseModel) -> dict[str, Any]:
    """A JSON-RPC success answer carrying ``result`` as the wire spells it."""
    dumped = result.model_dump(by_alias=True, exclude_none=True, mode="json")
    for field in _LATER_FIELDS:
        dumped.pop(field, None)
    return {"jsonrpc": "2.0", "id": request_id, "result": dumped}


def error_body(request_id: RequestId | None, code: int, message: str) -> dict[str, Any]:
    """A JSON-RPC error answer."""
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def outputs_text(outputs: Mapping[str, Any] | None) -> str:
    """A workflow's outputs as the tool's text content (JSON, as Dify answers)."""
    return json.dumps(dict(outputs or {}), ensure_ascii=False)
