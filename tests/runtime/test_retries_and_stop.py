"""Temporal's activity retries in the run's records, and stopping a run from outside.

Real Temporal dev server, real activities: an http-request node against a flaky local server
(fails a given number of times, then answers 200), and a code node whose sandbox is killed when
the run is cancelled.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.activities.support import apply_settings, http_node
from tests.helpers import runner_children
from tests.runtime.graphs import START, chain, end, node
from tests.runtime.support import LocalExecutor, plan_from_graph
from tideflow.activities import code_pool
from tideflow.activities.code import run_code
from tideflow.activities.http import http_request
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.workflows.engine import context
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult, RunEvent
from tideflow.workflows.engine.recorder import RunRecorder
from tideflow.workflows.engine.run import run_graph
from tideflow.workflows.interpreter import GraphWorkflow

RETRY_EVENT_KEYS = {"retry_index", "error", "error_type"}


class _Flaky(BaseHTTPRequestHandler):
    """``GET /<key>/<n>``: 500 for the first ``n`` requests with that key, then 200."""

    seen: dict[str, int] = {}  # noqa: RUF012 - shared by the server's handler instances
    lock = threading.Lock()

    def do_GET(self) -> None:
        _, key, fails = self.path.split("/")
        with self.lock:
            count = self.seen[key] = self.seen.get(key, 0) + 1
        status, body = (500, b"not yet") if count <= int(fails) else (200, b"ok")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture(scope="module")
def flaky_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Nodes may reach the loopback server; code may run for a minute."""
    yield apply_settings(monkeypatch, tmp_path, allow_private_network="true", code_timeout_s="60")
    monkeypatch.undo()
    get_settings.cache_clear()


def _flaky_run(url: str, max_retries: int) -> GraphRunInput:
    retry = {"retry_enabled": True, "max_retries": max_retries, "retry_interval": 10}
    data = {k: v for k, v in http_node(url, retry_config=retry).items() if k != "type"}
    nodes = [START, node("http", "http-request", **data), end(("status", ["http", "status_code"]))]
    return GraphRunInput(plan=plan_from_graph("workflow", nodes, chain("start", "http", "end")))


async def _start(
    client: Client, task_queue: str, run_input: GraphRunInput
) -> WorkflowHandle[Any, GraphRunResult]:
    return await client.start_workflow(
        GraphWorkflow.run, run_input, id=f"graph-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )


def _node_events(events: list[RunEvent], node_id: str) -> list[RunEvent]:
    return [e for e in events if e.node_id == node_id]


async def _run_flaky(
    env: WorkflowEnvironment, task_queue: str, run_input: GraphRunInput
) -> tuple[GraphRunResult, list[RunEvent]]:
    async with TideflowTemporal(Settings()).worker(
        env.client, workflows=[GraphWorkflow], activities=[http_request], task_queue=task_queue
    ):
        handle = await _start(env.client, task_queue, run_input)
        result = await handle.result()
        events = await handle.query(GraphWorkflow.events, 0)
    return result, events


async def test_activity_retries_are_recorded_on_success(
    temporal_env: WorkflowEnvironment, task_queue: str, flaky_server: str, settings: Settings
) -> None:
    del settings
    url = f"{flaky_server}/{uuid.uuid4().hex}/2"
    result, events = await _run_flaky(temporal_env, task_queue, _flaky_run(url, max_retries=3))
    assert result.status == "succeeded", result.error
    assert result.outputs == {"status": 200}
    http = next(r for r in result.node_runs if r.node_id == "http")
    assert (http.status, http.attempts) == ("succeeded", 3)
    seen = _node_events(events, "http")
    assert [e.event for e in seen] == ["node_started", "node_retry", "node_retry", "node_finished"]
    # The workflow is not told why the earlier attempts failed: no error is made up.
    assert [e.data for e in seen[1:3]] == [
        {"retry_index": 1, "error": None, "error_type": None},
        {"retry_index": 2, "error": None, "error_type": None},
    ]


async def test_activity_retries_are_recorded_on_failure(
    temporal_env: WorkflowEnvironment, task_queue: str, flaky_server: str, settings: Settings
) -> None:
    del settings
    url = f"{flaky_server}/{uuid.uuid4().hex}/2"
    result, events = await _run_flaky(temporal_env, task_queue, _flaky_run(url, max_retries=1))
    assert result.status == "failed"
    http = next(r for r in result.node_runs if r.node_id == "http")
    assert (http.status, http.attempts, http.error_type) == ("failed", 2, "HTTPResponseCodeError")
    seen = _node_events(events, "http")
    assert [e.event for e in seen] == ["node_started", "node_retry", "node_finished"]
    assert seen[1].data == {"retry_index": 1, "error": None, "error_type": None}


async def test_engine_retry_events_have_the_same_shape() -> None:
    retry = {"retry_enabled": True, "max_retries": 1, "retry_interval": 10}
    code = node("code", "code", code="", outputs={}, variables=[], retry_config=retry)
    plan = plan_from_graph("workflow", [START, code, end()], chain("start", "code", "end"))
    recorder = RunRecorder()
    run_input = GraphRunInput(plan=plan, pins={"code": {"__error__": "nope"}})
    result = await run_graph(run_input, LocalExecutor(), recorder)
    assert result.status == "failed"
    retries = [e.data for e in recorder.events if e.event == "node_retry"]
    assert retries == [{"retry_index": 1, "error": "nope", "error_type": "PinnedNodeError"}]
    assert set(retries[0]) == RETRY_EVENT_KEYS
    assert next(r for r in result.node_runs if r.node_id == "code").attempts == 2


def _runner_processes() -> set[int]:
    """Pids of this process's children that run a code-node runner (not those pre-started and
    still waiting for work in the sandbox pool)."""
    pool = code_pool.current_pool(get_settings().code_pool_size)
    waiting = pool.idle_pids() if pool is not None else set[int]()
    return runner_children() - waiting


async def _until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.1)
    return bool(condition())


