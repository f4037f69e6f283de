"""A real MCP server (the ``mcp`` SDK's MCPServer) for tests, over stdio, streamable HTTP or SSE.

    python -m tests.fakes.mcp_server --transport stdio --calls-file calls.jsonl
    python -m tests.fakes.mcp_server --transport streamable-http --port 0 --calls-file calls.jsonl

HTTP transports listen on 127.0.0.1 (``/mcp`` for streamable HTTP, ``/sse`` for SSE); the
socket is bound before anything is printed, then ``listening on port N`` goes to stdout, so a
test waits for that line instead of polling (``--port 0``: any free port).

Tools: ``add(a, b)``, ``echo(text)``, ``lookup(name)`` (a JSON object), ``fail(message)`` (an
``isError`` result), ``slow(seconds)``. Every tool call appends one JSON line to the calls file:
``{"tool", "arguments", "authorization", "pid"}``, so tests count calls at the tool and see the
headers that reached it. ``tools/list`` answers ``--page-size`` tools a page, so clients must
follow ``nextCursor``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ListToolsResult, PaginatedRequestParams


class PagedServer(MCPServer):
    """MCPServer whose ``tools/list`` is paginated (the SDK's own answers everything at once)."""

    page_size = 2

    async def _handle_list_tools(
        self,
        ctx: Any,  # noqa: ARG002 (the SDK's handler signature)
        params: PaginatedRequestParams | None,
    ) -> Any:
        tools = await self.list_tools()
        start = int(params.cursor) if params is not None and params.cursor else 0
        end = start + self.page_size
        next_cursor = str(end) if end < len(tools) else None
        return ListToolsResult(tools=tools[start:end], next_cursor=next_cursor)


def build_server(calls_file: Path) -> PagedServer:
    """The server with its tools, recording each call to ``calls_file``."""
    server = PagedServer("tideflow-fake", log_level="WARNING")

    def record(ctx: Context, tool: str, arguments: dict[str, Any]) -> None:
        headers = ctx.headers or {}
        line = {
            "tool": tool,
            "arguments": arguments,
            "authorization": headers.get("authorization"),
            "pid": os.getpid(),
        }
        with calls_file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    @server.tool(description="Add two integers.")
    def add(a: int, b: int, ctx: Context) -> int:
        record(ctx, "add", {"a": a, "b": b})
        return a + b

    @server.tool(description="Echo the text back.")
    def echo(text: str, ctx: Context) -> str:
        record(ctx, "echo", {"text": text})
        return text

    @server.tool(description="Look a person up.")
    def lookup(name: str, ctx: Context) -> dict[str, Any]:
        record(ctx, "lookup", {"name": name})
        return {"name": name, "tags": ["a", "b"]}

    @server.tool(description="Always fails with the message.")
    def fail(message: str, ctx: Context) -> str:
        record(ctx, "fail", {"message": message})
        raise ToolError(message)

    @server.tool(description="Sleep, then answer.")
    async def slow(seconds: float, ctx: Context) -> str:
        record(ctx, "slow", {"seconds": seconds})
        await asyncio.sleep(seconds)
        return f"slept {seconds}"

    return server


async def serve_http(server: MCPServer, transport: str, port: int) -> None:
    """Serve over HTTP on 127.0.0.1:port; print the bound port once the socket listens."""
    if transport == "sse":
        app = server.sse_app(host="127.0.0.1")
    else:
        app = server.streamable_http_app(host="127.0.0.1")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    print(f"listening on port {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until killed (stdio: until stdin closes)."""
    parser = argparse.ArgumentParser(description="A fake MCP server for tests.")
    parser.add_argument("--transport", choices=["stdio", "streamable-http", "sse"], default="stdio")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--calls-file", type=Path, required=True)
    parser.add_argument("--page-size", type=int, default=2)
    args = parser.parse_args(argv)
    server = build_server(args.calls_file)
    server.page_size = args.page_size
    if args.transport == "stdio":
        server.run("stdio")
    else:
        asyncio.run(serve_http(server, args.transport, args.port))


if __name__ == "__main__":
    sys.exit(main())
