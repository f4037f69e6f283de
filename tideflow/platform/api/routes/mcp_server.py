"""``POST /mcp/server/{server_code}/mcp``: an app published as an MCP server (Dify's stateless
streamable-HTTP handler; see ``tideflow/platform/mcp_server.py`` for the protocol side).

The code in the URL is the only credential: an unknown, regenerated or inactive code answers
404. ``tools/call`` runs the app's published version through the service API's own blocking
functions, as user ``mcp-<server id>``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from mcp_types import (
    CallToolRequestParams,
    CallToolResult,
    EmptyResult,
    Implementation,
    InitializeRequestParams,
    InitializeResult,
    ListToolsResult,
    PaginatedRequestParams,
    Result,
    ServerCapabilities,
    TextContent,
    Tool,
    ToolsCapability,
)
from mcp_types.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, JSONRPCRequest
from pydantic import ValidationError
from sqlmodel import Session
from temporalio.client import Client

from tideflow import __version__
from tideflow.platform.api.chat_schemas import ChatMessageBody
from tideflow.platform.api.deps import RunServiceDep, SessionDep, SettingsDep, TemporalDep
from tideflow.platform.api.errors import ApiError
from tideflow.platform.api.routes.service_chat import chat_message
from tideflow.platform.api.routes.service_completion import (
    CompletionMessageBody,
    completion_message,
)
from tideflow.platform.api.routes.service_workflows import run_workflow
from tideflow.platform.api.schemas import WorkflowRunBody
from tideflow.platform.db.crud import apps, mcp_servers
from tideflow.platform.db.models import App
from tideflow.platform.db.tool_models import AppMcpServer
from tideflow.platform.drafts import start_variables
from tideflow.platform.mcp_server import (
    PROTOCOL_VERSIONS,
    McpError,
    app_tool,
    check_arguments,
    error_body,
    input_schema,
    invalid_params,
    negotiate_version,
    outputs_text,
    params_of,
    read_message,
    result_body,
    tool_name,
)
from tideflow.platform.runs.service import RunService
from tideflow.platform.runs.views import WorkflowRunResponse
from tideflow.platform.settings import Settings
from tideflow.workflows.graph.plan import CHAT_MODES, ExecutionPlan

router = APIRouter(prefix="/mcp/server", tags=["mcp server"])
log = logging.getLogger("tideflow.api")
_ANSWERED = ("succeeded", "partial-succeeded")


@dataclass
class _Served:
    """One request's server, app and what running the app needs."""

    server: AppMcpServer
    app: App
    session: Session
    settings: Settings
    runs: RunService
    client: Client | None


def _error(request_id: Any, err: McpError) -> JSONResponse:
    return JSONResponse(error_body(request_id, err.code, err.message), status_code=err.status)


@router.post("/{server_code}/mcp")
async def mcp_endpoint(
    server_code: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    runs: RunServiceDep,
    link: TemporalDep,
) -> Response:
    """One JSON-RPC message: a request is answered with JSON, a notification with 202."""
    server = mcp_servers.server_by_code(session, server_code)
    app = apps.get_app(session, server.tenant_id, server.app_id) if server else None
    if server is None or app is None or server.status != "active":
        unknown = "MCP server not found: the code is unknown, was regenerated or is inactive"
        return _error(None, McpError(INVALID_REQUEST, unknown, status=404))
    try:
        message = read_message(await request.body())
    except McpError as err:
        return _error(err.request_id, err)
    if not isinstance(message, JSONRPCRequest):
        return Response(status_code=202)  # notifications and stray responses need no answer
    served = _Served(server, app, session, settings, runs, link.client)
    try:
        _check_version_header(request, message.method)
        result = await _answer(served, message)
    except McpError as err:
        return _error(message.id, err)
    except Exception as err:  # never a 500: the client gets a JSON-RPC error
        log.exception("MCP %s failed", message.method, exc_info=err)
        return _error(message.id, McpError(INTERNAL_ERROR, f"internal error in {message.method}"))
    return JSONResponse(result_body(message.id, result))


def _not_allowed() -> JSONResponse:
    message = "this MCP server is stateless: POST one JSON-RPC message per request"
    body = error_body(None, INVALID_REQUEST, message)
    return JSONResponse(body, status_code=405, headers={"Allow": "POST"})


ServerCode = Annotated[str, Path(alias="server_code")]


@router.get("/{server_code}/mcp", status_code=405)
def no_stream(_server_code: ServerCode) -> JSONResponse:
    """405: a stateless server opens no SSE stream."""
    return _not_allowed()


@router.delete("/{server_code}/mcp", status_code=405)
def no_session(_server_code: ServerCode) -> JSONResponse:
    """405: a stateless server has no session to end."""
    return _not_allowed()


def _check_version_header(request: Request, method: str) -> None:
    version = request.headers.get("mcp-protocol-version")
    if method != "initialize" and version is not None and version not in PROTOCOL_VERSIONS:
        supported = ", ".join(PROTOCOL_VERSIONS)
        message = f"MCP-Protocol-Version {version!r} is not supported; use one of {supported}"
        raise McpError(INVALID_REQUEST, message, status=400)


