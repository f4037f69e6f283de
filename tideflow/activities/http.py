"""The http-request node's side effect: build a concrete request in the workflow, send it here.

``build_http_request`` is pure (it runs in workflow code); ``http_request`` is the activity. The
wire details (multipart encoding, telling a file response from text) live in ``http_wire``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal, cast, get_args
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tideflow.activities.files import FileFetchError, read_file_object
from tideflow.activities.heartbeat import attempt, heartbeating, node_attempts
from tideflow.activities.http_build import (
    DEFAULT_TIMEOUTS,
    add_authorization,
    build_body,
    read_timeouts,
    rendered_lines,
)
from tideflow.activities.http_wire import ResponseSizeError, encode_multipart, read_response
from tideflow.activities.ssrf import SSRFBlockedError, guarded_client
from tideflow.platform.settings import Settings, get_settings

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
BodyType = Literal["none", "form-data", "x-www-form-urlencoded", "raw-text", "json", "binary"]


class HttpRequestConfigError(ValueError):
    """A mistake in the node's config (or in what its templates render to); names the field."""

    def __init__(self, node_id: str, field: str, message: str) -> None:
        super().__init__(f"http-request node {node_id}: {field}: {message}")
        self.node_id = node_id
        self.field = field


class HttpTimeout(BaseModel):
    """Per-phase timeouts in seconds (capped by the settings' maxima when sent)."""

    connect: float = DEFAULT_TIMEOUTS["connect"]
    read: float = DEFAULT_TIMEOUTS["read"]
    write: float = DEFAULT_TIMEOUTS["write"]


class HttpRequestInput(BaseModel):
    """A fully rendered request: nothing in it refers to variables any more."""

    node_id: str
    method: HttpMethod
    url: str
    headers: dict[str, str] = Field(default_factory=dict[str, str])
    params: list[tuple[str, str]] = Field(default_factory=list[tuple[str, str]])
    body_type: BodyType = "none"
    # raw-text and json bodies, already serialized.
    content: str | None = None
    # form-data text fields, or x-www-form-urlencoded pairs.
    form: list[tuple[str, str]] = Field(default_factory=list[tuple[str, str]])
    # form-data file fields: (field name, Dify file object).
    form_files: list[tuple[str, dict[str, Any]]] = Field(
        default_factory=list[tuple[str, dict[str, Any]]]
    )
    binary_file: dict[str, Any] | None = None
    timeout: HttpTimeout = Field(default_factory=HttpTimeout)
    # None: the settings' default (Dify's HTTP_REQUEST_NODE_SSL_VERIFY).
    ssl_verify: bool | None = None
    follow_redirects: bool = True
    # Dify fails the node on a non-2xx status only when retry or an error strategy can act on it.
    fail_on_error_status: bool = False
    # The node's retry_config as attempts (retries + 1): its own failures stop there, attempts
    # lost with their worker do not (set by the workflow node, not by build_http_request).
    max_attempts: int | None = None
    # The run's workspace: the only one whose stored files the body may carry, and the owner
    # of a response saved as a file (set by the workflow node).
    tenant_id: str = ""


class HttpRequestResult(BaseModel):
    """The node's outputs: ``body`` is empty when the response was saved as a file."""

    status_code: int
    body: str
    headers: dict[str, str]
    files: list[dict[str, Any]]
    # The activity attempt that got this response (1 for the first), for the run log.
    attempt: int = 1


def build_http_request(
    node_id: str,
    data: dict[str, Any],
    render: Callable[[str], str],
    resolve: Callable[[list[str]], Any],
) -> HttpRequestInput:
    """Turn a Dify http-request node's ``data`` into a concrete request. Pure: no I/O.

    ``render`` fills ``{{#node.var#}}`` templates; ``resolve`` reads a variable by selector.
    Raises HttpRequestConfigError naming the field at fault.
    """

    def fail(field: str, message: str) -> HttpRequestConfigError:
        return HttpRequestConfigError(node_id, field, message)

    method = str(data.get("method") or "get").upper()
    if method not in get_args(HttpMethod):
        raise fail("method", f"unsupported method {data.get('method')!r}")
    url = render(str(data.get("url") or "")).strip()
    if not url.lower().startswith(("http://", "https://")):
        raise fail("url", f"must start with http:// or https:// (got {url!r})")
    headers = dict(rendered_lines(data.get("headers"), render, "headers", fail))
    params = rendered_lines(data.get("params"), render, "params", fail)
    add_authorization(data.get("authorization"), headers, render, fail)
    body = build_body(data.get("body"), headers, render, resolve, fail)
    retry: Any = data.get("retry_config")
    retry_enabled = isinstance(retry, dict) and bool(
        cast(dict[str, Any], retry).get("retry_enabled")
    )
    return HttpRequestInput(
        node_id=node_id,
        method=cast(HttpMethod, method),
        url=url,
        headers=headers,
        params=params,
        timeout=HttpTimeout(**read_timeouts(data.get("timeout"), fail)),
        ssl_verify=None if data.get("ssl_verify") is None else bool(data.get("ssl_verify")),
        follow_redirects=bool(data.get("follow_redirects", True)),
        fail_on_error_status=bool(data.get("error_strategy")) or retry_enabled,
        **body,
    )


