"""The SSRF guard every outbound request from a node goes through.

A URL's host is resolved once, every address it resolves to is checked, and the connection is
made to the checked address (the request is rewritten to the IP, with the Host header and TLS
SNI kept as the original name), so a DNS answer that changes between check and connect
("rebinding") cannot redirect the request. The check runs inside the transport, so each
redirect hop is checked the same way as the first request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import httpx

from tideflow.platform.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
T = TypeVar("T")

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT: private in practice


class SSRFBlockedError(Exception):
    """An outbound request refused by the guard; names the URL and why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"refused to connect to {url}: {reason}")
        self.url = url
        self.reason = reason


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be reached from a node, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = blocked_reason(inner)
            return f"{reason} (inside IPv6 {ip})" if reason else None
    checks = (
        (ip.is_unspecified, "unspecified address"),
        (ip.is_loopback, "loopback address"),
        (ip.is_link_local, "link-local address"),
        (ip.is_multicast, "multicast address"),
        (ip.is_private, "private address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "shared (CGNAT) address"),
        (ip.is_reserved, "reserved address"),
        (not ip.is_global, "non-global address"),
    )
    for hit, label in checks:
        if hit:
            return f"{ip} is a {label}"
    return None


async def resolve_checked(
    url: httpx.URL, settings: Settings, *, resolve_timeout: float | None = None
) -> list[IPAddress]:
    """Resolve ``url``'s host; return its addresses (all checked), or raise SSRFBlockedError."""
    shown = str(url)
    if url.scheme not in ("http", "https"):
        raise SSRFBlockedError(shown, f"scheme {url.scheme or '(none)'!r} is not http or https")
    host = url.host
    if not host:
        raise SSRFBlockedError(shown, "the URL has no host")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        # A hung resolver counts against the connect timeout, as the connect itself would.
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
            timeout=resolve_timeout,
        )
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    except TimeoutError:
        raise httpx.ConnectTimeout(f"resolving host {host!r} timed out") from None
    addresses: list[IPAddress] = []
    for info in infos:
        # The scope id (fe80::1%eth0) is not part of the address for checking.
        text = str(info[4][0]).split("%")[0]
        address = ipaddress.ip_address(text)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise httpx.ConnectError(f"host {host!r} resolved to no address")
    exempt = settings.allow_private_network or _is_allowed_host(url, settings)
    if not exempt:
        # Every answer must pass: a name resolving to public and private addresses is refused.
        for address in addresses:
            reason = blocked_reason(address)
            if reason:
                raise SSRFBlockedError(
                    shown,
                    f"{host} resolves to {reason}; private networks are not allowed "
                    "(set TIDEFLOW_ALLOW_PRIVATE_NETWORK or TIDEFLOW_SSRF_ALLOWED_HOSTS)",
                )
    return addresses