async def test_cancelled_run_is_stopped_and_its_sandbox_killed(
    temporal_env: WorkflowEnvironment, task_queue: str, settings: Settings
) -> None:
    del settings
    before = _runner_processes()
    sleepy = node(
        "code",
        "code",
        code="import time\ndef main():\n    time.sleep(60)\n    return {'r': 1}\n",
        outputs={"r": {"type": "number"}},
        variables=[],
    )
    plan = plan_from_graph("workflow", [START, sleepy, end()], chain("start", "code", "end"))
    client = temporal_env.client
    async with TideflowTemporal(Settings()).worker(
        client, workflows=[GraphWorkflow], activities=[run_code], task_queue=task_queue
    ):
        handle = await _start(client, task_queue, GraphRunInput(plan=plan))
        assert await _until(lambda: _runner_processes() - before, 20), "the code never started"
        await handle.cancel()
        started = time.monotonic()
        result = await asyncio.wait_for(handle.result(), 10)
        stopped_after = time.monotonic() - started
        events = await handle.query(GraphWorkflow.events, 0)
        # The activity hears of the cancellation on a heartbeat, then kills its process group.
        assert await _until(lambda: not (_runner_processes() - before), 15), "sandbox left"
    assert result.status == "stopped" and stopped_after < 5
    assert [(r.node_id, r.status) for r in result.node_runs] == [
        ("start", "succeeded"),
        ("code", "stopped"),
    ]
    assert events[-1].event == "workflow_finished" and events[-1].data["status"] == "stopped"


async def test_heartbeats_keep_a_long_code_node_alive(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Code running well past the heartbeat timeout succeeds: run_code heartbeats meanwhile."""
    del settings
    # Engine modules are passed through the workflow sandbox, so this reaches the workflow.
    monkeypatch.setattr(context, "HEARTBEAT_TIMEOUT_SECONDS", 1.0)
    slow = node(
        "code",
        "code",
        code="import time\ndef main():\n    time.sleep(3)\n    return {'r': 1}\n",
        outputs={"r": {"type": "number"}},
        variables=[],
    )
    nodes = [START, slow, end(("r", ["code", "r"]))]
    plan = plan_from_graph("workflow", nodes, chain("start", "code", "end"))
    client = temporal_env.client
    async with TideflowTemporal(Settings()).worker(
        client, workflows=[GraphWorkflow], activities=[run_code], task_queue=task_queue
    ):
        handle = await _start(client, task_queue, GraphRunInput(plan=plan))
        result = await handle.result()
        history = await handle.fetch_history()
    assert result.status == "succeeded", result.error
    assert result.outputs == {"r": 1}
    scheduled = next(
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    )
    assert scheduled.heartbeat_timeout.ToTimedelta().total_seconds() == 1.0
