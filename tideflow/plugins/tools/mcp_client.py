"""MCP servers as tool providers: a server's tools are listed once and stored, each call goes to
the server.

Every list or call opens its own session (the ``initialize`` handshake, the request, close), so
nothing outlives it: a worker that dies mid-call leaves no session to recover, and a retried
activity simply opens a new one. Remote servers (streamable HTTP, SSE) are reached through the
SSRF guard on every request; local (stdio) servers run only commands the operator allowed in
``mcp_stdio_commands``, never through a shell, and are stopped when the session ends or is
cancelled.

The handshake is the legacy ``initialize`` one (protocol 2025-11-25 and earlier), which every
server in use speaks, Dify's included; a 2026-era server that dropped it is not reached yet.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import os
import shutil
import tempfile
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from typing import IO, Any, TextIO, TypeVar, cast
from urllib.parse import urlsplit

import httpx
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tideflow.activities.ssrf import SSRFBlockedError, resolve_checked
from tideflow.platform.settings import Settings
from tideflow.plugins.tools.base import (
    ToolContext,
    ToolError,
    ToolParameter,
    ToolProvider,
    ToolResult,
)
from tideflow.plugins.tools.mcp_content import parameters_of, tool_result
from tideflow.plugins.tools.mcp_http import guarded_client

__all__ = [
    "McpError",
    "McpServerConfig",
    "McpTool",
    "McpToolSpec",
    "call_mcp_tool",
    "check_allowed",
    "list_mcp_tools",
    "mcp_provider",
    "parameters_of",
]

TRANSPORTS = ("streamable_http", "sse", "stdio")
MAX_LIST_PAGES = 100  # a server whose cursors never end cannot hang a listing
_CLIENT_INFO = types.Implementation(name="tideflow", version="1")
_T = TypeVar("_T")


class McpError(Exception):
    """Reaching an MCP server or talking to it failed; the message names the server and what
    failed (a tool's own failure is a ToolError instead)."""


@dataclasses.dataclass(frozen=True)
class McpServerConfig:
    """How to reach one MCP server. ``timeout_s`` bounds connecting and each handshake or
    listing request, ``sse_read_timeout_s`` a tool call's reply; None: the settings' defaults."""

    transport: str
    url: str = ""
    # Secrets (an Authorization header, an API key in env) stay out of reprs and logs.
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict[str, str], repr=False)
    command: str = ""
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = dataclasses.field(default_factory=dict[str, str], repr=False)
    timeout_s: float | None = None
    sse_read_timeout_s: float | None = None

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> McpServerConfig:
        """A server from stored JSON (``transport``, ``url``, ``headers``, ``command``, ``args``,
        ``env``, ``timeout_s``, ``sse_read_timeout_s``; Dify's ``timeout`` and
        ``sse_read_timeout`` are read too); ``headers`` (e.g. decrypted secrets) go over the
        config's own. Without a transport it is inferred as Dify does: stdio for a command, SSE
        for a URL ending in ``/sse``, else streamable HTTP. Raises ValueError naming the field
        at fault."""
        url = str(config.get("url") or "").strip()
        command = str(config.get("command") or "").strip()
        transport = str(config.get("transport") or _inferred_transport(url, command))
        transport = transport.replace("-", "_")
        if transport not in TRANSPORTS:
            shown = config.get("transport")
            raise ValueError(f"transport: must be one of {', '.join(TRANSPORTS)} (got {shown!r})")
        if transport == "stdio":
            if not command:
                raise ValueError("command: required for the stdio transport")
        else:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"url: must be an http(s) URL with a host (got {url!r})")
        return cls(
            transport=transport,
            url=url,
            headers={**_strings(config, "headers"), **(headers or {})},
            command=command,
            args=_args(config.get("args")),
            env=_strings(config, "env"),
            timeout_s=_seconds(config, "timeout_s", "timeout"),
            sse_read_timeout_s=_seconds(config, "sse_read_timeout_s", "sse_read_timeout"),
        )


def _strings(config: Mapping[str, Any], field: str) -> dict[str, str]:
    value: Any = config.get(field) or {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{field}: must be an object of strings")
    items = cast(Mapping[Any, Any], value).items()
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in items):
        raise ValueError(f"{field}: every name and value must be a string")
    return dict(cast(Mapping[str, str], value))


