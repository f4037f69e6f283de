"""A run waiting on a human-input form survives a restart of the Temporal dev server (persisted
to its SQLite file) and of the worker: the submission after the restart finishes it."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from tests.helpers import free_port
from tests.runtime.support import plan_from_graph
from tests.runtime.test_human_input import FORM, review_graph
from tideflow.local_run import graph_worker
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.temporal import PASSTHROUGH_MODULES, TideflowTemporal
from tideflow.temporal_server import dev_server_argv
from tideflow.worker import connect_with_retry
from tideflow.workflows.engine.models import (
    SUBMIT_HUMAN_INPUT,
    GraphRunInput,
    GraphRunResult,
    HumanInputSubmission,
    RunEvent,
)
from tideflow.workflows.interpreter import GraphWorkflow


@asynccontextmanager
async def dev_server(settings: Settings) -> AsyncIterator[Client]:
    """A persistent dev server on the settings' port and data dir; SIGTERM at the end."""
    proc = subprocess.Popen(
        dev_server_argv(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield await connect_with_retry(TideflowTemporal(settings), timeout_s=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _paused_events(client: Client, workflow_id: str) -> list[RunEvent]:
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(200):
        events: list[RunEvent] = await handle.query(GraphWorkflow.events, 0)
        if any(e.event == "workflow_paused" for e in events):
            return events
        await asyncio.sleep(0.05)
    raise AssertionError("the run never paused")


async def test_waiting_run_survives_server_and_worker_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task_queue: str
) -> None:
    monkeypatch.setenv("TIDEFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TIDEFLOW_TEMPORAL_PORT", str(free_port()))
    monkeypatch.setenv("TIDEFLOW_TEMPORAL_UI_PORT", str(free_port()))
    get_settings.cache_clear()
    settings = get_settings()
    upgrade_database(settings.db_url)
    nodes, edges = review_graph(FORM)
    run_input = GraphRunInput(plan=plan_from_graph("workflow", nodes, edges), inputs={"topic": "x"})
    workflow_id = f"human-restart-{uuid.uuid4().hex[:8]}"
    try:
        async with dev_server(settings) as client, graph_worker(client, settings, task_queue):
            await client.start_workflow(
                GraphWorkflow.run, run_input, id=workflow_id, task_queue=task_queue
            )
            events = await _paused_events(client, workflow_id)
        # Server and worker are gone; the run's state is in temporal.db only.
        key = next(
            e.data["run_id"] for e in events if e.event == "node_started" and e.node_id == "human"
        )
        async with dev_server(settings) as client, graph_worker(client, settings, task_queue):
            handle = client.get_workflow_handle(workflow_id, result_type=GraphRunResult)
            submission = HumanInputSubmission(
                key=key, action="approve", inputs={"comment": "after restart", "level": "low"}
            )
            await handle.execute_update(SUBMIT_HUMAN_INPUT, submission)
            result = await handle.result()
            history = await handle.fetch_history()
    finally:
        get_settings.cache_clear()
    assert result.status == "succeeded"
    assert result.outputs == {"c": "after restart"}
    # The history (an update delivered after a restart) replays deterministically.
    replayer = Replayer(
        workflows=[GraphWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
        ),
    )
    await replayer.replay_workflow(history)
