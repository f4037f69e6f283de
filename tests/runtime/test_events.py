"""Recorded events against Dify's: event order (cases.json ``expected_event_sequence``) and the
order answer / End text streams in (``expected_stream`` and the notes of the streaming cases)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.runtime.support import FIXTURES, LocalExecutor, plan_from_dsl
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult, RunEvent
from tideflow.workflows.engine.recorder import RunRecorder
from tideflow.workflows.engine.run import run_graph
from tideflow.workflows.graph.plan import ExecutionPlan

RAW: list[dict[str, Any]] = json.loads((FIXTURES / "cases.json").read_text())
CASES: list[dict[str, Any]] = json.loads((FIXTURES / "cases.normalized.json").read_text())
# Our event names for Dify's graph events (node_skipped and variable_updated have no SSE event).
DIFY_NAMES = {
    "workflow_started": "GraphRunStartedEvent",
    "node_started": "NodeRunStartedEvent",
    "message": "NodeRunStreamChunkEvent",
    "text_chunk": "NodeRunStreamChunkEvent",
    "node_finished": "NodeRunSucceededEvent",
    "loop_started": "NodeRunLoopStartedEvent",
    "loop_next": "NodeRunLoopNextEvent",
    "loop_completed": "NodeRunLoopSucceededEvent",
    "workflow_finished": "GraphRunSucceededEvent",
}
CHUNKS = ("message", "text_chunk")
CLOCK = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())  # LocalExecutor's clock


async def _run_case(
    index: int, **overrides: Any
) -> tuple[GraphRunResult, list[RunEvent], ExecutionPlan]:
    case = next(c for c in CASES if c["id"].endswith(f"#{index}"))
    plan = plan_from_dsl(FIXTURES / case["fixture"])
    fields: dict[str, Any] = {
        "inputs": case["inputs"],
        "query": case["query"],
        "pins": case["pins"],
        "mock_external": case["auto_mock"],
        **overrides,
    }
    recorder = RunRecorder()
    result = await run_graph(GraphRunInput(plan=plan, **fields), LocalExecutor(), recorder)
    return result, recorder.events, plan


def _as_dify(events: list[RunEvent], plan: ExecutionPlan) -> list[str]:
    """Our events under Dify's names. Dify sends no node events for the iteration-start /
    loop-start markers, and an LLM's text is one chunk here (the activity returns it whole)."""
    names: list[str] = []
    for event in events:
        node = plan.nodes.get(event.node_id or "")
        marker = node is not None and node.type in ("loop-start", "iteration-start")
        if event.event in DIFY_NAMES and not (marker and event.event.startswith("node_")):
            names.append(DIFY_NAMES[event.event])
    return names


def _chunks(events: list[RunEvent]) -> list[str]:
    return [str(e.data.get("answer", e.data.get("text"))) for e in events if e.event in CHUNKS]


@pytest.mark.parametrize("index", [0, 51, 60, 68, 70, 71, 72, 81])
async def test_event_sequence_matches_dify(index: int) -> None:
    result, events, plan = await _run_case(index)
    assert result.status == "succeeded", result.error
    expected = [e for e in RAW[index]["expected_event_sequence"] if "VariableUpdated" not in e]
    assert _as_dify(events, plan) == expected


async def test_llm_text_is_one_chunk_where_dify_streams_tokens() -> None:
    _result, events, plan = await _run_case(3)
    expected: list[str] = []
    for name in RAW[3]["expected_event_sequence"]:
        if not (name == "NodeRunStreamChunkEvent" and expected[-1] == name):
            expected.append(name)
    assert _as_dify(events, plan) == expected


async def test_answer_streams_static_text_before_the_answer_node_runs() -> None:
    result, events, _plan = await _run_case(0)
    chunks = [e for e in events if e.event == "message"]
    assert [(e.data["answer"], e.data["from_variable_selector"]) for e in chunks] == [
        ("prefix", ["answer", "answer"]),
        ("Hello, AI!", ["sys", "query"]),
        ("suffix", ["answer", "answer"]),
    ]
    start_started = next(e.index for e in events if e.event == "node_started")
    start_finished = next(e.index for e in events if e.event == "node_finished")
    assert start_started < chunks[0].index < start_finished  # as Start finishes, as in Dify
    assert result.answer == "prefixHello, AI!suffix"


