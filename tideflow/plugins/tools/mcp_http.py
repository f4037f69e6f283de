"""HTTP to remote MCP servers through the SSRF guard.

The ``mcp`` SDK speaks HTTP with ``httpx2`` (a fork of httpx with the same transport API), so
``tideflow.activities.ssrf.GuardedTransport`` cannot be plugged in as is; this is the same guard
for httpx2: every request's host is resolved and checked by ``resolve_checked`` and the
connection goes to the checked address (Host header and TLS SNI keep the name), so a DNS answer
that changes between check and connect cannot redirect it.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import httpx2

from tideflow.activities.ssrf import resolve_checked, send_to_checked
from tideflow.platform.settings import Settings


class GuardedTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport that checks every request's target and connects to the checked IP."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # Keep-alive is safe here, unlike in the HTTP node's guard: connections are pooled by
        # IP, and a client made by ``guarded_client`` only ever talks to one host name.
        self._inner = httpx2.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Check the request's host, then send it to a checked address."""
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        try:
            addresses = await resolve_checked(
                httpx.URL(str(request.url)), self._settings, resolve_timeout=timeouts.get("connect")
            )
        except httpx.TimeoutException as exc:
            raise httpx2.ConnectTimeout(str(exc), request=request) from None
        except httpx.TransportError as exc:
            raise httpx2.ConnectError(str(exc), request=request) from None
        return await send_to_checked(
            request, addresses, self._inner.handle_async_request, httpx2.ConnectError
        )

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._inner.aclose()


def guarded_client(
    settings: Settings,
    headers: Mapping[str, str] | None = None,
    timeout: httpx2.Timeout | None = None,
    auth: httpx2.Auth | None = None,
) -> httpx2.AsyncClient:
    """An httpx2 client for one MCP server whose every request passes the SSRF guard. Its
    signature fits the SDK's ``httpx_client_factory`` once ``settings`` is bound.

    Redirects are left to the MCP transports, which follow them only within the server's
    origin; environment proxies are ignored (the guard must see the real target).
    """
    return httpx2.AsyncClient(
        transport=GuardedTransport(settings),
        headers=dict(headers) if headers is not None else None,
        timeout=timeout if timeout is not None else httpx2.Timeout(30.0),
        auth=auth,
        trust_env=False,
    )
