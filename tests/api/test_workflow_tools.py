"""Workflow-as-tool: a published workflow app added as a tool provider runs as a child
workflow of the tool node that calls it (real API, real Temporal worker, SQLite)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlmodel import Session, col, select

from tests.api.conftest import Api
from tests.fakes.openai_server import FakeLLMServer, Reply
from tideflow.platform.db.models import NodeExecution, WorkflowRun
from tideflow.platform.db.session import get_engine

TOOLS = "/console/api/workspaces/current"


def _dsl(name: str, mode: str, nodes: list[dict[str, Any]], edges: list[tuple[str, str]]) -> str:
    return json.dumps(
        {
            "kind": "app",
            "version": "0.3.0",
            "app": {"mode": mode, "name": name},
            "workflow": {
                "graph": {
                    "nodes": [{"id": n["id"], "data": n["data"]} for n in nodes],
                    "edges": [
                        {"id": f"e{i}", "source": s, "target": t} for i, (s, t) in enumerate(edges)
                    ],
                }
            },
        }
    )


GREETER = _dsl(
    "greeter app",
    "workflow",
    [
        {
            "id": "start",
            "data": {
                "type": "start",
                "title": "Start",
                "variables": [
                    {"variable": "city", "label": "City", "type": "text-input", "required": True},
                    {"variable": "count", "label": "Count", "type": "number", "required": False},
                ],
            },
        },
        {
            "id": "tpl",
            "data": {
                "type": "template-transform",
                "title": "Greet",
                "variables": [
                    {"variable": "city", "value_selector": ["start", "city"]},
                    {"variable": "count", "value_selector": ["start", "count"]},
                ],
                "template": "Hello {{ city }} x{{ count }}",
            },
        },
        {
            "id": "end",
            "data": {
                "type": "end",
                "title": "End",
                "outputs": [
                    {"variable": "greeting", "value_selector": ["tpl", "output"]},
                    {"variable": "count", "value_selector": ["start", "count"]},
                ],
            },
        },
    ],
    [("start", "tpl"), ("tpl", "end")],
)


def _caller(provider_id: str, city: dict[str, Any]) -> str:
    return _dsl(
        "caller app",
        "workflow",
        [
            {
                "id": "start",
                "data": {
                    "type": "start",
                    "title": "Start",
                    "variables": [{"variable": "name", "type": "text-input", "required": False}],
                },
            },
            {
                "id": "tool",
                "data": {
                    "type": "tool",
                    "title": "Greeter",
                    "provider_type": "workflow",
                    "provider_id": provider_id,
                    "provider_name": "greeter",
                    "tool_name": "greeter",
                    "tool_parameters": {
                        "city": city,
                        "count": {"type": "constant", "value": 3},
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
        ],
        [("start", "tool"), ("tool", "end")],
    )


async def _publish(api: Api, text: str) -> str:
    imported = await api.http.post(
        "/console/api/apps/imports", json={"yaml_content": text}, headers=api.console
    )
    assert imported.status_code == 201, imported.text
    app_id: str = imported.json()["app_id"]
    published = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/publish", headers=api.console
    )
    assert published.status_code == 201, published.text
    return app_id


async def _greeter_tool(api: Api) -> tuple[str, str]:
    """Publish the greeter app and add it as workflow tool ``greeter``; (app id, tool id)."""
    app_id = await _publish(api, GREETER)
    created = await api.http.post(
        f"{TOOLS}/tool-provider/workflow/create",
        json={
            "workflow_app_id": app_id,
            "name": "greeter",
            "label": "Greeter",
            "description": "Greets a city",
            "parameters": [{"name": "city", "description": "The city to greet", "form": "llm"}],
        },
        headers=api.console,
    )
    assert created.status_code == 200, created.text
    return app_id, created.json()["id"]


async def _run(api: Api, app_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
    response = await api.http.post(
        "/v1/workflows/run",
        json={"inputs": inputs, "user": "u1", "response_mode": "blocking"},
        headers=await api.app_key(app_id),
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_a_published_workflow_runs_as_a_tool_in_a_child_workflow(api: Api) -> None:
    tool_app, tool_id = await _greeter_tool(api)
    listed = await api.http.get(f"{TOOLS}/tools/workflow", headers=api.console)
    assert listed.status_code == 200, listed.text
    [provider] = listed.json()
    assert provider["workflow_app_id"] == tool_app
    params = {p["name"]: p for p in provider["tools"][0]["parameters"]}
    assert params["city"]["required"] is True
    assert params["city"]["description"] == "The city to greet"
    assert params["count"]["type"] == "number"

    caller = await _publish(api, _caller(tool_id, {"type": "mixed", "value": "{{#start.name#}}"}))
    data = await _run(api, caller, {"name": "Paris"})
    assert data["status"] == "succeeded", data
    assert data["outputs"]["json"] == [{"greeting": "Hello Paris x3", "count": 3}]
    assert json.loads(data["outputs"]["text"]) == {"greeting": "Hello Paris x3", "count": 3}

    with Session(get_engine(api.settings.db_url)) as session:
        children = session.exec(
            select(WorkflowRun).where(col(WorkflowRun.app_id) == tool_app)
        ).all()
    assert [(c.triggered_from, c.status, c.inputs["city"]) for c in children] == [
        ("tool", "succeeded", "Paris")
    ]
    assert children[0].outputs == {"greeting": "Hello Paris x3", "count": 3}


async def test_a_dsl_from_another_workspace_finds_the_tool_by_name(api: Api) -> None:
    await _greeter_tool(api)
    caller = await _publish(
        api, _caller("id-from-elsewhere", {"type": "constant", "value": "Oslo"})
    )
    data = await _run(api, caller, {})
    assert data["status"] == "succeeded", data
    assert data["outputs"]["json"][0]["greeting"] == "Hello Oslo x3"


async def test_a_missing_required_parameter_fails_the_node_naming_it(api: Api) -> None:
    _, tool_id = await _greeter_tool(api)
    caller = await _publish(api, _caller(tool_id, {"type": "variable", "value": ["start", "name"]}))
    data = await _run(api, caller, {})
    assert data["status"] == "failed"
    assert "greeter" in data["error"] and "city is required" in data["error"], data["error"]


async def test_bad_workflow_tools_are_refused_naming_the_field(api: Api) -> None:
    app_id, _ = await _greeter_tool(api)
    again = await api.http.post(
        f"{TOOLS}/tool-provider/workflow/create",
        json={"workflow_app_id": app_id, "name": "greeter"},
        headers=api.console,
    )
    assert again.status_code == 409, again.text
    unknown = await api.http.post(
        f"{TOOLS}/tool-provider/workflow/create",
        json={"workflow_app_id": app_id, "name": "g2", "parameters": [{"name": "nope"}]},
        headers=api.console,
    )
    assert unknown.status_code == 400 and "nope" in unknown.text, unknown.text
    bad_name = await api.http.post(
        f"{TOOLS}/tool-provider/workflow/create",
        json={"workflow_app_id": app_id, "name": "has space"},
        headers=api.console,
    )
    assert bad_name.status_code == 400 and "name" in bad_name.text, bad_name.text
    draft_only = await api.http.post(
        "/console/api/apps/imports", json={"yaml_content": GREETER}, headers=api.console
    )
    unpublished = await api.http.post(
        f"{TOOLS}/tool-provider/workflow/create",
        json={"workflow_app_id": draft_only.json()["app_id"], "name": "g3"},
        headers=api.console,
    )
    assert unpublished.status_code == 400 and "published" in unpublished.text
    other = await api.other_tenant()
    foreign = await api.http.post(
        f"{TOOLS}/tool-provider/workflow/create",
        json={"workflow_app_id": app_id, "name": "mine"},
        headers=other,
    )
    assert foreign.status_code == 404, foreign.text


async def test_publishing_an_app_whose_workflow_tool_is_missing_is_refused(api: Api) -> None:
    imported = await api.http.post(
        "/console/api/apps/imports",
        json={"yaml_content": _caller("gone", {"type": "constant", "value": "x"})},
        headers=api.console,
    )
    assert imported.status_code == 201, imported.text
    app_id = imported.json()["app_id"]
    published = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/publish", headers=api.console
    )
    assert published.status_code == 400, published.text
    assert "greeter" in published.text and "not in this workspace" in published.text
    assert '"node_id":"tool"' in published.text.replace(" ", "")
    await _greeter_tool(api)  # once the tool exists, the same draft publishes
    again = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/publish", headers=api.console
    )
    assert again.status_code == 201, again.text


def _agent_caller(tool_id: str) -> str:
    greeter = {
        "provider_id": tool_id,
        "provider_name": "greeter",
        "provider_type": "workflow",
        "tool_name": "greeter",
        "enabled": True,
        "parameters": {},
    }
    parameters = {
        "model": {
            "type": "constant",
            "value": {"provider": "openai", "model": "gpt-4o-mini", "mode": "chat"},
        },
        "tools": {"type": "constant", "value": [greeter]},
        "query": {"type": "mixed", "value": "Greet Rome"},
        "maximum_iterations": {"type": "constant", "value": 3},
    }
    return _dsl(
        "agent caller",
        "workflow",
        [
            {"id": "start", "data": {"type": "start", "title": "Start", "variables": []}},
            {
                "id": "agent",
                "data": {
                    "type": "agent",
                    "title": "Agent",
                    "agent_strategy_provider_name": "langgenius/agent/agent",
                    "agent_strategy_name": "function_calling",
                    "agent_parameters": parameters,
                },
            },
            {
                "id": "end",
                "data": {
                    "type": "end",
                    "title": "End",
                    "outputs": [{"variable": "text", "value_selector": ["agent", "text"]}],
                },
            },
        ],
        [("start", "agent"), ("agent", "end")],
    )


async def test_an_agent_calls_a_workflow_tool(api: Api, gateway: FakeLLMServer) -> None:
    tool_app, tool_id = await _greeter_tool(api)
    caller = await _publish(api, _agent_caller(tool_id))
    call = {"id": "call-1", "function": {"name": "greeter", "arguments": '{"city": "Rome"}'}}
    gateway.script(Reply(text="Greeted."), times=1)  # later scripts win: this one is second
    gateway.script(Reply(tool_calls=[call]), times=1)
    data = await _run(api, caller, {})
    assert data["status"] == "succeeded", data
    assert data["outputs"]["text"] == "Greeted."
    first, second = gateway.chat_requests()
    [offered] = first.json["tools"]
    assert offered["function"]["name"] == "greeter"
    assert offered["function"]["parameters"]["required"] == ["city"]
    observation = second.json["messages"][-1]
    assert observation["role"] == "tool"
    assert json.loads(observation["content"]) == {"greeting": "Hello Rome xNone", "count": None}
    with Session(get_engine(api.settings.db_url)) as session:
        children = session.exec(
            select(WorkflowRun).where(col(WorkflowRun.app_id) == tool_app)
        ).all()
    assert [(c.triggered_from, c.inputs["city"]) for c in children] == [("tool", "Rome")]


def _slow_app() -> str:
    """A workflow app whose one model call the test makes stall."""
    llm = {
        "type": "llm",
        "title": "Think",
        "model": {"provider": "openai", "name": "gpt-4o-mini", "mode": "chat"},
        "prompt_template": [{"role": "user", "text": "{{#start.city#}}"}],
        "context": {"enabled": False},
        "vision": {"enabled": False},
    }
    return _dsl(
        "slow app",
        "workflow",
        [
            {
                "id": "start",
                "data": {
                    "type": "start",
                    "title": "Start",
                    "variables": [{"variable": "city", "type": "text-input", "required": True}],
                },
            },
            {"id": "llm", "data": llm},
            {
                "id": "end",
                "data": {
                    "type": "end",
                    "title": "End",
                    "outputs": [{"variable": "text", "value_selector": ["llm", "text"]}],
                },
            },
        ],
        [("start", "llm"), ("llm", "end")],
    )


async def _tool_of(api: Api, app_id: str, name: str = "greeter") -> Any:
    return await api.http.post(
        f"{TOOLS}/tool-provider/workflow/create",
        json={"workflow_app_id": app_id, "name": name},
        headers=api.console,
    )


async def test_stopping_the_caller_stops_the_child_run(api: Api, gateway: FakeLLMServer) -> None:
    tool_app = await _publish(api, _slow_app())
    created = await _tool_of(api, tool_app)
    assert created.status_code == 200, created.text
    caller = await _publish(
        api, _caller(created.json()["id"], {"type": "constant", "value": "Lima"})
    )
    gateway.script(Reply(text="late", stall_after=0), times=1)
    key = await api.app_key(caller)
    running = asyncio.create_task(
        api.http.post(
            "/v1/workflows/run",
            json={"inputs": {}, "user": "u1", "response_mode": "blocking"},
            headers=key,
        )
    )
    await _wait(lambda: gateway.chat_requests())  # the child's model call is under way
    parent = _rows(api, WorkflowRun, caller)[0]
    [child] = _rows(api, WorkflowRun, tool_app)
    assert (child.triggered_from, child.status, child.inputs["city"]) == ("tool", "running", "Lima")
    stopped = await api.http.post(
        f"/v1/workflows/tasks/{parent.id}/stop", json={"user": "u1"}, headers=key
    )
    assert stopped.status_code == 200, stopped.text
    answer = await asyncio.wait_for(running, 60)
    assert answer.json()["data"]["status"] == "stopped", answer.text
    ended = await _wait(
        lambda: [r for r in _rows(api, WorkflowRun, tool_app) if r.status == "stopped"]
    )
    assert ended[0].id == child.id and ended[0].finished_at is not None
    # The parent ended as a stopped run does: its tool node did not fail on into the end node.
    with Session(get_engine(api.settings.db_url)) as session:
        nodes = session.exec(
            select(NodeExecution).where(col(NodeExecution.run_id) == parent.id)
        ).all()
    assert "end" not in {n.node_id for n in nodes}
    [tool_node] = [n for n in nodes if n.node_id == "tool"]
    assert tool_node.status == "stopped", (tool_node.status, tool_node.error)
    [row] = [r for r in _rows(api, WorkflowRun, caller) if r.id == parent.id]
    assert (row.status, row.error) == ("stopped", "stopped")


async def test_an_app_that_calls_itself_stops_at_the_depth_limit(api: Api) -> None:
    app_id = await _publish(api, GREETER)
    created = await _tool_of(api, app_id, "selfie")
    assert created.status_code == 200, created.text
    caller = json.loads(_caller(created.json()["id"], {"type": "constant", "value": "Rome"}))
    graph = caller["workflow"]["graph"]
    greeter_start = json.loads(GREETER)["workflow"]["graph"]["nodes"][0]
    graph["nodes"][0] = greeter_start
    graph["nodes"][1]["data"].update(provider_name="selfie", tool_name="selfie")
    saved = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/draft", json={"graph": graph}, headers=api.console
    )
    assert saved.status_code == 200, saved.text
    published = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/publish", headers=api.console
    )
    assert published.status_code == 201, published.text
    data = await _run(api, app_id, {"city": "Rome"})
    assert data["status"] == "failed"
    assert "nested more than 5 deep" in data["error"], data["error"]
    assert len(_rows(api, WorkflowRun, app_id)) == 6  # the run and its five nested calls


async def test_an_app_that_waits_for_a_person_is_not_a_tool(api: Api) -> None:
    review = json.loads(_slow_app())
    human = {
        "type": "human-input",
        "title": "Review",
        "form_content": "Review",
        "inputs": [],
        "user_actions": [{"id": "ok", "title": "OK"}],
        "timeout": 1,
        "timeout_unit": "day",
    }
    review["workflow"]["graph"]["nodes"][1] = {"id": "llm", "data": human}
    review["workflow"]["graph"]["nodes"][2]["data"]["outputs"] = []
    app_id = await _publish(api, json.dumps(review))
    refused = await _tool_of(api, app_id)
    assert refused.status_code == 400 and "human input" in refused.text, refused.text
    neither = await api.http.get(f"{TOOLS}/tool-provider/workflow/get", headers=api.console)
    assert neither.status_code == 400 and "workflow_tool_id" in neither.text


def _rows(api: Api, model: Any, app_id: str) -> list[Any]:
    with Session(get_engine(api.settings.db_url)) as session:
        return list(session.exec(select(model).where(model.app_id == app_id)).all())


async def _wait(probe: Any) -> Any:
    for _ in range(300):
        found = probe()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("timed out waiting")
