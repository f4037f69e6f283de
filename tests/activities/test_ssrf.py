"""The SSRF guard: private targets refused by default, redirects re-checked, DNS pinned."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from typing import Any

import pytest

from tests.activities.support import (
    UseSettings,
    build,
    echoed,
    fails,
    http_node,
    run,
    seen,
)
from tideflow.activities.ssrf import blocked_reason


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "[fe80::1]",
        "[fc00::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:10.0.0.1]",
        "0.0.0.0",
        "[::]",
        "224.0.0.1",
        "[ff02::1]",
        "240.0.0.1",
        "100.64.0.1",
        "2130706433",
    ],
)
async def test_default_settings_refuse_private_targets(
    use_settings: UseSettings, host: str
) -> None:
    use_settings()
    error = await fails(build(http_node(f"http://{host}:8080/x")))
    assert error.type == "SSRFBlocked" and error.non_retryable
    assert f"http://{host}:8080/x" in error.message and "address" in error.message


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::7f00:1", "2002:7f00:1::", "2001:0:4136:e378:8000:63bf:80ff:fffe", "::127.0.0.1"],
)
def test_ipv4_inside_ipv6_is_checked(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


async def test_redirect_to_loopback_is_refused(server: str, use_settings: UseSettings) -> None:
    port = server.rsplit(":", 1)[1]
    use_settings(ssrf_allowed_hosts=json.dumps([f"127.0.0.1:{port}"]))
    # The allow-listed host itself is reachable...
    assert echoed(await run(build(http_node(f"{server}/echo"))))["method"] == "GET"
    # ...but its redirect to another loopback name is checked again, and refused.
    seen.clear()
    target = f"http://localhost:{port}/echo"
    error = await fails(build(http_node(f"{server}/redirect?to={target}")))
    assert error.type == "SSRFBlocked" and target in error.message and "loopback" in error.message
    assert [path for path, _ in seen] == ["/redirect"]


async def test_connects_to_the_checked_address_not_a_second_lookup(
    use_settings: UseSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the first answer is public and passes; a second lookup would give
    loopback. The request must go to the first answer (the test network guard refuses it)."""
    use_settings()
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    lookups: list[str] = []

    async def rebinding(host: Any, port: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            lookups.append(host)
            ip = "93.184.216.34" if len(lookups) == 1 else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
        return await real(host, port, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    error = await fails(build(http_node("http://rebind.test:8080/echo")))
    assert error.type == "HttpRequestNodeError"
    assert lookups == ["rebind.test"]


async def test_pinned_request_keeps_host_header_and_tries_each_address(
    server: str, use_settings: UseSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name resolving to ::1 then 127.0.0.1, with the server on the second only."""
    use_settings(allow_private_network="true")
    port = int(server.rsplit(":", 1)[1])
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def dual_stack(host: Any, port: Any, **kwargs: Any) -> Any:
        if host == "dual.test":
            return [
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
            ]
        return await real(host, port, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", dual_stack)
    seen.clear()
    assert echoed(await run(build(http_node(f"http://dual.test:{port}/echo"))))["method"] == "GET"
    assert seen == [("/echo", f"dual.test:{port}")]
