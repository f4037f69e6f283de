"""The fields recorded events carry for the SSE stream (Dify's node / container / run fields)."""

from __future__ import annotations

from typing import Any

from tests.runtime.graphs import START, edge, end, node, run
from tests.runtime.support import LocalExecutor, plan_from_graph
from tests.runtime.test_events import CLOCK, _run_case
from tideflow.workflows.engine.models import GraphRunInput, RunEvent
from tideflow.workflows.engine.recorder import RunRecorder
from tideflow.workflows.engine.run import run_graph

NODE_FIELDS = {
    "run_id", "node_type", "title", "index", "predecessor_node_id",
    "iteration_id", "iteration_index", "loop_id", "loop_index",
}  # fmt: skip
FINISHED_FIELDS = NODE_FIELDS | {
    "inputs", "process_data", "outputs", "status", "error", "error_type", "elapsed",
    "attempts", "pinned", "started_at", "finished_at", "execution_metadata",
}  # fmt: skip


def _named(events: list[RunEvent], name: str) -> list[RunEvent]:
    return [e for e in events if e.event == name]


async def test_node_and_loop_event_fields() -> None:
    result, events, _plan = await _run_case(60)  # start → loop(assigner → answer) → answer
    assert all(e.created_at == CLOCK for e in events)
    started, finished = _named(events, "node_started"), _named(events, "node_finished")
    assert all(set(e.data) == NODE_FIELDS | {"inputs"} for e in started)
    assert all(set(e.data) == FINISHED_FIELDS for e in finished)
    assert [e.data["index"] for e in started] == list(range(1, len(started) + 1))
    by_run = {e.data["run_id"]: e for e in started}
    assert len(by_run) == len(started) == len(finished) == result.total_steps
    for done in finished:
        begun = by_run[done.data["run_id"]]
        assert all(done.data[k] == begun.data[k] for k in NODE_FIELDS)
        assert (done.data["status"], done.data["attempts"], done.data["error"]) == (
            "succeeded", 1, None,
        )  # fmt: skip
        assert done.data["started_at"] == done.data["finished_at"] == CLOCK
    start, loop = started[0], started[1]
    assert start.data["predecessor_node_id"] is None and start.data["node_type"] == "start"
    assert loop.data["predecessor_node_id"] == start.node_id
    inner = [e for e in started if e.data["loop_id"] == loop.node_id]
    assert [e.data["loop_index"] for e in inner] == [0, 0, 0, 1, 1, 1]
    assert all(e.data["iteration_id"] is None for e in started)
    loop_run = loop.data["run_id"]
    begun, nxt, done = (_named(events, f"loop_{n}")[0] for n in ("started", "next", "completed"))
    assert begun.data == {
        "run_id": loop_run, "node_type": "loop", "title": "Loop", "inputs": {"i": 0},
        "loop_count": 10, "metadata": {"loop_length": 10},
    }  # fmt: skip
    assert nxt.data["run_id"] == loop_run and nxt.data["index"] == 1
    assert nxt.data["pre_loop_output"] == {"i": 1}
    assert done.data["outputs"] == {"i": 2, "loop_round": 2}
    assert (done.data["status"], done.data["steps"], done.data["error"]) == ("succeeded", 2, None)
    assert done.data["finished_at"] == CLOCK and done.data["elapsed"] == 0.0


async def test_workflow_started_and_finished() -> None:
    result, events, _plan = await _run_case(51)
    first, last = events[0], events[-1]
    assert first.event == "workflow_started" and last.event == "workflow_finished"
    assert first.data == {"id": result.run_id, "workflow_id": "", "inputs": {"query": "test query"}}
    assert last.data == {
        "id": result.run_id, "status": "succeeded", "outputs": {"query": "test query"},
        "error": None, "elapsed": 0.0, "total_steps": 2, "total_tokens": 0, "exceptions_count": 0,
        "started_at": CLOCK, "finished_at": CLOCK,
    }  # fmt: skip


async def test_run_id_is_honoured() -> None:
    nodes = [START, end(("rid", ["sys", "workflow_run_id"]))]
    result = await run(nodes, [edge("start", "end")], run_id="run-fixed")
    assert result.run_id == "run-fixed" and result.outputs == {"rid": "run-fixed"}
    fresh = await run(nodes, [edge("start", "end")])
    assert fresh.run_id and fresh.outputs == {"rid": fresh.run_id} and fresh.run_id != "run-fixed"


async def test_iteration_event_fields() -> None:
    result, events, _plan = await _run_case(65)  # parallel iteration over [1, 2, 3]
    iteration = next(r for r in result.node_runs if r.node_type == "iteration")
    begun = _named(events, "iteration_started")[0].data
    assert (begun["run_id"], begun["node_type"], begun["count"]) == (iteration.id, "iteration", 3)
    assert begun["metadata"] == {"iterator_length": 3} and begun["title"] == iteration.title
    assert sorted(e.data["index"] for e in _named(events, "iteration_next")) == [0, 1, 2]
    done = _named(events, "iteration_completed")[0].data
    assert done["outputs"] == {"output": ["output: 1", "output: 2", "output: 3"]}
    assert (done["status"], done["steps"], done["inputs"]) == ("succeeded", 3, iteration.inputs)
    inner = [e for e in _named(events, "node_started") if e.data["iteration_id"]]
    assert {e.data["iteration_id"] for e in inner} == {iteration.node_id}
    assert sorted({e.data["iteration_index"] for e in inner}) == [0, 1, 2]


async def test_failed_iteration_and_node_record_the_error() -> None:
    data: dict[str, Any] = {"iterator_selector": ["start", "xs"], "start_node_id": "it-start"}
    nodes = [
        START,
        node("it", "iteration", output_selector=["c", "x"], **data),
        node("it-start", "iteration-start", parent="it"),
        node("c", "code", parent="it", code="", outputs={}, variables=[]),
        end(),
    ]
    edges = [edge("start", "it"), edge("it-start", "c"), edge("it", "end")]
    plan = plan_from_graph("workflow", nodes, edges)
    recorder = RunRecorder()
    run_input = GraphRunInput(plan=plan, inputs={"xs": [1]}, pins={"c": {"__error__": "bad"}})
    result = await run_graph(run_input, LocalExecutor(), recorder)
    assert result.status == "failed"
    done = _named(recorder.events, "iteration_completed")[0].data
    assert (done["status"], done["error"], done["outputs"]) == ("failed", "bad", {})
    failed = next(e.data for e in _named(recorder.events, "node_finished") if e.node_id == "c")
    assert (failed["status"], failed["error"], failed["error_type"]) == (
        "failed", "bad", "PinnedNodeError",
    )  # fmt: skip
    assert recorder.events[-1].data["status"] == "failed"
