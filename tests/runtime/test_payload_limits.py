"""Large values never make a Temporal payload the server refuses (the run would hang).

Real Temporal dev server and the worker process's workflows and activities: an iteration whose
template output adds up to several MB completes with its node records cut (and flagged); a run
whose End output is itself over the limit fails with a clear error; a document whose text is over
``max_activity_output_bytes`` fails the node, naming the file.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.activities.support import apply_settings
from tests.runtime.graphs import START, chain, edge, end, node
from tests.runtime.support import plan_from_graph
from tideflow.activities.files import save_file
from tideflow.local_run import graph_worker
from tideflow.platform.settings import Settings, get_settings
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult, RunEvent
from tideflow.workflows.engine.recorder import VALUE_BUDGET, RunRecorder, bound, json_size
from tideflow.workflows.engine.run import RESULT_LIMIT
from tideflow.workflows.interpreter import GraphWorkflow

BOUND_S = 90  # a refused payload makes the workflow task retry forever: never wait for that


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    yield apply_settings(monkeypatch, tmp_path, code_timeout_s="60")
    monkeypatch.undo()
    get_settings.cache_clear()


async def _run(
    env: WorkflowEnvironment, settings: Settings, task_queue: str, run_input: GraphRunInput
) -> tuple[GraphRunResult, list[RunEvent]]:
    async with graph_worker(env.client, settings, task_queue):
        handle = await env.client.start_workflow(
            GraphWorkflow.run,
            run_input,
            id=f"payload-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        result = await asyncio.wait_for(handle.result(), BOUND_S)
        events: list[RunEvent] = []
        while True:  # the query answers a bounded page at a time
            page = await handle.query(GraphWorkflow.events, len(events))
            if not page:
                break
            events.extend(page)
    return result, events


def _iteration(template: str, end_selector: list[str]) -> GraphRunInput:
    nodes = [
        START,
        node(
            "mk",
            "code",
            code_language="python3",
            variables=[],
            code="def main():\n    return {'items': list(range(8))}",
            outputs={"items": {"type": "array[number]"}},
        ),
        node(
            "it",
            "iteration",
            iterator_selector=["mk", "items"],
            output_selector=["tpl", "output"],
            start_node_id="its",
            is_parallel=False,
            error_handle_mode="terminated",
        ),
        node("its", "iteration-start", parent="it"),
        node("tpl", "template-transform", parent="it", variables=[], template=template),
        end(("out", end_selector)),
    ]
    edges = [*chain("start", "mk", "it", "end"), edge("its", "tpl")]
    return GraphRunInput(plan=plan_from_graph("workflow", nodes, edges))


def test_bound_is_a_pure_preview() -> None:
    value = {"text": "x" * 500_000, "n": 1}
    cut, truncated = bound(value)
    assert truncated and json_size(cut) <= VALUE_BUDGET and cut["n"] == 1
    assert cut == bound(value)[0] and cut["text"] == "x" * len(cut["text"])
    assert bound({"a": "small"}) == ({"a": "small"}, False)


def test_events_query_is_paged() -> None:
    recorder = RunRecorder()
    for _ in range(40):
        recorder.emit("node_finished", "n", outputs={"text": "y" * 60_000})
    first = recorder.events_since(0)
    assert 0 < len(first) < 40
    assert recorder.events_since(len(first))[0].index == len(first)


async def test_several_mb_in_an_iteration_completes_with_cut_records(
    temporal_env: WorkflowEnvironment, task_queue: str, settings: Settings
) -> None:
    # The reviewer's case: 8 items x 390 kB; the End node outputs a small value.
    run_input = _iteration("{{ 'x' * 390000 }}", ["tpl", "output"])
    run_input.plan.nodes["end"].data["outputs"] = [
        {"variable": "n", "value_selector": ["mk", "items"]}
    ]
    result, events = await _run(temporal_env, settings, task_queue, run_input)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"n": list(range(8))}
    assert len(result.model_dump_json()) <= RESULT_LIMIT
    templates = [run for run in result.node_runs if run.node_id == "tpl"]
    assert len(templates) == 8 and all(run.outputs_truncated for run in templates)
    assert all(json_size(run.outputs) <= VALUE_BUDGET for run in result.node_runs)
    iteration = next(run for run in result.node_runs if run.node_id == "it")
    assert iteration.outputs_truncated
    finished = [e for e in events if e.event == "node_finished" and e.node_id == "tpl"]
    assert len(finished) == 8 and all(e.data["outputs_truncated"] for e in finished)
    assert events[-1].event == "workflow_finished"


async def test_end_output_over_the_limit_fails_cleanly(
    temporal_env: WorkflowEnvironment, task_queue: str, settings: Settings
) -> None:
    run_input = _iteration("{{ 'x' * 390000 }}", ["it", "output"])
    result, events = await _run(temporal_env, settings, task_queue, run_input)
    assert result.status == "failed" and result.outputs == {}
    assert result.error is not None and "too large" in result.error
    assert str(RESULT_LIMIT) in result.error
    assert events[-1].event == "workflow_finished" and events[-1].data["status"] == "failed"


async def test_document_over_the_output_cap_fails_naming_it(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = apply_settings(monkeypatch, tmp_path, max_activity_output_bytes="100000")
    try:
        doc = save_file(
            b"word " * 30_000,
            filename="big.txt",
            mime_type="text/plain",
            settings=settings,
            tenant_id="",
            transfer_method="local_file",
        )
        nodes: list[dict[str, Any]] = [
            node("start", "start", variables=[{"variable": "doc", "type": "file"}]),
            node(
                "ext", "document-extractor", variable_selector=["start", "doc"], is_array_file=False
            ),
            end(("text", ["ext", "text"])),
        ]
        plan = plan_from_graph("workflow", nodes, chain("start", "ext", "end"))
        run_input = GraphRunInput(plan=plan, inputs={"doc": doc})
        result, _ = await _run(temporal_env, settings, task_queue, run_input)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.status == "failed"
    assert result.error is not None
    assert "big.txt" in result.error and "150000 bytes" in result.error
    assert "100000" in result.error