def _args(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items: list[Any] = list(cast(list[Any], value)) if isinstance(value, list | tuple) else [value]
    if not all(isinstance(item, str) for item in items):
        raise ValueError("args: must be a list of strings")
    return tuple(items)


def _inferred_transport(url: str, command: str) -> str:
    if command and not url:
        return "stdio"
    return "sse" if urlsplit(url).path.rstrip("/").endswith("/sse") else "streamable_http"


def _seconds(config: Mapping[str, Any], field: str, dify_field: str) -> float | None:
    if config.get(field) is None:
        field = dify_field
    value = config.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{field}: must be a positive number of seconds (got {value!r})")
    return float(value)


def check_allowed(server: McpServerConfig, settings: Settings) -> None:
    """Refuse a server this process may not reach.

    stdio: the command must be in ``mcp_stdio_commands``, as written there or resolving (on
    PATH) to the same executable; loader variables (``LD_*``, ``DYLD_*``) are refused in its
    env. Remote: the URL's host must pass the SSRF guard (SSRFBlockedError). The host is
    resolved here, blocking: from async code, run this in a thread. A host that does not
    resolve passes; connecting to it fails later, naming the server.
    """
    if server.transport == "stdio":
        if not _command_allowed(server.command, settings):
            raise ValueError(
                f"command: {server.command!r} is not in mcp_stdio_commands "
                "(TIDEFLOW_MCP_STDIO_COMMANDS); ask the operator to allow it"
            )
        for name in server.env:
            if name.upper().startswith(("LD_", "DYLD_")):
                raise ValueError(f"env: {name} is not allowed for a stdio MCP server")
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # resolve_checked is the guard's own check; its loop runs on a thread of its own so this
        # works from sync code and from inside a running loop alike.
        timeout = server.timeout_s or settings.mcp_timeout_s
        check = resolve_checked(httpx.URL(server.url), settings, resolve_timeout=timeout)
        future = pool.submit(asyncio.run, check)
        with suppress(httpx.TransportError):
            future.result()


def _command_allowed(command: str, settings: Settings) -> bool:
    entries = [entry.strip() for entry in settings.mcp_stdio_commands if entry.strip()]
    if command in entries:
        return True
    found = shutil.which(command)
    return found is not None and any(shutil.which(entry) == found for entry in entries)


@dataclasses.dataclass(frozen=True)
class McpToolSpec:
    """One tool as the server lists it."""

    name: str
    description: str
    input_schema: Mapping[str, Any]


async def list_mcp_tools(server: McpServerConfig, settings: Settings) -> list[McpToolSpec]:
    """Every tool the server lists (following ``nextCursor`` pages), in the server's order."""

    async def work(client: Client) -> list[McpToolSpec]:
        specs: dict[str, McpToolSpec] = {}
        cursor: str | None = None
        for _ in range(MAX_LIST_PAGES):
            page = await client.list_tools(cursor=cursor)
            for tool in page.tools:
                description = tool.description or tool.title or ""
                specs.setdefault(tool.name, McpToolSpec(tool.name, description, tool.input_schema))
            cursor = page.next_cursor
            if not cursor:
                return list(specs.values())
        raise McpError(f"{_describe(server)}: tools/list gave more than {MAX_LIST_PAGES} pages")

    return await _in_session(server, settings, "list tools", work)


async def call_mcp_tool(
    server: McpServerConfig, settings: Settings, name: str, arguments: Mapping[str, Any]
) -> ToolResult:
    """Call tool ``name`` on the server. A result flagged ``isError`` raises ToolError with the
    server's text; a connection or protocol failure raises McpError."""
    read_timeout = server.sse_read_timeout_s or settings.mcp_sse_read_timeout_s

    async def work(client: Client) -> types.CallToolResult:
        return await client.call_tool(name, dict(arguments), read_timeout_seconds=read_timeout)

    result = await _in_session(server, settings, f"call tool {name!r}", work)
    mapped = tool_result(result)
    if result.is_error:
        raise ToolError(f"MCP tool {name!r} failed: {mapped.text or '(no message)'}")
    return mapped


async def _in_session(
    server: McpServerConfig,
    settings: Settings,
    operation: str,
    work: Callable[[Client], Awaitable[_T]],
) -> _T:
    """Open a session, run ``work`` and close it; failures become McpError naming the server."""
    where = _describe(server)
    executable = _stdio_executable(server, settings) if server.transport == "stdio" else ""
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        try:
            async with _session(server, settings, executable, errlog) as client:
                return await work(client)
        except Exception as exc:  # an ExceptionGroup from the transports' task groups too
            cause = _leaf(exc)
            if isinstance(cause, McpError):
                raise cause from None
            if isinstance(cause, SSRFBlockedError):
                # Named by origin only: the URL's path or query may carry a key.
                raise SSRFBlockedError(where, cause.reason) from None
            detail = _explain(cause) + (_stderr_tail(errlog) if executable else "")
            raise McpError(f"{where}: {operation} failed: {detail}") from exc


def _stdio_executable(server: McpServerConfig, settings: Settings) -> str:
    """The allowed command's absolute path. It is what runs, so a PATH in the server's env
    cannot swap the program."""
    check_allowed(server, settings)
    found = shutil.which(server.command)
    if found is None:
        raise McpError(f"{_describe(server)}: cannot start: no executable {server.command!r} found")
    return os.path.abspath(found)


@asynccontextmanager
async def _session(
    server: McpServerConfig, settings: Settings, executable: str, errlog: IO[str]
) -> AsyncGenerator[Client]:
    timeout = server.timeout_s or settings.mcp_timeout_s
    # The session's own timeout for a call's reply fires first, with a clear message; the
    # socket's read timeout is the backstop.
    read_timeout = (server.sse_read_timeout_s or settings.mcp_sse_read_timeout_s) + 5.0
    options: dict[str, Any] = {
        "mode": "legacy",
        "cache": None,  # every session is new: nothing to reuse
        "read_timeout_seconds": timeout,
        "client_info": _CLIENT_INFO,
    }
    if server.transport == "stdio":
        parameters = StdioServerParameters(
            command=executable, args=list(server.args), env=dict(server.env)
        )
        transport = stdio_client(parameters, errlog=cast(TextIO, errlog))
        async with Client(transport, **options) as client:
            yield client
    elif server.transport == "sse":
        transport = sse_client(
            server.url,
            headers=dict(server.headers),
            timeout=timeout,
            sse_read_timeout=read_timeout,
            httpx_client_factory=functools.partial(guarded_client, settings),
        )
        async with Client(transport, **options) as client:
            yield client
    else:
        http_timeout = httpx2.Timeout(timeout, read=read_timeout)
        async with guarded_client(settings, server.headers, http_timeout) as http:
            transport = streamable_http_client(server.url, http_client=http)
            async with Client(transport, **options) as client:
                yield client


def _describe(server: McpServerConfig) -> str:
    if server.transport == "stdio":
        return f"MCP server {server.command!r} (stdio)"
    # The origin only: the URL's path or query may carry a key.
    parts = urlsplit(server.url)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    port = f":{parts.port}" if parts.port else ""
    return f"MCP server {parts.scheme}://{host}{port} ({server.transport})"


def _leaf(exc: BaseException) -> BaseException:
    """The exception that matters inside (possibly nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        leaves = cast(BaseExceptionGroup[BaseException], exc).exceptions
        preferred = [e for e in leaves if isinstance(e, McpError | SSRFBlockedError)]
        exc = (preferred or [e for e in leaves if not isinstance(e, MCPError)] or leaves)[0]
    return exc


def _explain(exc: BaseException) -> str:
    if isinstance(exc, MCPError):
        return exc.message
    if isinstance(exc, httpx2.HTTPStatusError):
        response = exc.response
        return f"the server answered HTTP {response.status_code} {response.reason_phrase}".strip()
    if isinstance(exc, httpx2.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx2.TransportError):
        return f"cannot connect: {exc or type(exc).__name__}"
    if isinstance(exc, OSError):
        return f"cannot start the command: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def _stderr_tail(errlog: IO[str], limit: int = 400) -> str:
    errlog.seek(0)
    tail = errlog.read()[-limit:].strip()
    return f"; its stderr ends: {tail}" if tail else ""


@dataclasses.dataclass(frozen=True)
class McpTool:
    """One tool of an MCP server, as a Tideflow Tool: ``invoke`` calls it on the server."""

    server: McpServerConfig
    spec: McpToolSpec

    @property
    def name(self) -> str:
        """The tool's name on the server."""
        return self.spec.name

    @property
    def label(self) -> str:
        """MCP tools have no separate human name: the name."""
        return self.spec.name

    @property
    def description(self) -> str:
        """The server's description of the tool."""
        return self.spec.description

    @property
    def parameters(self) -> Sequence[ToolParameter]:
        """The parameters of the tool's input schema."""
        return parameters_of(self.spec.input_schema)

    async def invoke(self, params: dict[str, Any], context: ToolContext) -> ToolResult:
        """Call the tool. Missing and blank values are left out (as Dify does), so the server's
        own defaults apply. Raises ToolError, McpError, SSRFBlockedError or ValueError."""
        arguments = {
            key: value
            for key, value in params.items()
            if value is not None and not (isinstance(value, str) and not value.strip())
        }
        return await call_mcp_tool(self.server, context.settings, self.spec.name, arguments)


def mcp_provider(
    provider_id: str,
    name: str,
    server: McpServerConfig,
    specs: Sequence[McpToolSpec],
    aliases: tuple[str, ...] = (),
) -> ToolProvider:
    """A ToolProvider of the server's stored tool list; each call goes to the server."""
    tools = {spec.name: McpTool(server, spec) for spec in specs}
    return ToolProvider(id=provider_id, name=name, label=name, tools=tools, aliases=aliases)
