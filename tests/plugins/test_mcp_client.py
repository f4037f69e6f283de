"""MCP tool providers against a real MCP server (tests/fakes/mcp_server.py) in a subprocess, over
stdio, streamable HTTP and SSE."""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest

from tests.runtime.worker_process import kill_tree
from tideflow.activities.ssrf import SSRFBlockedError
from tideflow.platform.settings import Settings
from tideflow.plugins.tools.base import ToolContext, ToolError, ToolParameter, check_parameters
from tideflow.plugins.tools.mcp_client import (
    McpError,
    McpServerConfig,
    McpTool,
    call_mcp_tool,
    check_allowed,
    list_mcp_tools,
    mcp_provider,
    parameters_of,
)
from tideflow.plugins.tools.mcp_content import tool_result

ROOT = Path(__file__).resolve().parents[2]
TOOL_NAMES = ["add", "echo", "lookup", "fail", "slow"]  # listed two a page: three pages
TOKEN = "Bearer test-token-123"


class HttpServer:
    """A fake MCP server process listening on 127.0.0.1."""

    def __init__(self, transport: str, calls_file: Path) -> None:
        self.transport = transport
        self.calls_file = calls_file
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.fakes.mcp_server", "--transport", transport),
                *("--port", "0", "--calls-file", str(calls_file)),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("listening on port"):
            kill_tree(self.proc)
            raise RuntimeError(f"fake MCP server ({transport}) did not start: {line!r}")
        self.port = int(line.split()[-1])
        path = "/sse" if transport == "sse" else "/mcp"
        # The query stands for a key in the URL: it must never show in a message.
        self.url = f"http://127.0.0.1:{self.port}{path}?key=url-secret"

    def config(self, **extra: Any) -> McpServerConfig:
        return McpServerConfig.from_config(
            {"transport": self.transport, "url": self.url, **extra},
            headers={"Authorization": TOKEN},
        )

    def settings(self) -> Settings:
        return Settings(ssrf_allowed_hosts=[f"127.0.0.1:{self.port}"])


def calls(calls_file: Path) -> list[dict[str, Any]]:
    """The tool calls the fake server recorded."""
    if not calls_file.exists():
        return []
    return [json.loads(line) for line in calls_file.read_text().splitlines() if line]


@pytest.fixture(scope="module", params=["streamable-http", "sse"])
def http_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpServer]:
    calls_file = tmp_path_factory.mktemp("mcp") / "calls.jsonl"
    server = HttpServer(str(request.param), calls_file)
    try:
        yield server
    finally:
        kill_tree(server.proc)


@pytest.fixture
def stdio_server(tmp_path: Path) -> tuple[McpServerConfig, Settings, Path]:
    calls_file = tmp_path / "calls.jsonl"
    config = McpServerConfig.from_config(
        {
            "transport": "stdio",
            "command": sys.executable,
            "args": ["-m", "tests.fakes.mcp_server", "--calls-file", str(calls_file)],
            "env": {"PYTHONPATH": str(ROOT)},
        }
    )
    return config, Settings(mcp_stdio_commands=[sys.executable]), calls_file


def context(settings: Settings) -> ToolContext:
    return ToolContext(settings=settings, tenant_id="t1", node_id="tool1")


async def test_list_and_call_over_http(http_server: HttpServer) -> None:
    server, settings = http_server.config(), http_server.settings()
    specs = await list_mcp_tools(server, settings)
    assert [spec.name for spec in specs] == TOOL_NAMES
    add = next(spec for spec in specs if spec.name == "add")
    assert add.description == "Add two integers."
    assert add.input_schema["required"] == ["a", "b"]

    provider = mcp_provider("mcp/fake", "Fake", server, specs, aliases=("fake",))
    assert sorted(provider.tools) == sorted(TOOL_NAMES)
    tool = provider.tools["add"]
    params = check_parameters(tool, {"a": "2", "b": 40})
    result = await tool.invoke(params, context(settings))
    assert (result.text, result.json) == ("42", [{"result": 42}])

    # One call at the tool per invoke, with the configured header.
    marker = uuid.uuid4().hex
    echoed = await call_mcp_tool(server, settings, "echo", {"text": marker})
    assert echoed.text == marker
    seen = [c for c in calls(http_server.calls_file) if c["arguments"].get("text") == marker]
    assert len(seen) == 1
    assert seen[0]["authorization"] == TOKEN

    # A JSON object answer is text and one json entry (not two: structuredContent is the same).
    looked_up = await call_mcp_tool(server, settings, "lookup", {"name": "ada"})
    assert json.loads(looked_up.text) == {"name": "ada", "tags": ["a", "b"]}
    assert looked_up.json == [{"name": "ada", "tags": ["a", "b"]}]


