"""``/v1/workflows/run`` in its three modes, idempotency, reattaching, stop, logs."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.conftest import Api, sse_events

PARALLEL = "conditional_parallel_code_execution_workflow.yml"


async def _run(api: Api, key: dict[str, str], inputs: dict[str, Any], mode: str, **headers: str):
    return await api.http.post(
        "/v1/workflows/run",
        json={"inputs": inputs, "user": "alice", "response_mode": mode},
        headers={**key, **headers},
    )


async def _wait_status(api: Api, key: dict[str, str], run_id: str) -> dict[str, Any]:
    for _ in range(200):
        body = (await api.http.get(f"/v1/workflows/run/{run_id}", headers=key)).json()
        if body["status"] != "running":
            return body
        await asyncio.sleep(0.05)
    raise AssertionError("run did not end")


async def test_blocking_gives_difys_body_and_records_node_executions(api: Api) -> None:
    app_id = await api.import_app(PARALLEL)
    key = await api.app_key(app_id)
    response = await _run(api, key, {"switch": 1}, "blocking")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"task_id", "workflow_run_id", "data"}
    data = body["data"]
    assert data["status"] == "succeeded"
    assert data["id"] == body["workflow_run_id"] == body["task_id"]
    assert data["total_steps"] > 2 and data["elapsed_time"] > 0
    assert {"created_at", "finished_at", "exceptions_count", "files", "workflow_id"} <= set(data)
    detail = (await api.http.get(f"/v1/workflows/run/{data['id']}", headers=key)).json()
    assert detail["status"] == "succeeded" and detail["outputs"] == data["outputs"]
    assert detail["inputs"] == '{"switch": 1}'


async def test_streaming_events_in_difys_order(api: Api) -> None:
    app_id = await api.import_app("simple_passthrough_workflow.yml")
    key = await api.app_key(app_id)
    response = await _run(api, key, {"query": "hi"}, "streaming")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [(i, p) for i, p in sse_events(response.text) if p != "ping"]
    names = [p["event"] for _, p in events if isinstance(p, dict)]
    assert names == [
        "workflow_started",
        "node_started",
        "node_finished",
        "node_started",
        "node_finished",
        "workflow_finished",
    ]
    ids = [i for i, _ in events if i is not None]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    first, last = events[0][1], events[-1][1]
    assert isinstance(first, dict) and isinstance(last, dict)
    run_id = first["workflow_run_id"]
    assert first["data"]["id"] == run_id and first["data"]["inputs"] == {"query": "hi"}
    assert last["data"]["status"] == "succeeded" and last["data"]["outputs"] == {"query": "hi"}
    node = events[2][1]
    assert isinstance(node, dict)
    assert node["data"]["node_type"] == "start" and node["data"]["status"] == "succeeded"
    assert (await _wait_status(api, key, run_id))["status"] == "succeeded"


async def test_reattach_with_last_event_id_gets_exactly_the_rest(api: Api) -> None:
    app_id = await api.import_app(PARALLEL)
    key = await api.app_key(app_id)
    first = await _run(api, key, {"switch": 2}, "streaming")
    full = [(i, p) for i, p in sse_events(first.text) if p != "ping"]
    run_id = full[0][1]["workflow_run_id"]  # type: ignore[index]
    for cut in range(len(full) - 1):
        last_seen = full[cut][0]
        again = await api.http.get(
            f"/v1/workflow/{run_id}/events",
            headers={**key, "Last-Event-ID": str(last_seen)},
        )
        rest = [(i, p) for i, p in sse_events(again.text) if p != "ping"]
        assert [i for i, _ in full[: cut + 1] + rest] == [i for i, _ in full], cut
        names = [p["event"] for _, p in rest]  # type: ignore[index]
        assert names == [p["event"] for _, p in full[cut + 1 :]]  # type: ignore[index]


async def test_async_answers_202_then_the_run_is_projected(api: Api) -> None:
    app_id = await api.import_app("simple_passthrough_workflow.yml")
    key = await api.app_key(app_id)
    response = await _run(api, key, {"query": "later"}, "async")
    assert response.status_code == 202, response.text
    run_id = response.json()["workflow_run_id"]
    assert response.json()["data"]["status"] == "running"
    body = await _wait_status(api, key, run_id)
    assert body["status"] == "succeeded" and body["outputs"] == {"query": "later"}


async def test_idempotency_key_returns_the_same_run(api: Api) -> None:
    app_id = await api.import_app("simple_passthrough_workflow.yml")
    key = await api.app_key(app_id)
    first = await _run(api, key, {"query": "once"}, "async", **{"Idempotency-Key": "k-1"})
    again = await _run(api, key, {"query": "once"}, "blocking", **{"Idempotency-Key": "k-1"})
    third = await _run(api, key, {"query": "once"}, "async", **{"Idempotency-Key": "k-1"})
    other = await _run(api, key, {"query": "once"}, "blocking", **{"Idempotency-Key": "k-2"})
    run_id = first.json()["workflow_run_id"]
    assert again.json()["workflow_run_id"] == run_id == third.json()["workflow_run_id"]
    assert again.json()["data"]["status"] == "succeeded"
    assert other.json()["workflow_run_id"] != run_id
    logs = (await api.http.get("/v1/workflows/logs", headers=key)).json()
    assert logs["total"] == 2
