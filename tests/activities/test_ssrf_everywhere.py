"""Every outbound path refuses a workspace-chosen private URL before connecting.

For each path (http-request node, remote_url file downloads, web scraper, OpenAPI tools and
schema fetches, MCP over HTTP and SSE, model calls with a workspace base URL: completions,
embeddings, rerank and the credential check), a URL at 127.0.0.1, ``localhost``, the cloud
metadata address and a private range is refused with an error naming it, and a real loopback
listener on the port used sees no connection at all.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest
from sqlmodel import Session
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.activities.support import UseSettings, build, fails, http_node
from tideflow.activities.files import read_file_object
from tideflow.activities.knowledge.embedder import open_embedder, rerank_texts
from tideflow.activities.llm.activity import check_model_credentials
from tideflow.activities.llm.models import CredentialCheck
from tideflow.activities.llm.route import model_route
from tideflow.activities.ssrf import SSRFBlockedError
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.models import Tenant
from tideflow.platform.db.session import get_engine
from tideflow.platform.model_credentials import save_credentials, seal
from tideflow.platform.settings import Settings
from tideflow.plugins.tools.base import ToolContext
from tideflow.plugins.tools.mcp_client import McpServerConfig, list_mcp_tools
from tideflow.plugins.tools.openapi import (
    ApiAuth,
    ApiTool,
    OpenApiSchemaError,
    fetch_schema,
    parse_openapi,
)
from tideflow.plugins.tools.webscraper import fetch_page


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port = int(self._sock.getsockname()[1])
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        """Stop accepting and close the socket."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A loopback listener that must see no connection."""
    served = Listener()
    yield served
    served.close()


def targets(port: int) -> list[str]:
    """Private base URLs: loopback by address and by name (on the listener's port), the cloud
    metadata address and a private range."""
    return [
        f"http://127.0.0.1:{port}",
        f"http://localhost:{port}",
        "http://169.254.169.254",
        "http://10.0.0.1",
    ]


def assert_refused(error: BaseException, *names: str) -> None:
    """The refusal names each of ``names`` (the URL, the field) and says why."""
    text = str(error)
    for name in names:
        assert name in text, (name, text)
    assert "address" in text and "private networks are not allowed" in text, text


async def refused(call: Awaitable[Any]) -> SSRFBlockedError:
    """The SSRFBlockedError ``call`` raises."""
    with pytest.raises(SSRFBlockedError) as caught:
        await call
    return caught.value


def context(settings: Settings) -> ToolContext:
    return ToolContext(settings=settings, tenant_id="t1", node_id="tool1")


async def test_http_request_node(use_settings: UseSettings, listener: Listener) -> None:
    use_settings()
    for base in targets(listener.port):
        error = await fails(build(http_node(f"{base}/latest/meta-data")))
        assert error.type == "SSRFBlocked" and error.non_retryable
        assert_refused(error, f"{base}/latest/meta-data")
    assert listener.accepted == 0


async def test_remote_url_files(use_settings: UseSettings, listener: Listener) -> None:
    """Document extractor, LLM vision, the HTTP node's file bodies, OpenAPI file parameters
    and /v1 file inputs all download remote_url files through ``read_file_object``."""
    settings = use_settings()
    for base in targets(listener.port):
        url = f"{base}/doc.pdf"
        file = {"transfer_method": "remote_url", "remote_url": url, "filename": "doc.pdf"}
        assert_refused(await refused(read_file_object(file, settings, tenant_id="")), url)
    assert listener.accepted == 0


async def test_web_scraper(use_settings: UseSettings, listener: Listener) -> None:
    settings = use_settings()
    for base in targets(listener.port):
        error = await refused(fetch_page(f"{base}/page", "tideflow-test", context(settings)))
        assert_refused(error, f"{base}/page")
    assert listener.accepted == 0


def _openapi_schema(server: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": server}],
        "paths": {"/items": {"get": {"operationId": "list_items", "responses": {}}}},
    }


async def test_openapi_tool_and_schema_fetch(use_settings: UseSettings, listener: Listener) -> None:
    settings = use_settings()
    for base in targets(listener.port):
        (operation,) = parse_openapi(_openapi_schema(base))
        tool = ApiTool(operation, ApiAuth())
        error = await refused(tool.invoke({}, context(settings)))
        assert_refused(error, f"{base}/items")
        # The console's "import from URL": a 400 carrying the guard's words.
        with pytest.raises(OpenApiSchemaError) as caught:
            await fetch_schema(f"{base}/openapi.json", settings)
        assert_refused(caught.value, f"{base}/openapi.json")
    assert listener.accepted == 0


