"""Webhook trigger: a root node whose outputs are the typed values of an HTTP request.

The route ``/triggers/webhook/{webhook_id}`` (``tideflow.platform.api.routes.triggers_webhook``)
checks the request against this node's config, casts each declared header, query param and body
param to its type and puts them, with ``_webhook_raw`` (the whole request), into the run's
inputs; the node hands them on as its outputs, as Start does. Header outputs are named with
``-`` replaced by ``_`` (Dify's rule).
"""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.nodes._common import as_dict, as_list
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec

METHODS = frozenset({"get", "post", "put", "patch", "delete", "head"})
CONTENT_TYPES = frozenset(
    {"application/json", "multipart/form-data", "application/x-www-form-urlencoded",
     "text/plain", "application/octet-stream"}
)  # fmt: skip
SCALAR_TYPES = frozenset({"string", "number", "boolean"})
PARAM_TYPES = frozenset(
    {*SCALAR_TYPES, "object", "array[string]", "array[number]", "array[boolean]",
     "array[object]", "file", "array[file]"}
)  # fmt: skip
# Which body types each content type can carry (Dify's rules).
BODY_TYPES: dict[str, frozenset[str]] = {
    "application/json": PARAM_TYPES - {"file", "array[file]"},
    "application/x-www-form-urlencoded": SCALAR_TYPES
    | {"array[string]", "array[number]", "array[boolean]"},
    "multipart/form-data": SCALAR_TYPES
    | {"array[string]", "array[number]", "array[boolean]", "file", "array[file]"},
    "text/plain": frozenset({"string"}),
    "application/octet-stream": frozenset({"string", "file"}),
}
RESPONSE_MODES = frozenset({"async", "sync"})
RAW_OUTPUT = "_webhook_raw"


def method_of(data: dict[str, Any]) -> str:
    """The accepted request method, lower case (Dify's default ``post``)."""
    return str(data.get("method") or "post").lower()


def content_type_of(data: dict[str, Any]) -> str:
    """The accepted content type (Dify's default ``application/json``)."""
    return str(data.get("content_type") or "application/json").lower()


def header_output(name: str) -> str:
    """The output variable of a header: its name with ``-`` replaced by ``_``."""
    return name.replace("-", "_")


def _param_problems(data: dict[str, Any], field: str, allowed: frozenset[str]) -> ConfigProblems:
    problems: ConfigProblems = []
    seen: set[str] = set()
    for i, item in enumerate(as_list(data.get(field))):
        param = as_dict(item)
        name = param.get("name")
        where = f"{field}[{i}]"
        if not isinstance(name, str) or not name.strip():
            problems.append((f"{where}.name", "a parameter name is required"))
        elif name.lower() in seen:
            problems.append((f"{where}.name", f"duplicate parameter {name}"))
        else:
            seen.add(name.lower())
        kind = param.get("type", "string")
        if kind not in allowed:
            problems.append((f"{where}.type", f"type {kind!r} is not one of {sorted(allowed)}"))
        if not isinstance(param.get("required", False), bool):
            problems.append((f"{where}.required", "required must be true or false"))
    return problems


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Method, content type, parameter lists, status code and response mode, by field."""
    problems: ConfigProblems = []
    if method_of(data) not in METHODS:
        problems.append(
            ("method", f"method {data.get('method')!r} is not one of {sorted(METHODS)}")
        )
    content_type = content_type_of(data)
    if content_type not in CONTENT_TYPES:
        message = f"content type {content_type!r} is not one of {sorted(CONTENT_TYPES)}"
        problems.append(("content_type", message))
    for field in ("headers", "params", "body"):
        if data.get(field) is not None and not isinstance(data.get(field), list):
            problems.append((field, f"{field} must be a list of {{name, type, required}}"))
    problems += _param_problems(data, "headers", frozenset({"string"}))
    problems += _param_problems(data, "params", PARAM_TYPES - {"file", "array[file]"})
    body_types = BODY_TYPES.get(content_type, PARAM_TYPES)
    problems += _param_problems(data, "body", body_types)
    status = data.get("status_code", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 399:
        problems.append(("status_code", f"status code {status!r} is not between 200 and 399"))
    body = data.get("response_body")
    if body is not None and not isinstance(body, str | dict | list):
        problems.append(("response_body", "response_body must be text or JSON"))
    if data.get("response_mode", "async") not in RESPONSE_MODES:
        mode = data.get("response_mode")
        problems.append(("response_mode", f"response mode {mode!r} is not async or sync"))
    return problems


def outputs(data: dict[str, Any]) -> set[str] | None:
    """Each header (``-`` as ``_``), query param and body param, and ``_webhook_raw``."""
    names = {RAW_OUTPUT}
    for field in ("headers", "params", "body"):
        for item in as_list(data.get(field)):
            name = as_dict(item).get("name")
            if isinstance(name, str) and name:
                names.add(header_output(name) if field == "headers" else name)
    return names


async def run(ctx: NodeContext) -> NodeResult:
    """Outputs are the request's values, cast and checked by the webhook route."""
    values = dict(ctx.state.start_inputs)
    return NodeResult(inputs=values, outputs=values)


SPECS = [NodeSpec(type="trigger-webhook", validate=validate, outputs=outputs)]
RUNNERS = {"trigger-webhook": run}
