"""Tenant isolation over every route of the API: tenant B's credentials against tenant A's
resources are refused (404/403, never a 500), B's lists never show A's items, and A's state
(read back through A's own credentials) is unchanged after each attempt.

``ROUTES`` (tests/api/isolation_routes.py) classifies every (method, path) of the app;
``test_every_route_is_classified`` fails when a route is added without a classification. The
two workspaces (tests/api/isolation_support.py) are built once per module on the real API,
worker, Temporal dev server and SQLite.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import OWNER_EMAIL, OWNER_PASSWORD, Api
from tests.api.isolation_routes import DEFAULT_IDS, PARAM, ROUTES, Exempt, Probe
from tests.api.isolation_support import World, build_world, snapshot
from tests.api.test_conversations import EXTRACT_APP
from tests.fakes.openai_server import FakeLLMServer
from tideflow.activities.knowledge.vector_store import close_vector_stores
from tideflow.platform.app import create_app
from tideflow.platform.db.chat_models import UploadFile
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.session import get_engine
from tideflow.platform.settings import get_settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.worker import registered_activities, registered_workflows

DSL = b"""app: {mode: workflow, name: beta}
kind: app
version: 0.3.0
workflow:
  graph:
    nodes:
      - {id: start, data: {type: start, title: Start, variables: []}}
      - {id: end, data: {type: end, title: End, outputs: []}}
    edges:
      - {source: start, target: end}
"""


def app_routes() -> set[tuple[str, str]]:
    """Every (method, path) the API serves (FastAPI's docs pages aside)."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(create_app().routes):
        if isinstance(context.route, APIRoute):
            found |= {(method, str(context.path)) for method in context.methods or ()}
    return found


def test_every_route_is_classified() -> None:
    """A new route fails here until isolation_routes.py says how B probes it (or why not)."""
    routes = app_routes()
    assert not routes - set(ROUTES), f"routes without an isolation probe: {routes - set(ROUTES)}"
    assert not set(ROUTES) - routes, f"probes of routes that are gone: {set(ROUTES) - routes}"


@dataclass
class Stage:
    """The module's API, its two workspaces and A's state before any probe."""

    api: Api
    world: World
    before: dict[str, Any]


@pytest.fixture(scope="module")
async def stage(
    temporal_env: WorkflowEnvironment,
    _fake_llm_server: FakeLLMServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stage]:
    """The API and a worker on a queue of the module's own (as conftest's ``api``, once)."""
    with pytest.MonkeyPatch.context() as patch:
        env = {
            "TIDEFLOW_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
            "TIDEFLOW_TASK_QUEUE": f"test-{uuid.uuid4().hex[:12]}",
            "TIDEFLOW_DATA_DIR": str(tmp_path_factory.mktemp("isolation")),
            "TIDEFLOW_OWNER_EMAIL": OWNER_EMAIL,
            "TIDEFLOW_OWNER_PASSWORD": OWNER_PASSWORD,
            "TIDEFLOW_MODEL_GATEWAY_URL": _fake_llm_server.base_url,
            # A's state is read back after every probe, far beyond a key's default rate.
            "TIDEFLOW_API_RATE_LIMIT_PER_MINUTE": "0",
            # A's model credentials are checked against the fake server on loopback.
            "TIDEFLOW_SSRF_ALLOWED_HOSTS": f'["{_fake_llm_server.base_url.split("/")[2]}"]',
        }
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        settings = get_settings()
        upgrade_database(settings.db_url)
        app = create_app()
        worker = TideflowTemporal(settings).worker(
            temporal_env.client,
            workflows=registered_workflows(),
            activities=registered_activities(),
        )
        async with app.router.lifespan_context(app), worker:
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://api", timeout=60
            ) as http:
                api = Api(http=http, console={}, settings=settings, asgi=app)
                api.console = await api.login(OWNER_EMAIL, OWNER_PASSWORD)
                world = await build_world(api, _fake_llm_server.base_url)
                yield Stage(api, world, await snapshot(api, world))
        close_vector_stores()
    get_settings.cache_clear()


def _resolve(value: Any, world: World) -> Any:
    """``@key`` strings (anywhere in a body or params) become A's id ``key``, ``@b:key``
    B's."""
    if isinstance(value, str) and value.startswith("@b:"):
        return world.b[value[3:]]
    if isinstance(value, str) and value.startswith("@"):
        return world.a[value[1:]]
    if isinstance(value, dict):
        return {k: _resolve(v, world) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list):
        return [_resolve(v, world) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return value


def _url(path: str, probe: Probe, world: World) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        key = probe.ids.get(name) or DEFAULT_IDS.get(name) or name
        if key.startswith("b:"):
            return world.b[DEFAULT_IDS.get(key[2:], key[2:])]
        return key[1:] if key.startswith("=") else world.a[key]

    return PARAM.sub(fill, path)


def _headers(probe: Probe, world: World) -> dict[str, str]:
    return world.b_console if probe.cred == "console" else world.b_keys[probe.cred]


async def _send(stage: Stage, method: str, path: str, probe: Probe) -> httpx.Response:
    world = stage.world
    kwargs: dict[str, Any] = {"headers": _headers(probe, world)}
    if probe.params:
        kwargs["params"] = _resolve(probe.params, world)
    if probe.files:
        name = "file.yml" if path.endswith("imports") else "beta.txt"
        part = (name, DSL if name.endswith("yml") else b"beta text", "text/plain")
        key = "files" if path.endswith("/documents") else "file"
        kwargs["files"] = {key: part}
        kwargs["data"] = {"user": "bob"} if path.startswith("/v1/files") else {"data": "{}"}
    elif probe.body is not None:
        kwargs["json"] = _resolve(probe.body, world)
    return await stage.api.http.request(method, _url(path, probe, world), **kwargs)


def _cases() -> list[Any]:
    cases: list[Any] = []
    for (method, path), entry in sorted(ROUTES.items(), key=lambda item: item[0][1]):
        if isinstance(entry, Exempt):
            continue
        probes = entry if isinstance(entry, tuple) else (entry,)
        for n, probe in enumerate(probes):
            cases.append(pytest.param(method, path, probe, id=f"{method} {path} #{n}"))
    return cases


@pytest.mark.parametrize(("method", "path", "probe"), _cases())
async def test_tenant_b_cannot_reach_tenant_a(
    stage: Stage, method: str, path: str, probe: Probe
) -> None:
    """B's request is refused (or, for a route without foreign ids, answered about B only)
    and A's state, read back by A, is what it was."""
    response = await _send(stage, method, path, probe)
    assert response.status_code < 500, response.text
    if probe.scoped:
        assert response.status_code < 400 or response.status_code in (400, 404, 409), response.text
        leaked = [m for m in stage.world.markers() if m in response.text]
        assert not leaked, f"B's answer shows A's {leaked}: {response.text[:500]}"
    else:
        assert response.status_code in probe.expect, response.text
    after = await snapshot(stage.api, stage.world)
    changed = {k for k in after if after[k] != stage.before[k]}
    assert not changed, {k: (stage.before[k], after[k]) for k in changed}


def _borrowing_graph(world: World) -> str:
    """A workflow of B's whose nodes name A's knowledge base and A's workflow, API and MCP
    tools (ids and names B could learn or guess)."""

    def tool(node_id: str, kind: str, provider: str, name: str, params: dict[str, Any]) -> Any:
        values = {k: {"type": "constant", "value": v} for k, v in params.items()}
        data = {"type": "tool", "title": node_id, "provider_type": kind, "provider_id": provider}
        return {"id": node_id, "data": {**data, "tool_name": name, "tool_parameters": values}}

    start = {"variable": "q", "label": "q", "type": "text-input", "required": True}
    nodes = [
        {"id": "start", "data": {"type": "start", "title": "Start", "variables": [start]}},
        {
            "id": "kr",
            "data": {
                "type": "knowledge-retrieval",
                "title": "kr",
                "query_variable_selector": ["start", "q"],
                "dataset_ids": [world.a["dataset_id"]],
                "retrieval_mode": "multiple",
                "multiple_retrieval_config": {"top_k": 3, "reranking_enable": False},
                "error_strategy": "default-value",
                "default_value": [{"key": "result", "type": "array[object]", "value": []}],
            },
        },
        tool("wf", "workflow", world.a["workflow_tool_id"], "alpha_greeter", {"city": "Oslo"}),
        tool("api", "api", "alpha-pets", "listPets", {}),
        tool("mcp", "mcp", "alpha-mcp", "echo", {}),
    ]
    for node in nodes[2:]:
        node["data"]["error_strategy"] = "default-value"
        node["data"]["default_value"] = [{"key": "text", "type": "string", "value": "refused"}]
    outputs = [{"variable": n, "value_selector": [n, "text"]} for n in ("wf", "api", "mcp")]
    outputs.append({"variable": "kr", "value_selector": ["kr", "result"]})
    nodes.append({"id": "end", "data": {"type": "end", "title": "End", "outputs": outputs}})
    edges = [{"id": f"e-{n}", "source": "start", "target": n} for n in ("kr", "wf", "api", "mcp")]
    edges += [{"id": f"f-{n}", "source": n, "target": "end"} for n in ("kr", "wf", "api", "mcp")]
    doc = {"kind": "app", "version": "0.3.0", "app": {"mode": "workflow", "name": "borrower"}}
    return json.dumps({**doc, "workflow": {"graph": {"nodes": nodes, "edges": edges}}})


async def test_b_graph_cannot_use_a_knowledge_or_tools(stage: Stage) -> None:
    """Ids of A's resources inside B's own graph resolve in B's workspace only: publishing
    names each foreign tool, and a draft run fails each node (which takes its default value)
    instead of reading A's knowledge or running A's tools."""
    api, world = stage.api, stage.world
    dsl = _borrowing_graph(world)
    imported = await api.http.post(
        "/console/api/apps/imports", json={"yaml_content": dsl}, headers=world.b_console
    )
    assert imported.status_code == 201, imported.text
    app = f"/console/api/apps/{imported.json()['app_id']}"
    published = await api.http.post(f"{app}/workflows/publish", headers=world.b_console)
    assert published.status_code == 400, published.text
    assert {p["node_id"] for p in published.json()["problems"]} >= {"wf", "api", "mcp"}
    ran = await api.http.post(
        f"{app}/workflows/draft/run", json={"inputs": {"q": "otters"}}, headers=world.b_console
    )
    assert ran.status_code == 200, ran.text
    data = ran.json()["data"]
    assert data["outputs"] == {"wf": "refused", "api": "refused", "mcp": "refused", "kr": []}
    executions = await api.http.get(
        f"{app}/workflow-runs/{data['id']}/node-executions", headers=world.b_console
    )
    errors = {e["node_id"]: e["error"] for e in executions.json()["data"] if e["error"]}
    assert set(errors) == {"kr", "wf", "api", "mcp"}, errors
    assert all("in this workspace" in error for error in errors.values()), errors
    assert "kelp" not in ran.text and "Hello" not in ran.text, ran.text
    assert not [m for m in world.markers() if m in ran.text], ran.text


async def test_b_draft_run_cannot_read_a_uploaded_file(stage: Stage) -> None:
    """A file input of B's draft run names A's upload (by id, and by its store id as if B
    had learned it): refused as an upload of another app, never read."""
    api, world = stage.api, stage.world
    imported = await api.http.post(
        "/console/api/apps/imports",
        json={"yaml_content": EXTRACT_APP},
        headers=world.b_console,
    )
    run = f"/console/api/apps/{imported.json()['app_id']}/workflows/draft/run"
    with Session(get_engine(api.settings.db_url)) as session:
        upload = session.get(UploadFile, world.a["file_id"])
        assert upload is not None
        store_id = upload.store_id
    # Everything the document extractor needs to read the bytes, were they let through.
    local = {
        "type": "document",
        "transfer_method": "local_file",
        "filename": "alpha.txt",
        "extension": ".txt",
        "mime_type": "text/plain",
    }
    for doc in (
        {**local, "upload_file_id": world.a["file_id"]},
        {**local, "upload_file_id": world.a["file_id"], "related_id": store_id},
        {**local, "related_id": store_id},
        {**local, "transfer_method": "tool_file", "related_id": store_id},
    ):
        ran = await api.http.post(run, json={"inputs": {"doc": doc}}, headers=world.b_console)
        assert ran.status_code == 400, ran.text
        assert "inputs.doc" in ran.json()["message"], ran.text
        assert "alpha file" not in ran.text


async def test_the_checks_see_a_change_and_a_leak(stage: Stage) -> None:
    """Controls of the checks above (run last: it changes A): A's own answers carry the
    markers B's must not, and a change A makes shows in the snapshot."""
    api, world = stage.api, stage.world
    own = await api.http.get("/console/api/apps", headers=world.a_console)
    assert world.a["review_app"] in world.markers() and world.a["review_app"] in own.text
    env = f"/console/api/apps/{world.a['review_app']}/environment-variables"
    changed = await api.http.patch(
        f"{env}/{world.a['env_var_id']}",
        json={"name": "alpha_env", "value": "changed by A"},
        headers=world.a_console,
    )
    assert changed.status_code == 200, changed.text
    after = await snapshot(api, world)
    assert "env" in {k for k in after if after[k] != stage.before[k]}
