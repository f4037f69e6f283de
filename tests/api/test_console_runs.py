"""Console runs: the draft run streamed as SSE, the app's run list (pages, status filter), one
run with its Temporal UI link, its node executions; another workspace's app is not found."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api, sse_events
from tests.fakes.openai_server import FakeLLMServer, unauthorized
from tideflow.platform.api.routes import console_runs
from tideflow.platform.settings import Settings, get_settings

LLM = "basic_llm_chat_workflow.yml"
ECHO = "simple_passthrough_workflow.yml"
UI = "https://temporal.example.com/ui/"


async def _draft_run(api: Api, app_id: str, inputs: dict[str, Any], mode: str) -> Any:
    return await api.http.post(
        f"/console/api/apps/{app_id}/workflows/draft/run",
        json={"inputs": inputs, "response_mode": mode},
        headers=api.console,
    )


async def _get(api: Api, path: str, **params: Any) -> Any:
    response = await api.http.get(path, params=params, headers=api.console)
    assert response.status_code == 200, response.text
    return response.json()


async def test_streamed_draft_run_then_its_record_and_node_executions(
    api: Api, gateway: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEFLOW_TEMPORAL_UI_URL", UI)
    get_settings.cache_clear()
    app_id = await api.import_app(LLM, publish=False)
    missing = await _draft_run(api, app_id, {}, "streaming")
    assert missing.status_code == 400 and "query" in missing.json()["message"]

    response = await _draft_run(api, app_id, {"query": "hello there"}, "streaming")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [p for _, p in sse_events(response.text) if isinstance(p, dict)]
    names = [p["event"] for p in events]
    assert names[0] == "workflow_started" and names[-1] == "workflow_finished"
    assert names.count("node_started") == names.count("node_finished") == 3
    text = "".join(p["data"]["text"] for p in events if p["event"] == "text_chunk")
    assert text == "hello there"
    [llm] = [
        p["data"]
        for p in events
        if p["event"] == "node_finished" and p["data"]["node_id"] == "llm_node"
    ]
    assert llm["status"] == "succeeded" and llm["outputs"]["text"] == "hello there"
    assert llm["execution_metadata"]["total_tokens"] > 0
    finished = events[-1]["data"]
    run_id = finished["id"]
    assert finished["status"] == "succeeded" and finished["outputs"] == {"answer": "hello there"}
    assert len(gateway.chat_requests()) == 1

    listed = await _get(api, f"/console/api/apps/{app_id}/workflow-runs")
    assert listed["total"] == 1 and listed["has_more"] is False
    [item] = listed["data"]
    assert item["id"] == run_id and item["status"] == "succeeded"
    assert item["triggered_from"] == "debugging" and item["version"] == "draft"
    assert (
        item["total_steps"] == 3
        and item["total_tokens"] == llm["execution_metadata"]["total_tokens"]
    )
    assert item["elapsed_time"] > 0 and 0 < item["created_at"] <= item["finished_at"]

    detail = await _get(api, f"/console/api/apps/{app_id}/workflow-runs/{run_id}")
    assert detail["inputs"] == {"query": "hello there"}
    assert detail["outputs"] == {"answer": "hello there"} and detail["error"] is None
    workflow_id = f"app-{app_id}-{run_id}"
    assert detail["temporal_workflow_id"] == workflow_id
    assert detail["temporal_ui_url"] == (
        f"https://temporal.example.com/ui/namespaces/default/workflows/{workflow_id}"
    )
    assert item["temporal_ui_url"] == detail["temporal_ui_url"]  # each row links too

    nodes = (await _get(api, f"/console/api/apps/{app_id}/workflow-runs/{run_id}/node-executions"))[
        "data"
    ]
    assert [(n["index"], n["node_id"], n["node_type"]) for n in nodes] == [
        (1, "start_node", "start"),
        (2, "llm_node", "llm"),
        (3, "end_node", "end"),
    ]
    start, model, end = nodes
    assert all(n["status"] == "succeeded" and n["elapsed_time"] >= 0 for n in nodes)
    assert start["outputs"] == {"query": "hello there"} and start["title"] == "Start"
    assert model["outputs"]["text"] == "hello there" and model["error"] is None
    assert model["execution_metadata"]["total_tokens"] == item["total_tokens"]
    assert model["process_data"] and start["execution_metadata"]["total_tokens"] == 0
    assert end["outputs"] == {"answer": "hello there"} and end["created_at"] > 0


async def test_runs_newest_first_in_pages_and_filtered_by_status(
    api: Api, gateway: FakeLLMServer
) -> None:
    app_id = await api.import_app(LLM, publish=False)
    ids: list[str] = []
    for word in ("one", "two"):
        done = await _draft_run(api, app_id, {"query": word}, "blocking")
        assert done.json()["data"]["status"] == "succeeded", done.text
        ids.append(done.json()["workflow_run_id"])
    gateway.fail(unauthorized(), times=1)
    failed = await _draft_run(api, app_id, {"query": "three"}, "blocking")
    assert failed.json()["data"]["status"] == "failed", failed.text
    ids.append(failed.json()["workflow_run_id"])
    base = f"/console/api/apps/{app_id}/workflow-runs"

    first = await _get(api, base, limit=2)
    second = await _get(api, base, limit=2, page=2)
    assert first["total"] == 3 and first["has_more"] is True and second["has_more"] is False
    assert [r["id"] for r in first["data"] + second["data"]] == ids[::-1]
    [only] = (await _get(api, base, status="failed"))["data"]
    assert only["id"] == ids[2] and "Incorrect API key" in only["error"]
    nodes = (await _get(api, f"{base}/{ids[2]}/node-executions"))["data"]
    [broken] = [n for n in nodes if n["node_id"] == "llm_node"]
    assert broken["status"] == "failed" and "Incorrect API key" in broken["error"]
    assert len((await _get(api, base, status="succeeded"))["data"]) == 2
    bad = await api.http.get(base, params={"status": "done"}, headers=api.console)
    assert bad.status_code == 400 and "status" in bad.json()["message"]


async def test_another_workspaces_runs_are_not_found(api: Api) -> None:
    app_id = await api.import_app(ECHO, publish=False)
    done = await _draft_run(api, app_id, {"query": "hi"}, "blocking")
    run_id = done.json()["workflow_run_id"]
    base = f"/console/api/apps/{app_id}/workflow-runs"
    other = await api.other_tenant()
    for path in (base, f"{base}/{run_id}", f"{base}/{run_id}/node-executions"):
        response = await api.http.get(path, headers=other)
        assert response.status_code == 404 and response.json()["code"] == "not_found", path
    unknown = await api.http.get(f"{base}/no-such-run", headers=api.console)
    assert unknown.status_code == 404 and "workflow run" in unknown.json()["message"]
    # Without a configured UI and with an external Temporal (these tests' own): no link.
    detail = await _get(api, f"{base}/{run_id}")
    assert detail["temporal_ui_url"] is None and detail["temporal_workflow_id"].endswith(run_id)


def test_temporal_ui_link_of_the_embedded_server() -> None:
    embedded = Settings(host="0.0.0.0", temporal_ui_port=8299, temporal_namespace="team a")
    assert console_runs.temporal_ui_link(embedded, "app-1-2") == (
        "http://127.0.0.1:8299/namespaces/team%20a/workflows/app-1-2"
    )
    cluster = Settings(temporal_address="temporal.internal:7233")
    assert console_runs.temporal_ui_link(cluster, "app-1-2") is None