@pytest.mark.parametrize("path", ["/mcp", "/sse"])
async def test_mcp_over_http_and_sse(
    use_settings: UseSettings, listener: Listener, path: str
) -> None:
    settings = use_settings()
    for base in targets(listener.port):
        server = McpServerConfig.from_config({"url": f"{base}{path}", "timeout_s": 5})
        assert_refused(await refused(list_mcp_tools(server, settings)), base)
    assert listener.accepted == 0


def _tenant(settings: Settings, provider: str, credentials: dict[str, Any]) -> str:
    upgrade_database(settings.db_url)
    with Session(get_engine(settings.db_url)) as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.commit()
        save_credentials(session, tenant.id, provider, credentials, settings.secret_key)
        return tenant.id


async def _model_refused(call: Awaitable[Any], *names: str) -> None:
    with pytest.raises(ApplicationError) as caught:
        await call
    assert caught.value.type == "SSRFBlocked" and caught.value.non_retryable
    assert_refused(caught.value, *names)


# (provider, credentials with the base URL in {base}, the credential field holding it)
MODEL_PROVIDERS = [
    ("openai_api_compatible", {"endpoint_url": "{base}/v1", "api_key": "k"}, "endpoint_url"),
    ("ollama", {"base_url": "{base}"}, "base_url"),
    ("openai", {"openai_api_key": "k", "openai_api_base": "{base}"}, "openai_api_base"),
    (
        "azure_openai",
        {"openai_api_base": "{base}", "openai_api_key": "k", "openai_api_version": "2024-10-21"},
        "openai_api_base",
    ),
]


@pytest.mark.parametrize(("provider", "template", "field"), MODEL_PROVIDERS)
async def test_model_calls_with_a_workspace_base_url(
    use_settings: UseSettings,
    listener: Listener,
    provider: str,
    template: dict[str, str],
    field: str,
) -> None:
    """LLM nodes, embeddings and rerank all route through ``model_route``; the credential
    check (before saving) through ``check_model_credentials``."""
    settings = use_settings()
    env = ActivityEnvironment()
    for base in targets(listener.port):
        credentials = {k: v.format(base=base) for k, v in template.items()}
        tenant = _tenant(settings, provider, credentials)
        check = CredentialCheck(
            provider=provider,
            sealed_credentials=seal(credentials, settings.secret_key),
            model="m",
        )
        calls: list[Awaitable[Any]] = [
            model_route(settings, tenant, provider, "m"),
            open_embedder(settings, tenant, provider, "e"),
            rerank_texts(settings, tenant, provider, "r", "q", ["d"], None),
            env.run(check_model_credentials, check),
        ]
        for call in calls:
            await _model_refused(call, field, base)
    assert listener.accepted == 0


async def test_bedrock_endpoint_and_region_names(use_settings: UseSettings) -> None:
    settings = use_settings()
    base = {"aws_access_key_id": "a", "aws_secret_access_key": "s", "aws_region": "us-east-1"}
    endpoint = {**base, "bedrock_endpoint_url": "http://169.254.169.254"}
    tenant = _tenant(settings, "bedrock", endpoint)
    await _model_refused(model_route(settings, tenant, "bedrock", "m"), "169.254.169.254")
    # A "region" that would move the host (bedrock-runtime.{region}.amazonaws.com).
    smuggled = {**base, "aws_region": "x@127.0.0.1:80/"}
    tenant = _tenant(settings, "bedrock", smuggled)
    with pytest.raises(ApplicationError, match="aws_region is not a region name") as caught:
        await model_route(settings, tenant, "bedrock", "m")
    assert caught.value.type == "SSRFBlocked"


async def test_allow_listed_and_gateway_routes_pass(
    use_settings: UseSettings, listener: Listener
) -> None:
    """The operator's own choices are trusted: an allow-listed host, and the model gateway."""
    host = f"127.0.0.1:{listener.port}"
    settings = use_settings(ssrf_allowed_hosts=f'["{host}"]')
    credentials = {"endpoint_url": f"http://{host}/v1", "api_key": "k"}
    tenant = _tenant(settings, "openai_api_compatible", credentials)
    _, kwargs = await model_route(settings, tenant, "openai_api_compatible", "m")
    assert kwargs["api_base"] == f"http://{host}/v1"
    gateway = use_settings(model_gateway_url=f"http://localhost:{listener.port}/v1")
    _, kwargs = await model_route(gateway, "any-tenant", "openai", "gpt-4o")
    assert kwargs["api_base"] == f"http://localhost:{listener.port}/v1"