def _is_allowed_host(url: httpx.URL, settings: Settings) -> bool:
    # Compared as written in URLs: "name", "name:port", "1.2.3.4:port", "[::1]:port".
    host = f"[{url.host}]" if ":" in url.host else url.host.lower()
    with_port = f"{host}:{url.port}" if url.port else host
    allowed = {entry.strip().lower() for entry in settings.ssrf_allowed_hosts}
    return host in allowed or with_port in allowed


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that checks every request's target and connects to the checked IP."""

    def __init__(self, settings: Settings, *, verify: bool = True) -> None:
        self._settings = settings
        # No keep-alive: connections are pooled by IP, and reusing a TLS connection made for
        # one host name to serve another name on the same IP would skip its SNI and cert check.
        self._inner = httpx.AsyncHTTPTransport(
            verify=verify, retries=0, limits=httpx.Limits(max_keepalive_connections=0)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Check the request's host, then send it to the resolved address."""
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        addresses = await resolve_checked(
            request.url, self._settings, resolve_timeout=timeouts.get("connect")
        )
        return await send_to_checked(
            request, addresses, self._inner.handle_async_request, httpx.ConnectError
        )

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._inner.aclose()


async def send_to_checked(
    request: Any,
    addresses: Sequence[IPAddress],
    send: Callable[[Any], Awaitable[T]],
    connect_error: type[Exception],
) -> T:
    """Send ``request`` (an httpx or httpx2 Request: the same API) to the checked addresses,
    each in turn until one accepts the connection (localhost gives ::1 and 127.0.0.1; a
    server may listen on only one), keeping its Host header and TLS name."""
    extensions: dict[str, Any] = dict(request.extensions)
    if request.url.scheme == "https":
        extensions["sni_hostname"] = request.url.host
    for index, address in enumerate(addresses):
        pinned = type(request)(
            request.method,
            request.url.copy_with(host=str(address)),
            headers=request.headers,  # keeps Host: <original name>
            stream=request.stream,
            extensions=extensions,
        )
        try:
            return await send(pinned)
        except connect_error:
            if index == len(addresses) - 1:
                raise
    raise AssertionError("unreachable: resolve_checked returns at least one address")


class BodyTooLargeError(Exception):
    """A response body over its limit. ``declared`` is the Content-Length that said so
    before anything was read; None when the bytes read passed the limit."""

    def __init__(self, limit: int, declared: str | None) -> None:
        super().__init__(f"the body is over the limit of {limit} bytes")
        self.limit = limit
        self.declared = declared


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The response body, read no further than ``limit`` bytes: BodyTooLargeError as soon as
    the declared length or the bytes read are over it."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(limit, declared)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise BodyTooLargeError(limit, None)
    return bytes(body)


def guarded_client(
    settings: Settings,
    *,
    timeout: httpx.Timeout,
    verify: bool = True,
    follow_redirects: bool = True,
    max_redirects: int = 10,
) -> httpx.AsyncClient:
    """An AsyncClient whose every request and redirect hop passes the SSRF guard.

    Environment proxies are ignored (``trust_env=False``): the guard must see the real target.
    """
    return httpx.AsyncClient(
        transport=GuardedTransport(settings, verify=verify),
        timeout=timeout,
        follow_redirects=follow_redirects,
        max_redirects=max_redirects,
        trust_env=False,
    )


# litellm arguments holding a URL the workspace chose (a model provider's base URL).
MODEL_URL_ARGS = ("api_base", "aws_bedrock_runtime_endpoint")
# litellm arguments it pastes into a host name (``{location}-aiplatform.googleapis.com``):
# anything but a region name there could move the request to another host.
_MODEL_HOST_PART_ARGS = ("vertex_location", "aws_region_name")
_REGION = re.compile(r"[A-Za-z0-9-]{1,64}")
_MODEL_RESOLVE_TIMEOUT_S = 10.0


async def check_model_endpoint(
    kwargs: Mapping[str, Any], settings: Settings, names: Mapping[str, str]
) -> None:
    """Refuse a model call whose workspace-chosen endpoint is private (SSRFBlockedError naming
    the credential: ``names`` maps a litellm argument to it). Not for the operator's gateway.

    litellm connects on its own, so this checks the addresses before the call; a host that
    cannot be resolved now is let through, to fail in the call as a connection error.
    """
    for arg in _MODEL_HOST_PART_ARGS:
        value = kwargs.get(arg)
        if value not in (None, "") and not _REGION.fullmatch(str(value)):
            raise SSRFBlockedError(str(value), f"{names.get(arg, arg)} is not a region name")
    urls = [(names.get(arg, arg), kwargs.get(arg)) for arg in MODEL_URL_ARGS]
    if kwargs.get("vertex_credentials") not in (None, ""):
        field = names.get("vertex_credentials", "vertex_credentials")
        urls += _credential_urls(field, kwargs["vertex_credentials"])
    for field, value in urls:
        if value in (None, ""):
            continue
        try:
            url = httpx.URL(str(value))
        except httpx.InvalidURL as exc:
            raise SSRFBlockedError(str(value), f"{field} is not a valid URL: {exc}") from None
        try:
            await resolve_checked(url, settings, resolve_timeout=_MODEL_RESOLVE_TIMEOUT_S)
        except SSRFBlockedError as exc:
            raise SSRFBlockedError(exc.url, f"{field}: {exc.reason}") from None
        except httpx.TransportError:
            continue


# Google credential sources that read the worker's own files, run commands on it, or use its
# AWS identity (environment variables, instance metadata) instead of the workspace's.
_LOCAL_CREDENTIAL_SOURCES = ("file", "executable", "environment_id")


def _credential_urls(field: str, value: Any) -> list[tuple[str, Any]]:
    """The URLs google-auth fetches from the worker for a Google credential JSON
    (``vertex_credentials``: token_uri, token_url, credential_source.url...), each named by
    its path (``field.credential_source.url``). SSRFBlockedError for a credential that is not
    a JSON object, or that reads the worker's files, runs its commands or uses its identity."""
    try:
        # litellm would take a string that is not JSON as a file path to read.
        parsed: object = json.loads(value) if isinstance(value, str) else value
    except ValueError as exc:
        raise SSRFBlockedError(field, f"{field} is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise SSRFBlockedError(field, f"{field} must be a JSON object")
    credential = cast(dict[str, Any], parsed)
    source: object = credential.get("credential_source")
    for key in _LOCAL_CREDENTIAL_SOURCES:
        if isinstance(source, dict) and key in source:
            where = f"{field}.credential_source.{key}"
            raise SSRFBlockedError(where, f"{where} uses the worker's own files or identity")
    for key in credential:
        if str(key).startswith("aws_"):  # litellm's AWS workload identity: the worker's
            raise SSRFBlockedError(f"{field}.{key}", f"{field}.{key} is not allowed")
    found: list[tuple[str, Any]] = []
    _walk_urls(field, credential, found)
    return found


def _walk_urls(path: str, node: object, found: list[tuple[str, Any]]) -> None:
    """Collect each string under a key named ``url`` or ending in ``url``/``uri``, and
    ``universe_domain`` (the host name google-auth builds its default URLs on)."""
    if isinstance(node, dict):
        items = [(str(k), v) for k, v in cast(dict[Any, Any], node).items()]
    elif isinstance(node, list):
        items = [(str(i), v) for i, v in enumerate(cast(list[Any], node))]
    else:
        return
    for key, value in items:
        where = f"{path}.{key}"
        if not isinstance(value, str):
            _walk_urls(where, value, found)
        elif key.lower().endswith(("url", "uri")):
            found.append((where, value))
        elif key == "universe_domain":
            if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", value):
                raise SSRFBlockedError(value, f"{where} is not a host name")
            found.append((where, f"https://{value}"))