async def test_is_error_result_raises_tool_error(http_server: HttpServer) -> None:
    with pytest.raises(ToolError, match=r"'fail' failed: .*boom at the tool"):
        await call_mcp_tool(
            http_server.config(), http_server.settings(), "fail", {"message": "boom at the tool"}
        )


async def test_slow_reply_times_out(http_server: HttpServer) -> None:
    server = http_server.config(sse_read_timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(McpError, match=r"call tool 'slow' failed: .*timed out"):
        await call_mcp_tool(server, http_server.settings(), "slow", {"seconds": 5})
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("transport", ["streamable_http", "sse"])
async def test_unreachable_server_names_it(transport: str) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = McpServerConfig.from_config(
        {"transport": transport, "url": f"http://127.0.0.1:{port}/mcp?key=url-secret"}
    )
    settings = Settings(allow_private_network=True)
    with pytest.raises(McpError) as caught:
        await list_mcp_tools(server, settings)
    message = str(caught.value)
    assert f"MCP server http://127.0.0.1:{port} ({transport}): list tools failed" in message
    assert "cannot connect" in message
    assert "url-secret" not in message


async def test_loopback_without_allowance_is_blocked(http_server: HttpServer) -> None:
    server = http_server.config()
    with pytest.raises(SSRFBlockedError, match="loopback"):
        check_allowed(server, Settings())
    before = len(calls(http_server.calls_file))
    with pytest.raises(SSRFBlockedError, match="loopback") as caught:
        await call_mcp_tool(server, Settings(), "echo", {"text": "never"})
    assert "url-secret" not in str(caught.value)
    assert len(calls(http_server.calls_file)) == before
    check_allowed(server, http_server.settings())  # allowed by ssrf_allowed_hosts


def process_gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


async def test_stdio_list_and_call(stdio_server: tuple[McpServerConfig, Settings, Path]) -> None:
    server, settings, calls_file = stdio_server
    specs = await list_mcp_tools(server, settings)
    assert [spec.name for spec in specs] == TOOL_NAMES
    tool = McpTool(server, specs[0])
    result = await tool.invoke({"a": 1, "b": 2}, context(settings))
    assert (result.text, result.json) == ("3", [{"result": 3}])
    (call,) = calls(calls_file)
    assert call["arguments"] == {"a": 1, "b": 2}
    assert process_gone(call["pid"], within_s=1), "the server outlived its session"


async def test_stdio_server_stops_when_the_call_is_cancelled(
    stdio_server: tuple[McpServerConfig, Settings, Path],
) -> None:
    server, settings, calls_file = stdio_server
    task = asyncio.create_task(call_mcp_tool(server, settings, "slow", {"seconds": 60}))
    for _ in range(200):
        if calls(calls_file):
            break
        await asyncio.sleep(0.05)
    (call,) = calls(calls_file)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert process_gone(call["pid"], within_s=1), "the server outlived the cancelled call"


async def test_stdio_command_must_be_allowed(
    stdio_server: tuple[McpServerConfig, Settings, Path],
) -> None:
    server, _, calls_file = stdio_server
    with pytest.raises(ValueError, match="mcp_stdio_commands"):
        check_allowed(server, Settings())
    with pytest.raises(ValueError, match="mcp_stdio_commands"):
        await list_mcp_tools(server, Settings(mcp_stdio_commands=["node"]))
    preload = McpServerConfig("stdio", command=sys.executable, env={"LD_PRELOAD": "/tmp/x.so"})
    with pytest.raises(ValueError, match="env: LD_PRELOAD"):
        check_allowed(preload, Settings(mcp_stdio_commands=[sys.executable]))
    assert calls(calls_file) == []


async def test_stdio_server_that_dies_is_reported_with_its_stderr() -> None:
    server = McpServerConfig(
        "stdio", command=sys.executable, args=("-c", "import sys; sys.exit('no config file')")
    )
    settings = Settings(mcp_stdio_commands=[sys.executable])
    with pytest.raises(McpError, match=r"list tools failed: .*no config file"):
        await list_mcp_tools(server, settings)


def test_from_config_names_the_bad_field() -> None:
    bad: list[tuple[dict[str, Any], str]] = [
        ({"transport": "websocket", "url": "http://x"}, "transport"),
        ({"transport": "sse"}, "url"),
        ({"transport": "streamable_http", "url": "ftp://x/mcp"}, "url"),
        ({"transport": "stdio"}, "command"),
        ({"transport": "stdio", "command": "x", "args": [1]}, "args"),
        ({"transport": "sse", "url": "http://x", "headers": {"a": 1}}, "headers"),
        ({"transport": "sse", "url": "http://x", "timeout_s": 0}, "timeout_s"),
        ({"url": "http://x/sse", "sse_read_timeout": "soon"}, "sse_read_timeout"),
    ]
    for config, field in bad:
        with pytest.raises(ValueError, match=f"^{field}:"):
            McpServerConfig.from_config(config)
    server = McpServerConfig.from_config(
        {"transport": "streamable-http", "url": "https://h/mcp", "headers": {"X-A": "1"}},
        headers={"Authorization": "Bearer s"},
    )
    assert server.transport == "streamable_http"
    assert dict(server.headers) == {"X-A": "1", "Authorization": "Bearer s"}
    assert "Bearer s" not in repr(server)
    # Dify's field names, and the transport inferred as Dify does.
    dify = McpServerConfig.from_config(
        {"url": "https://h/sse/", "timeout": 5, "sse_read_timeout": 9}
    )
    assert (dify.transport, dify.timeout_s, dify.sse_read_timeout_s) == ("sse", 5.0, 9.0)
    assert McpServerConfig.from_config({"url": "https://h/mcp"}).transport == "streamable_http"
    assert McpServerConfig.from_config({"command": "uvx"}).transport == "stdio"


def test_parameters_of_maps_a_json_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "What to search"},
            "limit": {"type": "integer", "default": 10},
            "ratio": {"type": "number"},
            "exact": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "filters": {"type": "object"},
            "mode": {"type": "string", "enum": ["fast", "deep"], "title": "Mode"},
            "level": {"type": "integer", "enum": [1, 2]},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "when": {"type": ["null", "number"]},
        },
        "required": ["query", "mode"],
    }
    assert parameters_of(schema) == (
        ToolParameter("query", "string", required=True, description="What to search"),
        ToolParameter("limit", "number", default=10),
        ToolParameter("ratio", "number"),
        ToolParameter("exact", "boolean"),
        ToolParameter("tags", "array"),
        ToolParameter("filters", "object"),
        ToolParameter(
            "mode", "select", required=True, description="Mode", options=("fast", "deep")
        ),
        ToolParameter("level", "number"),
        ToolParameter("note", "string"),
        ToolParameter("when", "number"),
    )
    assert parameters_of({"type": "object"}) == ()


def test_tool_result_maps_content_blocks() -> None:
    result = types.CallToolResult(
        content=[
            types.TextContent(text="plain"),
            types.TextContent(text='[{"a": 1}, {"b": 2}]'),
            types.TextContent(text="[1, 2]"),
            types.ImageContent(data="aGk=", mime_type="image/png"),
            types.EmbeddedResource(
                resource=types.TextResourceContents(uri="file:///r.txt", text="resource text")
            ),
        ],
        structured_content={"total": 2},
    )
    mapped = tool_result(result)
    assert mapped.text.split("\n") == [
        "plain",
        '[{"a": 1}, {"b": 2}]',
        "[1, 2]",
        "[image (image/png) not shown]",
        "resource text",
    ]
    assert mapped.json == [{"a": 1}, {"b": 2}, {"total": 2}]