async def _answer(served: _Served, message: JSONRPCRequest) -> Result:
    method = message.method
    if method == "initialize":
        params = params_of(InitializeRequestParams, message.params)
        return InitializeResult(
            protocol_version=negotiate_version(params.protocol_version),
            capabilities=ServerCapabilities(tools=ToolsCapability(list_changed=False)),
            server_info=Implementation(name="Tideflow", version=__version__),
            instructions=served.server.description or served.app.description or None,
        )
    if method == "ping":
        return EmptyResult()
    if method == "tools/list":
        params_of(PaginatedRequestParams, message.params)
        return ListToolsResult(tools=[_tool(served)])
    if method == "tools/call":
        return await _call_tool(served, params_of(CallToolRequestParams, message.params))
    raise McpError(METHOD_NOT_FOUND, f"method not found: {method}")


def _tool(served: _Served) -> Tool:
    """The app's tool, its schema from the newest published version's start node."""
    app = served.app
    version = apps.latest_version(served.session, app)
    if version is None:
        message = f"app '{app.name}' has no published version: publish it to use its MCP tool"
        raise McpError(INVALID_REQUEST, message)
    variables = start_variables(ExecutionPlan.model_validate(version.plan))
    schema = input_schema(app.mode, variables, served.server.parameters)
    description = served.server.description or app.description
    return app_tool(tool_name(app.name), description, schema)


async def _call_tool(served: _Served, params: CallToolRequestParams) -> CallToolResult:
    tool = _tool(served)
    if params.name != tool.name:
        raise invalid_params(f"unknown tool '{params.name}': this server offers '{tool.name}'")
    arguments = dict(params.arguments or {})
    check_arguments(tool.input_schema, arguments)
    if served.client is None:
        raise McpError(INTERNAL_ERROR, "Temporal is not reachable yet; retry shortly", status=503)
    try:
        return await _run(served, served.client, arguments)
    except ApiError as err:  # the service API's answers, as MCP spells them
        if err.code == "invalid_param":
            raise invalid_params(err.message) from None
        if err.status >= 500:
            raise McpError(INTERNAL_ERROR, err.message, status=err.status) from None
        return _failed(err.message)


def _failed(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(text=message)], is_error=True)


def _answered(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(text=text)])


async def _run(served: _Served, client: Client, arguments: dict[str, Any]) -> CallToolResult:
    """Run the published version blocking; outputs (workflow) or the answer (the others)."""
    app, session, settings, runs = served.app, served.session, served.settings, served.runs
    user = f"mcp-{served.server.id}"
    if app.mode == "workflow":
        body = WorkflowRunBody(inputs=arguments, user=user)
        return _workflow_result(await run_workflow(body, app, session, settings, runs, client))
    if app.mode == "completion":
        completion = CompletionMessageBody(inputs=arguments, user=user)
        done = await completion_message(completion, app, session, settings, runs, client)
        return _answered(done.answer) if not isinstance(done, Response) else _unexpected()
    if app.mode not in CHAT_MODES:
        raise McpError(INVALID_REQUEST, f"apps of mode {app.mode} cannot be run as a tool")
    query = arguments.pop("query")
    try:
        chat = ChatMessageBody(query=query, inputs=arguments, user=user)
    except ValidationError as err:
        raise invalid_params(f"argument 'query': {err.errors()[0]['msg']}") from None
    if app.mode == "agent-chat":  # Dify's agents answer streaming only; collect the stream
        chat.response_mode = "streaming"
        streamed = await chat_message(chat, app, session, settings, runs, client)
        if not isinstance(streamed, StreamingResponse):
            return _unexpected()
        return await _collected(streamed.body_iterator)
    done = await chat_message(chat, app, session, settings, runs, client)
    return _answered(done.answer) if not isinstance(done, Response) else _unexpected()


def _unexpected() -> CallToolResult:
    return _failed("the app answered in an unexpected shape")


def _workflow_result(answered: Response | WorkflowRunResponse) -> CallToolResult:
    if isinstance(answered, Response):
        return _unexpected()
    data = answered.data
    if data.status in _ANSWERED:
        outputs = data.outputs or {}
        result = _answered(outputs_text(outputs))
        return result.model_copy(update={"structured_content": outputs})
    if data.status == "paused":
        return _failed(f"run {data.id} paused at a human-input form, which an MCP call cannot fill")
    return _failed(data.error or f"the run ended {data.status}")


def _sse_payloads(chunks: list[str]) -> Iterator[dict[str, Any]]:
    for block in chunks:
        for line in block.splitlines():
            if line.startswith("data: "):
                payload: Any = json.loads(line[6:])
                if isinstance(payload, dict):
                    yield cast(dict[str, Any], payload)


async def _collected(body: AsyncIterable[str | bytes | memoryview]) -> CallToolResult:
    """The answer a chat stream carries (``message_replace`` rewrites it), or its error."""
    answer, buffer = "", ""
    async for chunk in body:
        buffer += chunk if isinstance(chunk, str) else bytes(chunk).decode("utf-8")
        *blocks, buffer = buffer.split("\n\n")
        for payload in _sse_payloads(blocks):
            event = payload.get("event")
            if event in ("message", "agent_message"):
                answer += str(payload.get("answer") or "")
            elif event == "message_replace":
                answer = str(payload.get("answer") or "")
            elif event == "error":
                return _failed(str(payload.get("message") or "the run failed"))
    return _answered(answer)