@activity.defn(name="http_request")
async def http_request(req: HttpRequestInput) -> HttpRequestResult:
    """Send the request through the SSRF guard and return the node's outputs.

    Failures are ApplicationErrors whose ``type`` is Dify's error type: HTTPResponseCodeError
    (details[0] = the outputs), HttpRequestNodeError (network; retryable), ResponseSizeError,
    SSRFBlocked and FileFetchError (not retryable). None is retried past ``max_attempts``.
    """
    with node_attempts(req.max_attempts):
        return await _http_request(req)


async def _http_request(req: HttpRequestInput) -> HttpRequestResult:
    settings = get_settings()
    try:
        async with heartbeating():  # reads may take minutes: let cancellation reach them
            result = await _send(req, settings)
    except SSRFBlockedError as exc:
        raise ApplicationError(str(exc), type="SSRFBlocked", non_retryable=True) from None
    except FileFetchError as exc:
        raise ApplicationError(
            str(exc), type="FileFetchError", non_retryable=not exc.retryable
        ) from None
    except ResponseSizeError as exc:
        raise ApplicationError(str(exc), type="ResponseSizeError") from None
    except httpx.TimeoutException as exc:
        raise ApplicationError(
            f"{req.method} {req.url}: timed out {_timeout_phase(exc)} "
            f"({exc or type(exc).__name__})",
            type="HttpRequestNodeError",
        ) from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise ApplicationError(
            f"{req.url}: invalid URL ({exc})", type="InvalidURLError", non_retryable=True
        ) from None
    except httpx.HTTPError as exc:
        raise ApplicationError(
            f"{req.method} {req.url} failed: {exc or type(exc).__name__}",
            type="HttpRequestNodeError",
        ) from None
    if req.fail_on_error_status and not 200 <= result.status_code < 300:
        message = result.body or f"HTTP {result.status_code} from {req.url}"
        raise ApplicationError(
            message, result.model_dump(exclude={"attempt"}), type="HTTPResponseCodeError"
        )
    return result.model_copy(update={"attempt": attempt()})


def _timeout_phase(exc: httpx.TimeoutException) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connecting"
    if isinstance(exc, httpx.WriteTimeout):
        return "sending the request"
    if isinstance(exc, httpx.PoolTimeout):
        return "waiting for a connection"
    return "reading the response"


async def _request_content(
    req: HttpRequestInput, settings: Settings
) -> tuple[bytes | None, dict[str, str]]:
    """The body bytes and the headers to send with them."""
    headers = dict(req.headers)
    if req.body_type in ("raw-text", "json"):
        return (req.content or "").encode(), headers
    if req.body_type == "x-www-form-urlencoded":
        return urlencode(req.form).encode(), headers
    if req.body_type == "binary" and req.binary_file is not None:
        return await read_file_object(req.binary_file, settings, tenant_id=req.tenant_id), headers
    if req.body_type == "form-data":
        contents = await asyncio.gather(
            *(read_file_object(f, settings, tenant_id=req.tenant_id) for _, f in req.form_files)
        )
        content, headers["Content-Type"] = encode_multipart(
            req.form, req.form_files, list(contents)
        )
        return content, headers
    return None, headers


async def _send(req: HttpRequestInput, settings: Settings) -> HttpRequestResult:
    timeout = httpx.Timeout(
        connect=min(req.timeout.connect, settings.http_max_connect_timeout_s),
        read=min(req.timeout.read, settings.http_max_read_timeout_s),
        write=min(req.timeout.write, settings.http_max_write_timeout_s),
        pool=min(req.timeout.connect, settings.http_max_connect_timeout_s),
    )
    verify = settings.http_ssl_verify if req.ssl_verify is None else req.ssl_verify
    content, text_headers = await _request_content(req, settings)
    # UTF-8 header values: httpx would refuse non-ASCII text, and Dify users put any text there.
    headers = [(key.encode(), value.encode()) for key, value in text_headers.items()]
    client = guarded_client(
        settings, timeout=timeout, verify=verify, follow_redirects=req.follow_redirects
    )
    async with client:
        # Params add to the URL's own query string rather than replace it.
        url = httpx.URL(req.url).copy_merge_params(list(req.params))
        request = client.build_request(req.method, url, headers=headers, content=content)
        response = await client.send(request, stream=True)
        try:
            body, files = await read_response(response, settings, req.tenant_id)
        finally:
            await response.aclose()
    headers_out = dict(response.headers.items())
    return HttpRequestResult(
        status_code=response.status_code, body=body, headers=headers_out, files=files
    )
