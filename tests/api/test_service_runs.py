"""``/v1/workflows/run`` in its three modes, idempotency, reattaching, stop, logs."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.conftest import Api, sse_events

PARALLEL = "conditional_parallel_code_execution_workflow.yml"
ITERATION = "array_iteration_formatting_workflow.yml"


async def _run(api: Api, key: dict[str, str], inputs: dict[str, Any], mode: str, **headers: str):
    return await api.http.post(
        "/v1/workflows/run",
        json={"inputs": inputs, "user": "alice", "response_mode": mode},
        headers={**key, **headers},
    )


def _payloads(body: str) -> list[tuple[int | None, dict[str, Any]]]:
    """(id, payload) of each SSE message but the pings."""
    return [(i, p) for i, p in sse_events(body) if isinstance(p, dict)]


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
    events = _payloads(response.text)
    names = [p["event"] for _, p in events]
    # Dify's order (cases.json #70-72): the End output streams while Start is still running.
    assert names == [
        "workflow_started",
        "node_started",
        "text_chunk",
        "node_finished",
        "node_started",
        "node_finished",
        "workflow_finished",
    ]
    ids = [i for i, _ in events if i is not None]
    assert len(ids) == len(events) and ids == sorted(set(ids))
    first, last = events[0][1], events[-1][1]
    run_id = first["workflow_run_id"]
    assert first["data"]["id"] == run_id and first["data"]["inputs"] == {"query": "hi"}
    assert first["data"]["created_at"] > 0
    start, chunk, start_done, end, end_done = (p["data"] for _, p in events[1:6])
    assert start["node_type"] == "start" and end["node_type"] == "end"
    assert (start["index"], end["index"]) == (1, 2)
    assert start["predecessor_node_id"] is None
    assert end["predecessor_node_id"] == start["node_id"]
    assert start["inputs"] == {"query": "hi"}
    assert {"iteration_id", "loop_id", "extras", "created_at", "title"} <= set(start)
    assert chunk == {"text": "hi", "from_variable_selector": [start["node_id"], "query"]}
    assert start_done["id"] == start["id"] and end_done["id"] == end["id"] != start["id"]
    for started, done in ((start, start_done), (end, end_done)):
        assert done["status"] == "succeeded" and done["index"] == started["index"]
        assert done["predecessor_node_id"] == started["predecessor_node_id"]
        assert 0 < done["created_at"] <= done["finished_at"]
        assert done["created_at"] == started["created_at"]
        assert isinstance(done["elapsed_time"], float) and done["elapsed_time"] >= 0
    assert end_done["outputs"] == {"query": "hi"}
    assert names.count("workflow_finished") == 1
    finished = last["data"]
    assert finished["id"] == run_id and finished["status"] == "succeeded"
    assert finished["outputs"] == {"query": "hi"} and finished["total_steps"] == 2
    assert 0 < finished["created_at"] <= finished["finished_at"]
    assert finished["exceptions_count"] == 0 and finished["files"] == []
    assert finished["workflow_id"] == first["data"]["workflow_id"]
    assert (await _wait_status(api, key, run_id))["status"] == "succeeded"


async def test_iteration_streams_difys_container_events(api: Api) -> None:
    app_id = await api.import_app("array_iteration_formatting_workflow.yml")
    key = await api.app_key(app_id)
    response = await _run(api, key, {}, "streaming")
    events = [p for _, p in _payloads(response.text)]
    names = [p["event"] for p in events]
    assert names.count("workflow_finished") == 1 and names[-1] == "workflow_finished"
    assert events[-1]["data"]["outputs"] == {"output": ["output: 1", "output: 2", "output: 3"]}
    # No node events for the iteration itself or its start marker: the iteration_* stand in.
    node_types = {p["data"]["node_type"] for p in events if p["event"].startswith("node_")}
    assert node_types == {"start", "code", "template-transform", "end"}
    container = [p for p in events if p["event"].startswith("iteration_")]
    assert [p["event"] for p in container] == [
        "iteration_started",
        *["iteration_next"] * 3,
        "iteration_completed",
    ]
    started, completed = container[0]["data"], container[-1]["data"]
    iteration_id = started["node_id"]
    assert started["id"] and all(p["data"]["id"] == started["id"] for p in container)
    assert started["node_type"] == "iteration" and started["title"]
    assert started["inputs"] == {"iterator_selector": [1, 2, 3]}
    assert started["metadata"] == {"iterator_length": 3}
    assert [p["data"]["index"] for p in container[1:-1]] == [0, 1, 2]
    assert completed["status"] == "succeeded" and completed["error"] is None
    assert completed["outputs"] == {"output": ["output: 1", "output: 2", "output: 3"]}
    assert completed["steps"] == 3 and completed["elapsed_time"] >= 0
    assert started["created_at"] == completed["created_at"] <= completed["finished_at"]
    inner = [p["data"] for p in events if p["data"].get("node_type") == "template-transform"]
    assert len(inner) == 6  # started and finished per item
    assert all(d["iteration_id"] == iteration_id and d["loop_id"] is None for d in inner)
    finished = [d for d in inner if "status" in d]
    assert [d["execution_metadata"]["iteration_index"] for d in finished] == [0, 1, 2]
    outer = [p["data"] for p in events if p["data"].get("node_type") == "end"]
    assert outer[0]["iteration_id"] is None
    assert outer[0]["predecessor_node_id"] == iteration_id


async def test_secrets_are_masked_in_every_event(api: Api) -> None:
    app_id = await api.import_app("simple_passthrough_workflow.yml", publish=False)
    added = await api.http.post(
        f"/console/api/apps/{app_id}/environment-variables",
        json={"name": "token", "value_type": "secret", "value": "s3cr3t-value"},
        headers=api.console,
    )
    assert added.status_code == 201, added.text
    published = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/publish", headers=api.console
    )
    assert published.status_code == 201, published.text
    key = await api.app_key(app_id)
    response = await _run(api, key, {"query": "say s3cr3t-value"}, "streaming")
    assert "s3cr3t-value" not in response.text
    events = [p for _, p in _payloads(response.text)]
    assert events[-1]["event"] == "workflow_finished"
    assert events[-1]["data"]["outputs"] == {"query": "say ******"}
    chunks = [p["data"]["text"] for p in events if p["event"] == "text_chunk"]
    assert "".join(chunks) == "say ******"


async def test_reattach_with_last_event_id_gets_exactly_the_rest(api: Api) -> None:
    for fixture, inputs in ((PARALLEL, {"switch": 2}), (ITERATION, {})):
        app_id = await api.import_app(fixture)
        key = await api.app_key(app_id)
        first = await _run(api, key, inputs, "streaming")
        full = _payloads(first.text)
        run_id = full[0][1]["workflow_run_id"]
        # From the start, the stream is the same again, event for event.
        whole = await api.http.get(f"/v1/workflow/{run_id}/events", headers=key)
        assert _payloads(whole.text) == full
        for cut in range(len(full)):
            last_seen = full[cut][0]
            again = await api.http.get(
                f"/v1/workflow/{run_id}/events",
                headers={**key, "Last-Event-ID": str(last_seen)},
            )
            assert _payloads(again.text) == full[cut + 1 :], (fixture, cut)


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
