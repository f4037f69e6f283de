"""A workspace's own tool providers through the console API, called by tool nodes: an
OpenAPI service imported as a provider, and a real MCP server process (real API, real
Temporal worker, SQLite)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.fakes.openapi_service import OpenApiService, start_openapi_service
from tests.plugins.test_mcp_client import TOKEN, HttpServer, calls
from tests.runtime.worker_process import kill_tree
from tideflow.platform.settings import get_settings

TOOLS = "/console/api/workspaces/current"


@pytest.fixture
def pets(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenApiService]:
    """The pet-store service, reachable through the SSRF guard (API and worker)."""
    del api  # the API's settings first, then the allowance on top of them
    with start_openapi_service() as service:
        monkeypatch.setenv("TIDEFLOW_SSRF_ALLOWED_HOSTS", json.dumps([f"127.0.0.1:{service.port}"]))
        get_settings.cache_clear()
        yield service


@pytest.fixture
def mcp_server(api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HttpServer]:
    """A real MCP server process (streamable HTTP), reachable through the SSRF guard."""
    del api
    server = HttpServer("streamable-http", tmp_path / "calls.jsonl")
    try:
        monkeypatch.setenv("TIDEFLOW_SSRF_ALLOWED_HOSTS", json.dumps([f"127.0.0.1:{server.port}"]))
        get_settings.cache_clear()
        yield server
    finally:
        kill_tree(server.proc)


def _tool_app(provider_type: str, provider_id: str, tool: str, params: dict[str, Any]) -> str:
    nodes = [
        {"id": "start", "data": {"type": "start", "title": "Start", "variables": []}},
        {
            "id": "tool",
            "data": {
                "type": "tool",
                "title": "Call",
                "provider_type": provider_type,
                "provider_id": provider_id,
                "tool_name": tool,
                "tool_parameters": {
                    name: {"type": "constant", "value": value} for name, value in params.items()
                },
            },
        },
        {
            "id": "end",
            "data": {
                "type": "end",
                "title": "End",
                "outputs": [
                    {"variable": "text", "value_selector": ["tool", "text"]},
                    {"variable": "json", "value_selector": ["tool", "json"]},
                ],
            },
        },
    ]
    return json.dumps(
        {
            "kind": "app",
            "version": "0.3.0",
            "app": {"mode": "workflow", "name": f"{provider_type} caller"},
            "workflow": {
                "graph": {
                    "nodes": nodes,
                    "edges": [
                        {"id": "e1", "source": "start", "target": "tool"},
                        {"id": "e2", "source": "tool", "target": "end"},
                    ],
                }
            },
        }
    )


async def _run_app(api: Api, dsl: str) -> dict[str, Any]:
    imported = await api.http.post(
        "/console/api/apps/imports", json={"yaml_content": dsl}, headers=api.console
    )
    assert imported.status_code == 201, imported.text
    app_id = imported.json()["app_id"]
    published = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/publish", headers=api.console
    )
    assert published.status_code == 201, published.text
    response = await api.http.post(
        "/v1/workflows/run",
        json={"inputs": {}, "user": "u1", "response_mode": "blocking"},
        headers=await api.app_key(app_id),
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_an_openapi_service_becomes_tools_a_node_calls(
    api: Api, pets: OpenApiService
) -> None:
    remote = await api.http.get(
        f"{TOOLS}/tool-provider/api/remote",
        params={"url": f"{pets.base_url}/openapi.json"},
        headers=api.console,
    )
    assert remote.status_code == 200, remote.text
    schema = remote.json()["schema"]
    credentials = {
        "auth_type": "api_key_header",
        "api_key_header": "Authorization",
        "api_key_value": "sekret",
        "api_key_header_prefix": "bearer",
    }
    added = await api.http.post(
        f"{TOOLS}/tool-provider/api/add",
        json={"provider": "pets", "schema": schema, "credentials": credentials},
        headers=api.console,
    )
    assert added.status_code == 200, added.text
    got = await api.http.get(
        f"{TOOLS}/tool-provider/api/get", params={"provider": "pets"}, headers=api.console
    )
    assert got.status_code == 200, got.text
    assert got.json()["credentials"]["api_key_value"] == "[__HIDDEN__]"
    assert "sekret" not in got.text
    names = {t["name"] for t in got.json()["tools"]}
    assert {"getPet", "listPets", "createPet"} <= names

    data = await _run_app(
        api, _tool_app("api", added.json()["id"], "getPet", {"pet_id": "rex 1", "verbose": True})
    )
    assert data["status"] == "succeeded", data
    assert data["outputs"]["json"] == [{"pet_id": "rex 1", "verbose": True, "fields": None}]
    assert pets.last().headers["authorization"] == "Bearer sekret"

    # Saved again with the secret masked: the stored key is kept.
    updated = await api.http.post(
        f"{TOOLS}/tool-provider/api/update",
        json={
            "provider": "pets",
            "original_provider": "pets",
            "schema": schema,
            "credentials": {**credentials, "api_key_value": "[__HIDDEN__]"},
        },
        headers=api.console,
    )
    assert updated.status_code == 200, updated.text
    # A DSL from another workspace names the provider by its name.
    again = await _run_app(api, _tool_app("api", "pets", "listPets", {"limit": 1}))
    assert again["status"] == "succeeded", again
    assert pets.last().headers["authorization"] == "Bearer sekret"
    assert pets.last().query == [("limit", "1")]


async def test_bad_openapi_providers_are_refused_naming_the_problem(
    api: Api, pets: OpenApiService
) -> None:
    bad_schema = await api.http.post(
        f"{TOOLS}/tool-provider/api/add",
        json={"provider": "x", "schema": '{"openapi": "3.0.0", "paths": {}}'},
        headers=api.console,
    )
    assert bad_schema.status_code == 400 and "schema" in bad_schema.text, bad_schema.text
    body = {"type": "object", "required": True, "properties": {"a": {"type": "string"}}}
    malformed = {
        "openapi": "3.0.0",
        "servers": [{"url": "http://example.com"}],
        "paths": {
            "/x": {
                "post": {
                    "operationId": "x",
                    "requestBody": {"content": {"application/json": {"schema": body}}},
                }
            }
        },
    }
    shaped = await api.http.post(
        f"{TOOLS}/tool-provider/api/schema",
        json={"schema": json.dumps(malformed)},
        headers=api.console,
    )
    assert shaped.status_code == 400 and "schema" in shaped.text, shaped.text
    remote = await api.http.get(
        f"{TOOLS}/tool-provider/api/remote",
        params={"url": f"{pets.base_url}/openapi.json"},
        headers=api.console,
    )
    bad_auth = await api.http.post(
        f"{TOOLS}/tool-provider/api/add",
        json={
            "provider": "x",
            "schema": remote.json()["schema"],
            "credentials": {"auth_type": "kerberos"},
        },
        headers=api.console,
    )
    assert bad_auth.status_code == 400 and "auth_type" in bad_auth.text, bad_auth.text
    imported = await api.http.post(
        "/console/api/apps/imports",
        json={"yaml_content": _tool_app("api", "nobody", "getPet", {})},
        headers=api.console,
    )
    published = await api.http.post(
        f"/console/api/apps/{imported.json()['app_id']}/workflows/publish", headers=api.console
    )
    assert published.status_code == 400 and "nobody" in published.text, published.text


async def test_an_mcp_server_is_added_and_its_tool_called_once(
    api: Api, mcp_server: HttpServer
) -> None:
    added = await api.http.post(
        f"{TOOLS}/tool-provider/mcp",
        json={
            "name": "Calculator",
            "server_identifier": "calc",
            "server_url": mcp_server.url,
            "headers": {"Authorization": TOKEN},
        },
        headers=api.console,
    )
    assert added.status_code == 200, added.text
    provider = added.json()
    assert {"add", "echo"} <= {t["name"] for t in provider["tools"]}
    assert "url-secret" not in added.text and TOKEN not in added.text
    data = await _run_app(api, _tool_app("mcp", "calc", "add", {"a": 2, "b": 40}))
    assert data["status"] == "succeeded", data
    assert data["outputs"]["text"] == "42"
    made = [c for c in calls(mcp_server.calls_file) if c["tool"] == "add"]
    assert made == [
        {
            "tool": "add",
            "arguments": {"a": 2, "b": 40},
            "authorization": TOKEN,
            "pid": made[0]["pid"],
        }
    ]
    refreshed = await api.http.get(
        f"{TOOLS}/tool-provider/mcp/update/{provider['id']}", headers=api.console
    )
    assert refreshed.status_code == 200, refreshed.text
    listed = await api.http.get(f"{TOOLS}/tools/mcp", headers=api.console)
    assert [p["server_identifier"] for p in listed.json()] == ["calc"]
    # The console sends back what it was shown: the masked URL and hidden header values.
    shown = listed.json()[0]
    assert shown["server_url"].endswith("/******")
    assert shown["masked_headers"] == {"Authorization": "[__HIDDEN__]"}
    updated = await api.http.put(
        f"{TOOLS}/tool-provider/mcp",
        json={
            "provider_id": provider["id"],
            "name": "Calculator 2",
            "server_identifier": "calc",
            "server_url": shown["server_url"],
            "headers": shown["masked_headers"],
        },
        headers=api.console,
    )
    assert updated.status_code == 200, updated.text
    again = await _run_app(api, _tool_app("mcp", "calc", "echo", {"text": "hi"}))
    assert again["outputs"]["text"] == "hi", again
    assert calls(mcp_server.calls_file)[-1]["authorization"] == TOKEN


async def test_mcp_providers_that_cannot_be_used_are_refused(api: Api) -> None:
    stdio = await api.http.post(
        f"{TOOLS}/tool-provider/mcp",
        json={
            "name": "local",
            "server_identifier": "local",
            "transport": "stdio",
            "command": sys.executable,
            "args": ["-m", "tests.fakes.mcp_server", "--transport", "stdio"],
        },
        headers=api.console,
    )
    assert stdio.status_code == 400 and "mcp_stdio_commands" in stdio.text, stdio.text
    blocked = await api.http.post(
        f"{TOOLS}/tool-provider/mcp",
        json={"name": "lo", "server_identifier": "lo", "server_url": "http://127.0.0.1:9/mcp"},
        headers=api.console,
    )
    assert blocked.status_code == 400, blocked.text
    bad_id = await api.http.post(
        f"{TOOLS}/tool-provider/mcp",
        json={"name": "x", "server_identifier": "Has Space", "server_url": "http://example.com"},
        headers=api.console,
    )
    assert bad_id.status_code == 400 and "server_identifier" in bad_id.text
