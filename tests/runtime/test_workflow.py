"""GraphWorkflow on the real Temporal dev server, plus a replay test over saved histories."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from tests.runtime.support import FIXTURES, plan_from_dsl
from tideflow.activities.heartbeat import node_attempts
from tideflow.platform.settings import Settings
from tideflow.platform.temporal import PASSTHROUGH_MODULES, TideflowTemporal
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult
from tideflow.workflows.ingestion import DocumentIngestionWorkflow
from tideflow.workflows.interpreter import GraphWorkflow

HISTORIES = Path(__file__).parent / "histories"


class FakeCodeInput(BaseModel):
    """The run_code contract's fields this stand-in reads."""

    node_id: str
    code: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    max_attempts: int | None = None


@activity.defn(name="run_code")
async def fake_run_code(req: FakeCodeInput) -> dict[str, Any]:
    """Runs fixture code in-process (tests only); ``fail`` in the code fails every attempt.

    It keeps the real activities' attempt contract (``node_attempts``), which the workflow's
    retry policy relies on."""
    with node_attempts(req.max_attempts):
        if "fail" in req.code:
            raise ApplicationError("boom", type="CodeNodeError")
        scope: dict[str, Any] = {}
        exec(req.code, scope)
        return {"outputs": scope["main"](**req.inputs)}


async def _run(
    client: Client, task_queue: str, run_input: GraphRunInput
) -> tuple[GraphRunResult, WorkflowHistory]:
    temporal = TideflowTemporal(Settings())
    async with temporal.worker(
        client, workflows=[GraphWorkflow], activities=[fake_run_code], task_queue=task_queue
    ):
        handle = await client.start_workflow(
            GraphWorkflow.run, run_input, id=f"graph-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        result = await handle.result()
        history = await handle.fetch_history()
    return result, history


def _case(case_id: str) -> dict[str, Any]:
    cases = json.loads((FIXTURES / "cases.normalized.json").read_text())
    return next(c for c in cases if c["id"] == case_id)


def _input(case_id: str) -> GraphRunInput:
    case = _case(case_id)
    return GraphRunInput(
        plan=plan_from_dsl(FIXTURES / case["fixture"]),
        inputs=case["inputs"],
        query=case["query"],
        pins=case["pins"],
        mock_external=case["auto_mock"],
    )


CASES = [
    "conditional_parallel_code_execution_workflow#41",
    "parallel_iteration_formatting_workflow#65",
    "search_dify_from_2023_to_2025#68",
    "test_complex_branch#77",
    "update-conversation-variable-in-iteration#83",
]


@pytest.mark.parametrize("case_id", CASES)
async def test_fixture_runs_on_temporal(
    temporal_env: WorkflowEnvironment, task_queue: str, case_id: str
) -> None:
    result, history = await _run(temporal_env.client, task_queue, _input(case_id))
    case = _case(case_id)
    got = {"answer": result.answer} if case["mode"] == "advanced-chat" else result.outputs
    assert got == case["expected_outputs"]
    assert result.status == "succeeded"
    # Histories are recorded on purpose only: replaying the committed ones is what catches a
    # change that breaks determinism for runs already in flight.
    if os.environ.get("TIDEFLOW_RECORD_HISTORIES") == "1":
        HISTORIES.mkdir(exist_ok=True)
        name = case_id.replace("#", "_") + ".json"
        (HISTORIES / name).write_text(history.to_json())


async def test_activity_summary_is_node_title(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    _result, history = await _run(
        temporal_env.client, task_queue, _input("conditional_parallel_code_execution_workflow#42")
    )
    summaries = [
        e.user_metadata.summary.data.decode()
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes") and e.HasField("user_metadata")
    ]
    assert sorted(s.strip('"') for s in summaries) == ["Code 2", "Code 3"]


async def test_activity_retry_policy_and_failure(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    run_input = _input("conditional_parallel_code_execution_workflow#42")
    nodes = dict(run_input.plan.nodes)
    node = nodes["17542307643480"]
    data = {
        **node.data,
        "code": "def main():\n    fail()\n",
        "retry_config": {"retry_enabled": True, "max_retries": 2, "retry_interval": 10},
    }
    nodes[node.id] = node.model_copy(update={"data": data})
    run_input = run_input.model_copy(
        update={"plan": run_input.plan.model_copy(update={"nodes": nodes})}
    )
    result, history = await _run(temporal_env.client, task_queue, run_input)
    assert result.status == "failed"
    assert result.error == "boom"
    failed = [r for r in result.node_runs if r.status == "failed"]
    assert [(r.node_id, r.error_type) for r in failed] == [("17542307643480", "CodeNodeError")]
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert max(attempts) == 3


async def test_start_input_validation_fails_run(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    run_input = _input("conditional_parallel_code_execution_workflow#41").model_copy(
        update={"inputs": {}}
    )
    result, _history = await _run(temporal_env.client, task_queue, run_input)
    assert result.status == "failed"
    assert result.error is not None and "switch" in result.error


async def test_events_query(temporal_env: WorkflowEnvironment, task_queue: str) -> None:
    client = temporal_env.client
    temporal = TideflowTemporal(Settings())
    async with temporal.worker(
        client, workflows=[GraphWorkflow], activities=[fake_run_code], task_queue=task_queue
    ):
        handle = await client.start_workflow(
            GraphWorkflow.run,
            _input("test_complex_branch#77").model_copy(update={"run_id": "run-77"}),
            id=f"graph-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        result = await handle.result()
        events = await handle.query(GraphWorkflow.events, 0)
        tail = await handle.query(GraphWorkflow.events, 3)
    assert events[0].event == "workflow_started" and events[-1].event == "workflow_finished"
    assert [e.index for e in tail] == list(range(3, len(events)))
    assert result.answer == "contains 'hello'This is a mocked LLM response for hello world"
    assert result.run_id == events[0].data["id"] == events[-1].data["id"] == "run-77"
    # Dify's streaming order: "Answer 2" is reached through the LLM (no branch on that path),
    # so its session opens when Start finishes, before the IF/ELSE opens "Answer"'s.
    assert [e.data["answer"] for e in events if e.event == "message"] == [
        "This is a mocked LLM response for hello world",
        "contains 'hello'",
    ]
    assert all(e.created_at > 0 for e in events)


async def test_replay_saved_histories() -> None:
    files = sorted(HISTORIES.glob("*.json"))
    assert len(files) >= 5, "the committed histories are missing"
    replayer = Replayer(
        workflows=[GraphWorkflow, DocumentIngestionWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=_sandbox_runner(),
    )
    for path in files:
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        await replayer.replay_workflow(history)


def _sandbox_runner() -> SandboxedWorkflowRunner:
    """The worker's sandbox (same pass-through list), so replay checks what production runs."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )
