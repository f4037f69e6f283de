"""Support for the activity tests: a real HTTP server on 127.0.0.1, settings overrides, and
helpers that build and run http-request nodes.

The server echoes requests, serves files of given types and sizes, fails with a status,
redirects and stalls. It runs in a thread with its own event loop, so the activity under test
and the server never share a loop.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.datastructures import UploadFile
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tideflow.activities.http import (
    HttpRequestInput,
    HttpRequestResult,
    build_http_request,
    http_request,
)
from tideflow.platform.settings import Settings, get_settings

_TEMPLATE = re.compile(r"\{\{#([a-zA-Z0-9_]{1,50}(?:\.[a-zA-Z_][a-zA-Z0-9_]{0,29}){1,10})#\}\}")

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

app = FastAPI()
# Requests the server has seen (path and Host header), for tests that check what arrived.
seen: list[tuple[str, str]] = []


@app.middleware("http")
async def _record(request: Request, call_next: Any) -> Response:
    seen.append((request.url.path, request.headers.get("host", "")))
    return await call_next(request)


@app.api_route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def echo(request: Request) -> JSONResponse:
    """What arrived: method, query pairs, headers, body (text and base64), parsed form."""
    body = await request.body()
    form: dict[str, list[Any]] = {}
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        for key, value in (await request.form()).multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                entry: Any = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "content_b64": base64.b64encode(data).decode(),
                }
            else:
                entry = value
            form.setdefault(key, []).append(entry)
    return JSONResponse(
        {
            "method": request.method,
            "query": list(request.query_params.multi_items()),
            "headers": dict(request.headers),
            "body": body.decode("utf-8", errors="replace"),
            "body_b64": base64.b64encode(body).decode(),
            "form": form,
        }
    )


@app.api_route("/status/{code}", methods=["GET", "HEAD"])
async def status(code: int) -> Response:
    """A text body with the given status."""
    return Response(f"status {code}", status_code=code, media_type="text/plain")


@app.get("/bytes")
async def some_bytes(
    size: int = 16, media_type: str | None = None, disposition: str | None = None, fill: str = "a"
) -> Response:
    """``size`` bytes of ``fill`` (or the PNG when fill=png) with the given headers."""
    content = PNG if fill == "png" else (fill.encode() * size)[:size]
    if fill == "binary":
        content = bytes(range(256)) * (size // 256 + 1)
        content = content[:size]
    headers = {"content-disposition": disposition} if disposition else {}
    response = Response(content, headers=headers)
    if media_type:
        response.headers["content-type"] = media_type
    else:
        del response.headers["content-type"]
    return response


@app.get("/redirect")
async def redirect(to: str) -> RedirectResponse:
    """A 302 to ``to``."""
    return RedirectResponse(to, status_code=302)


@app.get("/slow")
async def slow(seconds: float = 2.0) -> Response:
    """Answers after ``seconds``."""
    await asyncio.sleep(seconds)
    return Response("late", media_type="text/plain")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server() -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 in a thread; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    else:
        raise RuntimeError("the local test server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


UseSettings = Callable[..., Settings]


def apply_settings(monkeypatch: pytest.MonkeyPatch, data_dir: Path, **env: str) -> Settings:
    """Set TIDEFLOW_* variables (``data_dir`` as the data dir) and return fresh settings."""
    monkeypatch.setenv("TIDEFLOW_DATA_DIR", str(data_dir))
    for key, value in env.items():
        monkeypatch.setenv(f"TIDEFLOW_{key.upper()}", value)
    get_settings.cache_clear()
    return get_settings()


def variables(pool: dict[tuple[str, str], Any]) -> tuple[Callable[[str], str], Callable[..., Any]]:
    """render/resolve callbacks over a tiny variable pool, like the workflow's."""

    def resolve(selector: list[str]) -> Any:
        return pool.get((selector[0], selector[1])) if len(selector) >= 2 else None

    def render(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            value = resolve(match.group(1).split("."))
            return match.group(1) if value is None else str(value)

        return _TEMPLATE.sub(one, text)

    return render, resolve


def http_node(url: str, **data: Any) -> dict[str, Any]:
    """An http-request node's ``data`` as Dify's editor writes it, with ``data`` overrides."""
    return {
        "type": "http-request",
        "method": "get",
        "url": url,
        "authorization": {"type": "no-auth", "config": None},
        "headers": "",
        "params": "",
        "body": {"type": "none", "data": []},
        "timeout": {"max_connect_timeout": 0, "max_read_timeout": 0, "max_write_timeout": 0},
        **data,
    }


def build(data: dict[str, Any], pool: dict[tuple[str, str], Any] | None = None) -> HttpRequestInput:
    """build_http_request over ``pool``, as node http1."""
    render, resolve = variables(pool or {})
    return build_http_request("http1", data, render, resolve)


async def run(req: HttpRequestInput) -> HttpRequestResult:
    """The activity, run the way a worker runs it."""
    return await ActivityEnvironment().run(http_request, req)


async def fails(req: HttpRequestInput) -> ApplicationError:
    """The ApplicationError the activity raises for ``req``."""
    with pytest.raises(ApplicationError) as caught:
        await run(req)
    return caught.value


def echoed(result: HttpRequestResult) -> dict[str, Any]:
    """What /echo saw, from a 200 response."""
    assert result.status_code == 200, result.body
    return json.loads(result.body)