@pytest.mark.parametrize(
    ("index", "stream"),
    [
        (24, ["hello, dify!"]),
        (64, ["你好\uff0c我是AI助手\u3002", "Hello, I am an AI assistant."]),
        (67, ["# Du Fu\n\n", "Spring View", "\n\n# Li Bai\n\n", "Quiet Night Thought"]),
        (76, ["--- answer 1 ---\n\nfoo\n", "--- answer 2 ---\n\n", "mocked llm text", "\n"]),
        (60, ["1", "\n", "2", "\n", "1", " + ", "2"]),
    ],
)
async def test_answer_chunks_in_template_and_graph_order(index: int, stream: list[str]) -> None:
    result, events, _plan = await _run_case(index)
    assert _chunks(events) == stream
    assert "".join(stream) == result.answer


async def test_parallel_llms_stream_in_template_order_after_both_finish() -> None:
    _result, events, _plan = await _run_case(64)
    llm_done = [e.index for e in events if e.event == "node_finished" and e.node_id != "answer"]
    chunks = [e for e in events if e.event == "message"]
    answer_started = next(
        e.index for e in events if e.event == "node_started" and e.node_id == "answer"
    )
    assert [c.data["from_variable_selector"][0] for c in chunks] == [
        "1754339725656",
        "1754339718571",
    ]
    assert min(llm_done) < chunks[0].index and chunks[-1].index < answer_started


async def test_assigned_conversation_variable_streams_only_after_the_assignment() -> None:
    result, events, _plan = await _run_case(82)
    assigned = next(
        e.index for e in events if e.event == "node_started" and e.node_id == "assigner"
    )
    chunks = [e for e in events if e.event == "message"]
    assert all(c.index > assigned for c in chunks)
    conv = [
        c.data["answer"] for c in chunks if c.data["from_variable_selector"][0] == "conversation"
    ]
    assert conv == ["overwrite-value"]
    assert result.answer == "Current Value Of `conv_var` is:overwrite-value"


async def test_answer_inside_an_iteration_streams_each_item() -> None:
    plan = plan_from_dsl(FIXTURES / "iteration_contains_answer.yml")
    recorder = RunRecorder()
    result = await run_graph(GraphRunInput(plan=plan, query="hi"), LocalExecutor(), recorder)
    inner = [
        e for e in recorder.events if e.event == "message" and e.node_id == "answer_in_iteration"
    ]
    assert "".join(e.data["answer"] for e in inner) == "apple\nbanana\n"
    assert result.answer == "apple\nbanana\ndone"


CONDITIONAL = "conditional_streaming_vs_template_workflow.yml"
LLM_TEXT = "Hello, this is streaming response"


@pytest.mark.parametrize(("blocking", "end_id"), [(1, "1754239058707"), (2, "1754296943402")])
async def test_end_outputs_stream_as_text_chunks(blocking: int, end_id: str) -> None:
    plan = plan_from_dsl(FIXTURES / CONDITIONAL)
    pins = {"1754239044238": {"text": LLM_TEXT}, "17542969329740": {"text": LLM_TEXT}}
    run_input = GraphRunInput(
        plan=plan, inputs={"query": "Hello, how are you?", "blocking": blocking}, pins=pins
    )
    recorder = RunRecorder()
    result = await run_graph(run_input, LocalExecutor(), recorder)
    assert result.status == "succeeded", result.error
    events = recorder.events
    chunks = [e for e in events if e.event == "text_chunk"]
    # Template "{{ arg1 }}" of the LLM text gives the same text (cases #45/#46).
    assert [c.data["text"] for c in chunks] == ["Hello, how are you?", "\n", LLM_TEXT]
    assert {c.node_id for c in chunks} == {end_id}
    assert chunks[1].data["from_variable_selector"] == [end_id, "answer"]
    first_llm_done = min(
        e.index for e in events if e.event == "node_finished" and e.data["node_type"] == "llm"
    )
    assert chunks[0].index < first_llm_done
    ends = [e for e in events if e.event == "node_started" and e.data["node_type"] == "end"]
    assert [e.node_id for e in ends] == [end_id]
