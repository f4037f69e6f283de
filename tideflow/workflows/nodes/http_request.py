"""HTTP Request: the request is built in workflow code (pure), sent by activity ``http_request``."""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.context import JSON_OBJECT, NodeContext, NodeResult
from tideflow.workflows.nodes._activity_models import build_http_request
from tideflow.workflows.nodes._common import as_dict, require
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec

ACTIVITY = "http_request"
METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})
BODY_TYPES = frozenset({"none", "form-data", "x-www-form-urlencoded", "raw-text", "json", "binary"})
MAX_CONNECT, MAX_READ, MAX_WRITE = 10.0, 600.0, 600.0


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Method, URL, body type and auth type."""
    problems = require(data, "url")
    if str(data.get("method", "get")).lower() not in METHODS:
        problems.append(("method", f"unknown method {data.get('method')}"))
    body = as_dict(data.get("body"))
    if body and body.get("type", "none") not in BODY_TYPES:
        problems.append(("body.type", f"unknown body type {body.get('type')}"))
    auth = as_dict(data.get("authorization"))
    if auth and auth.get("type", "no-auth") not in ("no-auth", "api-key"):
        problems.append(("authorization.type", f"unknown type {auth.get('type')}"))
    return problems


def outputs(_data: dict[str, Any]) -> set[str] | None:
    """``status_code``, ``body``, ``headers``, ``files``."""
    return {"status_code", "body", "headers", "files"}


def mock_outputs(_data: dict[str, Any]) -> dict[str, Any]:
    """A successful empty response."""
    return {"status_code": 200, "body": "", "headers": {}, "files": []}


def _timeout_seconds(data: dict[str, Any]) -> float:
    timeout = as_dict(data.get("timeout"))
    parts = [
        float(timeout.get("connect") or MAX_CONNECT),
        float(timeout.get("read") or MAX_READ),
        float(timeout.get("write") or MAX_WRITE),
    ]
    return sum(parts) + 5.0


async def run(ctx: NodeContext) -> NodeResult:
    """Build the request with the activity module's pure builder, then send it."""
    request = build_http_request(ctx.node.id, ctx.data, ctx.render, ctx.pool.get)
    request = request.model_copy(
        update={"max_attempts": ctx.max_attempts, "tenant_id": ctx.state.tenant_id}
    )
    result = await ctx.call_activity(
        ACTIVITY,
        request,
        JSON_OBJECT,
        timeout_seconds=_timeout_seconds(ctx.data),
        heartbeats=True,
        limits_own_attempts=True,
    )
    response = as_dict(result)
    return NodeResult(
        inputs={"url": ctx.render(str(ctx.data.get("url", "")))},
        outputs={
            "status_code": response.get("status_code"),
            "body": response.get("body", ""),
            "headers": response.get("headers", {}),
            "files": response.get("files", []),
        },
    )


SPECS = [
    NodeSpec(
        type="http-request",
        validate=validate,
        outputs=outputs,
        external=True,
        mock_outputs=mock_outputs,
    )
]
RUNNERS = {"http-request": run}
