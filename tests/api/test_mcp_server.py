"""An app published as an MCP server (``/mcp/server/{code}/mcp``), enabled through the console
routes and driven by the real ``mcp`` client over HTTP (the API served by uvicorn on
127.0.0.1), plus raw JSON-RPC posts for every error the endpoint answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from mcp import ClientSession, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp_types import TextContent
from sqlmodel import Session, select

from tests.api.conftest import Api
from tests.api.test_chat import import_text
from tests.fakes.openai_server import FakeLLMServer, Reply, unauthorized
from tests.graph.test_model_config_import import AGENT, CHATBOT, TEXT_GENERATOR
from tideflow.platform.db.session import get_engine
from tideflow.platform.db.tool_models import AppMcpServer

GREETER = """
app: {mode: workflow, name: "Greeter (v2)!", description: Says hello}
kind: app
version: 0.3.0
workflow:
  graph:
    nodes:
    - id: start
      data:
        type: start
        title: Start
        variables:
        - {variable: name, label: Name, type: text-input, required: true, max_length: 20}
        - {variable: times, label: Times, type: number, required: false}
        - {variable: mood, label: Mood, type: select, options: [happy, sad], required: false}
        - {variable: loud, label: Loud, type: checkbox, required: false}
        - {variable: extra, label: Extra, type: json_object, required: false}
    - id: tpl
      data:
        type: template-transform
        title: Greet
        template: "Hello {{ name }} x{{ times }}"
        variables:
        - {variable: name, value_selector: [start, name]}
        - {variable: times, value_selector: [start, times]}
    - id: end
      data:
        type: end
        title: End
        outputs:
        - {variable: greeting, value_selector: [tpl, output]}
        - {variable: mood, value_selector: [start, mood]}
    edges:
    - {id: e1, source: start, target: tpl}
    - {id: e2, source: tpl, target: end}
