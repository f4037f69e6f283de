"""A worker dying mid-activity never fails the run; a node's own failures follow its retry_config.

Real Temporal dev server. Worker A runs in a subprocess so that it can really die (SIGKILL: no
failure is reported, the activity only stops heartbeating); worker B, in this process, picks the
retried attempt up.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState, RetryState
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.activities.support import apply_settings
from tests.runtime.graphs import START, chain, end, node
from tests.runtime.support import plan_from_graph
from tests.runtime.worker_process import kill_tree
from tideflow.local_run import graph_worker
from tideflow.platform.settings import Settings, get_settings
from tideflow.workflows.engine import context
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult
from tideflow.workflows.interpreter import GraphWorkflow

HEARTBEAT_TIMEOUT = 1.0

# Worker A: every workflow and activity of the worker process, on the test's queue, with the
# short heartbeat timeout (the workflow task that schedules the activity runs here).
WORKER_A = """
import asyncio, sys
from temporalio.client import Client
from tideflow.local_run import graph_worker
from tideflow.platform.settings import Settings
from tideflow.platform.temporal import DATA_CONVERTER
from tideflow.workflows.engine import context

context.HEARTBEAT_TIMEOUT_SECONDS = float(sys.argv[3])

async def main() -> None:
    client = await Client.connect(sys.argv[1], data_converter=DATA_CONVERTER)
    await graph_worker(client, Settings(), sys.argv[2]).run()

asyncio.run(main())
"""


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    yield apply_settings(monkeypatch, tmp_path, code_timeout_s="60")
    monkeypatch.undo()
    get_settings.cache_clear()


def _code_node(code: str, **data: Any) -> dict[str, Any]:
    return node("code", "code", code=code, outputs={"r": {"type": "number"}}, variables=[], **data)


def _plan_input(code_node: dict[str, Any]) -> GraphRunInput:
    nodes = [START, code_node, end(("r", ["code", "r"]))]
    return GraphRunInput(plan=plan_from_graph("workflow", nodes, chain("start", "code", "end")))


async def _start(
    client: Client, task_queue: str, run_input: GraphRunInput
) -> WorkflowHandle[Any, GraphRunResult]:
    return await client.start_workflow(
        GraphWorkflow.run, run_input, id=f"crash-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )


async def _activity_started(handle: WorkflowHandle[Any, GraphRunResult], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = (await handle.describe()).raw_description.pending_activities
        if any(a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED for a in pending):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_run_survives_its_worker_dying_mid_activity(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(context, "HEARTBEAT_TIMEOUT_SECONDS", HEARTBEAT_TIMEOUT)
    client = temporal_env.client
    code = "import time\ndef main():\n    time.sleep(4)\n    return {'r': 1}\n"
    target = client.service_client.config.target_host
    worker_a = subprocess.Popen(
        [sys.executable, "-c", WORKER_A, target, task_queue, str(HEARTBEAT_TIMEOUT)],
        start_new_session=True,
    )
    try:
        handle = await _start(client, task_queue, _plan_input(_code_node(code)))
        assert await _activity_started(handle, 60), "worker A never started the code node"
        await asyncio.sleep(1.0)  # well inside the 4 s sleep: the sandbox is running
        # The worker dies without a word: only the missing heartbeats tell Temporal.
        kill_tree(worker_a)
    finally:
        if worker_a.poll() is None:
            kill_tree(worker_a)
    async with graph_worker(client, settings, task_queue):
        result = await asyncio.wait_for(handle.result(), 60)
        history = await handle.fetch_history()
    assert result.status == "succeeded", result.error
    assert result.outputs == {"r": 1}
    record = next(r for r in result.node_runs if r.node_id == "code")
    # A later attempt (on worker B) is the one that succeeded: the second, unless a loaded
    # machine made an attempt on worker B miss the 1 s heartbeat window too (seen once in CI).
    assert record.status == "succeeded"
    assert 2 <= record.attempts < context.INFRA_MAX_ATTEMPTS
    scheduled = next(
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    )
    # No retry_config: one attempt for the node's own failures, more for lost workers.
    assert scheduled.retry_policy.maximum_attempts == context.INFRA_MAX_ATTEMPTS
    assert scheduled.heartbeat_timeout.ToTimedelta().total_seconds() == HEARTBEAT_TIMEOUT


@pytest.mark.parametrize(("max_retries", "attempts"), [(None, 1), (2, 3)])
async def test_code_errors_use_exactly_the_retry_config_attempts(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    settings: Settings,
    max_retries: int | None,
    attempts: int,
) -> None:
    retry = (
        {}
        if max_retries is None
        else {
            "retry_config": {
                "retry_enabled": True,
                "max_retries": max_retries,
                "retry_interval": 10,
            }
        }
    )
    code_node = _code_node("def main():\n    raise ValueError('boom')\n", **retry)
    client = temporal_env.client
    async with graph_worker(client, settings, task_queue):
        handle = await _start(client, task_queue, _plan_input(code_node))
        result = await asyncio.wait_for(handle.result(), 60)
        history = await handle.fetch_history()
    assert result.status == "failed"
    record = next(r for r in result.node_runs if r.node_id == "code")
    assert (record.status, record.attempts, record.error_type) == (
        "failed",
        attempts,
        "CodeNodeError",
    )
    assert "boom" in (record.error or "")
    started = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    # Only the last attempt's start is in the history: it is the attempt-th.
    assert started == [attempts]
    failed = [
        e.activity_task_failed_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    ]
    assert len(failed) == 1
    assert failed[0].retry_state == RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
