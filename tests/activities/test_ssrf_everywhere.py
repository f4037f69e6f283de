"""Every outbound path refuses a workspace-chosen private URL before connecting.

For each path (http-request node, remote_url file downloads, web scraper, OpenAPI tools and
schema fetches, MCP over HTTP and SSE, model calls with a workspace base URL: completions,
embeddings, rerank and the credential check; the URLs inside a Vertex credential JSON), a URL
at 127.0.0.1, ``localhost``, the cloud metadata address and a private range is refused with an
error naming it, and a real loopback listener on the port used sees no connection at all.
"""

from __future__ import annotations

import base64
import json
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
from tideflow.activities.ssrf import SSRFBlockedError, check_model_endpoint
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


# A Google service-account key as the console downloads it (the key itself shortened).
SERVICE_ACCOUNT = {
    "type": "service_account",
    "project_id": "acme",
    "private_key_id": "0123",
    "private_key": "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n",
    "client_email": "bot@acme.iam.gserviceaccount.com",
    "client_id": "1",
    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    "token_uri": "https://oauth2.googleapis.com/token",
    "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
    "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/bot",
    "universe_domain": "googleapis.com",
}


def _external_account(**overrides: Any) -> dict[str, Any]:
    """A workload-identity ("external_account") credential with a URL subject token source."""
    return {
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {"url": "https://idp.example.com/token"},
        **overrides,
    }


async def _vertex_refused(credential: Any, settings: Settings) -> SSRFBlockedError:
    text = credential if isinstance(credential, str) else json.dumps(credential)
    return await refused(check_model_endpoint({"vertex_credentials": text}, settings, {}))


async def test_vertex_credential_urls(use_settings: UseSettings, listener: Listener) -> None:
    """google-auth fetches the URLs in a Vertex credential JSON from the worker: each is
    checked like a base URL, and named by its path in the JSON."""
    settings = use_settings()
    for base in targets(listener.port):
        cases = {
            "credential_source.url": _external_account(credential_source={"url": f"{base}/t"}),
            "token_url": _external_account(token_url=f"{base}/token"),
            "service_account_impersonation_url": _external_account(
                service_account_impersonation_url=f"{base}/impersonate"
            ),
            "token_uri": {**SERVICE_ACCOUNT, "token_uri": f"{base}/token"},
            "token_uri ": {"type": "authorized_user", "token_uri": f"{base}/token"},
        }
        for path, credential in cases.items():
            error = await _vertex_refused(credential, settings)
            assert_refused(error, f"vertex_credentials.{path.strip()}", base)
    assert listener.accepted == 0


async def test_vertex_credentials_from_the_worker_are_refused(use_settings: UseSettings) -> None:
    settings = use_settings()
    local = {
        "file": {"file": "/var/run/secrets/token"},
        "executable": {"executable": {"command": "/bin/cat /etc/passwd"}},
        "environment_id": {"environment_id": "aws1", "region_url": "https://example.com/r"},
    }
    for key, source in local.items():
        error = await _vertex_refused(_external_account(credential_source=source), settings)
        assert f"vertex_credentials.credential_source.{key}" in str(error), error
    error = await _vertex_refused(_external_account(aws_profile_name="default"), settings)
    assert "vertex_credentials.aws_profile_name is not allowed" in str(error), error
    # Not JSON: litellm would read it as a path on the worker.
    for text in ("/etc/passwd", "{not json", "[1, 2]"):
        error = await _vertex_refused(text, settings)
        assert "vertex_credentials" in str(error) and "JSON" in str(error), error
    smuggled = {**SERVICE_ACCOUNT, "universe_domain": "x@169.254.169.254/"}
    error = await _vertex_refused(smuggled, settings)
    assert "vertex_credentials.universe_domain is not a host name" in str(error), error


async def test_a_normal_vertex_service_account_passes(use_settings: UseSettings) -> None:
    """Only the check: Google's public hosts pass (or cannot be resolved here, which the check
    lets through to fail in the call itself)."""
    settings = use_settings()
    kwargs = {"vertex_credentials": json.dumps(SERVICE_ACCOUNT), "vertex_location": "us-central1"}
    await check_model_endpoint(kwargs, settings, {})
    await check_model_endpoint(
        {"vertex_credentials": json.dumps(_external_account())}, settings, {}
    )


async def test_vertex_model_route_names_the_credential_field(use_settings: UseSettings) -> None:
    """Through the model route: a non-retryable SSRFBlocked naming the workspace's field."""
    settings = use_settings()
    credential = _external_account(credential_source={"url": "http://169.254.169.254/token"})
    key = base64.b64encode(json.dumps(credential).encode()).decode()
    stored = {"vertex_project_id": "acme", "vertex_location": "us-central1"}
    tenant = _tenant(settings, "vertex_ai", {**stored, "vertex_service_account_key": key})
    await _model_refused(
        model_route(settings, tenant, "vertex_ai", "gemini-2.0-flash"),
        "vertex_service_account_key.credential_source.url",
        "169.254.169.254",
    )