"""

GREETER_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Who to greet", "maxLength": 20},
        "times": {"type": "number", "description": "Times"},
        "mood": {"type": "string", "description": "Mood", "enum": ["happy", "sad"]},
        "loud": {"type": "boolean", "description": "Loud"},
        "extra": {"type": "object", "description": "Extra"},
    },
    "required": ["name"],
}


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # pytest keeps its own signal handlers


@pytest.fixture
async def served(api: Api) -> AsyncIterator[str]:
    """The same API app (its lifespan already running) served by uvicorn on 127.0.0.1, on the
    test's event loop: the app's Temporal client and run service belong to that loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = _Server(uvicorn.Config(api.asgi, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def _enable(api: Api, app_id: str, **body: Any) -> dict[str, Any]:
    response = await api.http.post(
        f"/console/api/apps/{app_id}/server", json=body, headers=api.console
    )
    assert response.status_code == 201, response.text
    server: dict[str, Any] = response.json()
    return server


def _rpc(method: str, params: dict[str, Any] | None = None, id_: int = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    return message if params is None else {**message, "params": params}


async def _post(api: Api, code: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json", **headers}
    return await api.http.post(f"/mcp/server/{code}/mcp", content=content, headers=headers)


async def _error(api: Api, code: str, body: Any) -> dict[str, Any]:
    response = await _post(api, code, body)
    error: dict[str, Any] = response.json()["error"]
    return {"status": response.status_code, **error}


async def test_workflow_app_through_the_real_mcp_client(api: Api, served: str) -> None:
    app_id = await import_text(api, GREETER)
    server = await _enable(
        api, app_id, description="Greets people", parameters={"name": "Who to greet"}
    )
    assert server["app_id"] == app_id and server["status"] == "active"
    assert server["parameters"] == {"name": "Who to greet"}
    code = server["server_code"]
    assert len(code) >= 32 and server["server_url"].endswith(f"/mcp/server/{code}/mcp")
    got = await api.http.get(f"/console/api/apps/{app_id}/server", headers=api.console)
    assert got.json() == server

    async with (
        streamable_http_client(f"{served}/mcp/server/{code}/mcp") as (read, write),
        ClientSession(read, write) as session,
    ):
        init = await session.initialize()
        # The client offers 2025-11-25; the server answers its newest, which the client takes.
        assert init.protocol_version == "2025-06-18"
        assert init.server_info.name == "Tideflow" and init.instructions == "Greets people"
        assert init.capabilities.tools is not None
        (tool,) = (await session.list_tools()).tools
        assert (tool.name, tool.description) == ("Greeter_v2", "Greets people")
        assert tool.input_schema == GREETER_SCHEMA
        done = await session.call_tool("Greeter_v2", {"name": "Ada", "times": 3, "mood": "happy"})
        assert not done.is_error
        assert done.structured_content == {"greeting": "Hello Ada x3", "mood": "happy"}
        (text,) = done.content
        assert isinstance(text, TextContent) and json.loads(text.text) == done.structured_content
        with pytest.raises(MCPError) as missing:
            await session.call_tool("Greeter_v2", {"times": 2})
        assert missing.value.code == -32602 and "'name' is required" in missing.value.message
        assert (await session.send_ping()) is not None

    key = await api.app_key(app_id)
    (run,) = (await api.http.get("/v1/workflows/logs", headers=key)).json()["data"]
    assert run["workflow_run"]["status"] == "succeeded"
    assert run["created_by_end_user"]["session_id"] == f"mcp-{server['id']}"


async def test_chat_app_answers_and_a_failed_run_is_an_error_result(
    api: Api, gateway: FakeLLMServer, served: str
) -> None:
    app_id = await import_text(api, CHATBOT)
    code = (await _enable(api, app_id))["server_code"]
    gateway.script(Reply(text="See the old town."), times=1)
    async with (
        streamable_http_client(f"{served}/mcp/server/{code}/mcp") as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        (tool,) = (await session.list_tools()).tools
        # No server description: the app's; chat apps take a required query first.
        assert tool.name == "City_guide" and tool.description == "Tells travellers what to see"
        assert tool.input_schema["required"] == ["query", "city"]
        assert tool.input_schema["properties"]["query"]["type"] == "string"
        assert tool.input_schema["properties"]["language"]["enum"] == ["English", "French"]
        answered = await session.call_tool("City_guide", {"query": "What first?", "city": "Lyon"})
        assert not answered.is_error and answered.structured_content is None
        assert [c.text for c in answered.content if isinstance(c, TextContent)] == [
            "See the old town."
        ]
        (call,) = gateway.chat_requests()
        messages = call.json["messages"]
        assert messages[0]["content"] == "You guide visitors of Lyon. Answer in English."
        assert messages[-1] == {"role": "user", "content": "What first?"}

        gateway.fail(unauthorized())
        failed = await session.call_tool("City_guide", {"query": "And then?", "city": "Lyon"})
        assert failed.is_error
        (text,) = failed.content
        assert isinstance(text, TextContent) and "Incorrect API key" in text.text


async def test_agent_and_text_generator_apps_answer(api: Api, gateway: FakeLLMServer) -> None:
    agent = (await _enable(api, await import_text(api, AGENT)))["server_code"]
    action = json.dumps({"action": "current_time", "action_input": {}})
    final = json.dumps({"action": "Final Answer", "action_input": "It is Monday."})
    gateway.script(Reply(text=f"Thought: done\nAction:\n```\n{final}\n```"), times=1)
    gateway.script(Reply(text=f"Thought: check the clock\nAction:\n```\n{action}\n```"), times=1)
    # An agent answers streaming only (as in Dify); the tool call collects the stream.
    arguments = {"query": "what day is it?", "name": "Ada"}
    called = await _post(api, agent, _rpc("tools/call", {"name": "Helper", "arguments": arguments}))
    assert called.json()["result"] == {
        "content": [{"type": "text", "text": "It is Monday."}],
        "isError": False,
    }
    summariser = (await _enable(api, await import_text(api, TEXT_GENERATOR)))["server_code"]
    listed = await _post(api, summariser, _rpc("tools/list"))
    assert set(listed.json()["result"]) == {"tools"}  # no 2026-07-28 fields on older revisions
    (tool,) = listed.json()["result"]["tools"]
    assert tool["inputSchema"]["required"] == ["words", "query"]  # no chat query added
    gateway.script(Reply(text="Short."), times=1)
    arguments = {"words": 2, "query": "A long text."}
    params = {"name": "Summariser", "arguments": arguments}
    summary = await _post(api, summariser, _rpc("tools/call", params))
    assert summary.json()["result"]["content"] == [{"type": "text", "text": "Short."}]
    assert gateway.chat_requests()[-1].json["messages"][-1]["content"] == "A long text."


async def test_json_rpc_errors_are_answered_never_500(api: Api) -> None:
    app_id = await import_text(api, GREETER)
    code = (await _enable(api, app_id))["server_code"]
    ping = await _post(api, code, _rpc("ping", id_=7))
    assert ping.status_code == 200 and ping.json() == {"jsonrpc": "2.0", "id": 7, "result": {}}
    for offered, answered in (("2024-11-05", "2024-11-05"), ("1999-01-01", "2025-06-18")):
        params = {"protocolVersion": offered, "capabilities": {}}
        init = await _post(api, code, _rpc("initialize", {**params, "clientInfo": _CLIENT}))
        assert init.json()["result"]["protocolVersion"] == answered
    note = await _post(api, code, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert note.status_code == 202 and note.content == b""

    unknown = await _error(api, code, _rpc("resources/list"))
    assert unknown["code"] == -32601 and "resources/list" in unknown["message"]
    parse = await _error(api, code, b'{"jsonrpc": "2.0", "id": 1,')
    assert (parse["status"], parse["code"]) == (400, -32700)
    wrong = await _error(api, code, {"jsonrpc": "1.0", "id": 3, "method": "ping"})
    assert (wrong["status"], wrong["code"]) == (400, -32600) and "jsonrpc" in wrong["message"]
    batch = await _error(api, code, [_rpc("ping")])
    assert batch["code"] == -32600 and "batch" in batch["message"]
    no_init = await _error(api, code, _rpc("initialize", {"protocolVersion": "2025-06-18"}))
    assert no_init["code"] == -32602 and "params.capabilities" in no_init["message"]

    def call(arguments: dict[str, Any], name: str = "Greeter_v2") -> dict[str, Any]:
        return _rpc("tools/call", {"name": name, "arguments": arguments})

    cases = [
        (call({"times": 1}), "argument 'name' is required"),
        (call({"name": "Bo", "times": "three"}), "argument 'times' must be a number"),
        (call({"name": "Bo", "mood": "angry"}), "argument 'mood' must be one of"),
        (call({"name": "Bo", "loud": "yes"}), "argument 'loud' must be a boolean"),
        (call({"name": "B" * 21}), "argument 'name' must be at most 20"),
        (call({"name": "Bo"}, name="other"), "unknown tool 'other'"),
        (_rpc("tools/call", {"arguments": {}}), "params.name"),
    ]
    for body, expected in cases:
        error = await _error(api, code, body)
        assert (error["status"], error["code"]) == (200, -32602), error
        assert expected in error["message"], error

    versioned = await _post(api, code, _rpc("ping"), **{"MCP-Protocol-Version": "2030-01-01"})
    assert versioned.status_code == 400 and "2030-01-01" in versioned.json()["error"]["message"]
    get = await api.http.get(f"/mcp/server/{code}/mcp")
    assert get.status_code == 405 and get.headers["allow"] == "POST"
    assert (await api.http.delete(f"/mcp/server/{code}/mcp")).status_code == 405
    missing = await _error(api, "no-such-code", _rpc("ping"))
    assert (missing["status"], missing["code"]) == (404, -32600)


_CLIENT = {"name": "raw-test", "version": "1.0"}


async def test_console_lifecycle_code_refresh_status_and_delete(api: Api) -> None:
    app_id = await import_text(api, GREETER)
    base = f"/console/api/apps/{app_id}/server"
    empty = await api.http.get(base, headers=api.console)
    assert empty.status_code == 200 and empty.json() is None
    server = await _enable(api, app_id, description="v1")
    again = await api.http.post(base, json={"description": "v2"}, headers=api.console)
    assert again.status_code == 409 and "PUT" in again.json()["message"]

    refreshed = await api.http.get(
        f"/console/api/apps/{server['id']}/server/refresh", headers=api.console
    )
    assert refreshed.status_code == 200, refreshed.text
    new_code = refreshed.json()["server_code"]
    assert new_code != server["server_code"]
    old = await _post(api, server["server_code"], _rpc("ping"))
    assert old.status_code == 404 and old.json()["error"]["code"] == -32600
    assert (await _post(api, new_code, _rpc("ping"))).status_code == 200

    off = await api.http.put(base, json={"status": "inactive"}, headers=api.console)
    assert off.status_code == 200 and off.json()["status"] == "inactive"
    assert off.json()["description"] == "v1"  # what the body leaves out stays
    assert (await _post(api, new_code, _rpc("ping"))).status_code == 404
    body = {"id": server["id"], "status": "active", "description": "v3", "parameters": {}}
    on = await api.http.put(base, json=body, headers=api.console)
    assert on.json()["status"] == "active" and on.json()["description"] == "v3"
    assert (await _post(api, new_code, _rpc("ping"))).status_code == 200
    bad = await api.http.put(base, json={"status": "paused"}, headers=api.console)
    assert bad.status_code == 400 and "status" in bad.json()["message"]
    other_id = await api.http.put(
        base, json={"id": "nope", "status": "active"}, headers=api.console
    )
    assert other_id.status_code == 404

    stranger = await api.other_tenant()
    assert (await api.http.get(base, headers=stranger)).status_code == 404
    refresh = f"/console/api/apps/{server['id']}/server/refresh"
    assert (await api.http.get(refresh, headers=stranger)).status_code == 404

    deleted = await api.http.delete(f"/console/api/apps/{app_id}", headers=api.console)
    assert deleted.status_code == 204
    assert (await _post(api, new_code, _rpc("ping"))).status_code == 404
    with Session(get_engine(api.settings.db_url)) as session:
        assert session.exec(select(AppMcpServer)).all() == []


async def test_an_unpublished_app_says_so(api: Api) -> None:
    response = await api.http.post(
        "/console/api/apps/imports", json={"yaml_content": GREETER}, headers=api.console
    )
    code = (await _enable(api, response.json()["app_id"]))["server_code"]
    assert (await _post(api, code, _rpc("ping"))).status_code == 200
    for body in (_rpc("tools/list"), _rpc("tools/call", {"name": "Greeter_v2", "arguments": {}})):
        error = await _error(api, code, body)
        assert error["code"] == -32600 and "no published version" in error["message"]
