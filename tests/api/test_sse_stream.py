"""The SSE stream of recorded events without Temporal: a fake channel feeds ``RunService``.

Covers what a live run rarely shows: ``node_retry``, a run that ended without recording
``workflow_finished`` (the fallback from the run record), and reattaching around both.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.api.conftest import sse_events
from tideflow.platform.db.models import WorkflowRun
from tideflow.platform.runs.chat_sse import ChatEventTranslator
from tideflow.platform.runs.service import RunService
from tideflow.platform.runs.sse import DifyEventTranslator
from tideflow.platform.settings import Settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.platform.temporal_link import TemporalLink
from tideflow.workflows.engine.models import RunEvent

RUN_ID = "run-1"
T0 = 1_700_000_000


def _events(*, finished: bool) -> list[RunEvent]:
    """A run: Start, an iteration's start marker, an LLM retried once, the end."""
    specs: list[tuple[str, str | None, dict[str, Any], int]] = [
        ("workflow_started", None, {"id": RUN_ID, "inputs": {"q": "x"}}, T0),
        ("node_started", "start", _node("s-1", "start", 1, None, inputs={"q": "x"}), T0),
        ("node_finished", "start", _done("s-1", "start", 1, None, T0, T0 + 1), T0 + 1),
        ("node_started", "it-start", _node("i-1", "iteration-start", 2, "start"), T0 + 1),
        ("node_finished", "it-start", _done("i-1", "iteration-start", 2, None, T0, T0), T0 + 1),
        ("node_started", "llm", _node("l-1", "llm", 3, "start", inputs={}), T0 + 2),
        (
            "node_retry",
            "llm",
            {"retry_index": 1, "error": "rate limited s3cr3t", "error_type": None},
            T0 + 4,
        ),
        ("node_finished", "llm", _done("l-1", "llm", 3, "start", T0 + 2, T0 + 5), T0 + 5),
        ("node_skipped", "other", {}, T0 + 5),
        ("text_chunk", "end", {"text": "hi", "from_variable_selector": ["llm", "text"]}, T0 + 5),
    ]
    if finished:
        data: dict[str, Any] = {
            "id": RUN_ID,
            "status": "succeeded",
            "outputs": {"text": "hi"},
            "error": None,
            "elapsed": 5.5,
            "total_steps": 3,
            "exceptions_count": 0,
            "started_at": T0,
            "finished_at": T0 + 6,
        }
        specs.append(("workflow_finished", None, data, T0 + 6))
    return [
        RunEvent(index=i, event=name, node_id=node_id, data=data, created_at=at)
        for i, (name, node_id, data, at) in enumerate(specs)
    ]


def _node(
    run_id: str, node_type: str, index: int, predecessor: str | None, **extra: Any
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "node_type": node_type,
        "title": node_type.title(),
        "index": index,
        "predecessor_node_id": predecessor,
        "iteration_id": None,
        "iteration_index": None,
        "loop_id": None,
        "loop_index": None,
        **extra,
    }


def _done(
    run_id: str, node_type: str, index: int, predecessor: str | None, started: int, ended: int
) -> dict[str, Any]:
    return {
        **_node(run_id, node_type, index, predecessor),
        "inputs": {},
        "process_data": {},
        "outputs": {"text": "hi"},
        "status": "succeeded",
        "error": None,
        "elapsed": float(ended - started) + 0.25,
        "started_at": started,
        "finished_at": ended,
    }


class _Channel:
    def __init__(self, events: list[RunEvent]) -> None:
        self._events = events

    async def events(self, workflow_id: str, since: int) -> list[RunEvent]:
        del workflow_id
        return [e for e in self._events if e.index >= since]


@dataclass
class _Service(RunService):
    """The stream of ``recorded`` for a run that has already ended as ``row``."""

    recorded: list[RunEvent] | None = None
    ended_row: WorkflowRun | None = None

    def channel(self) -> _Channel:
        return _Channel(self.recorded or [])

    def watch(self, row: WorkflowRun) -> asyncio.Task[None]:
        del row
        return _DONE[0]

    async def wait(self, row: WorkflowRun) -> WorkflowRun:
        return self.ended_row or row


_DONE: list[asyncio.Task[None]] = []


async def _stream(
    events: list[RunEvent],
    row: WorkflowRun,
    since: int = 0,
    chat: bool = False,
) -> list[tuple[int | None, dict[str, Any]]]:
    async def nothing() -> None:
        return None

    task = asyncio.create_task(nothing())
    await task
    _DONE[:] = [task]
    settings = Settings(sse_ping_interval_s=60.0, event_poll_interval_s=0.001)
    service = _Service(
        settings, TemporalLink(TideflowTemporal(settings)), recorded=events, ended_row=row
    )
    secrets = ("s3cr3t",)
    translator: DifyEventTranslator = (
        ChatEventTranslator(RUN_ID, "wf-1", None, secrets, message_id="m-1", conversation_id="c-1")
        if chat
        else DifyEventTranslator(RUN_ID, "wf-1", None, secrets)
    )
    lines = [line async for line in service.stream(row, translator, since)]
    return [(i, p) for i, p in sse_events("".join(lines)) if isinstance(p, dict)]


def _row(status: str, error: str | None = None) -> WorkflowRun:
    return WorkflowRun(
        id=RUN_ID,
        tenant_id="t-1",
        app_id="a-1",
        app_version_id="wf-1",
        temporal_workflow_id=f"app-a-1-{RUN_ID}",
        status=status,
        error=error,
        total_tokens=42,
        created_at=datetime.fromtimestamp(T0 - 100, UTC),
        finished_at=datetime.fromtimestamp(T0 + 100, UTC),
        end_user_id="u-1",
    )


async def test_recorded_events_map_to_difys_fields() -> None:
    events = _events(finished=True)
    out = await _stream(events, _row("succeeded"))
    names = [p["event"] for _, p in out]
    assert names == [
        "workflow_started",
        "node_started",
        "node_finished",
        "node_started",
        "node_retry",
        "node_finished",
        "text_chunk",
        "workflow_finished",
    ]
    assert [i for i, _ in out] == [0, 1, 2, 5, 6, 7, 9, 10]
    assert out[0][1]["data"]["created_at"] == T0
    started = out[3][1]["data"]
    assert started["id"] == "l-1" and started["index"] == 3
    assert started["predecessor_node_id"] == "start" and started["created_at"] == T0 + 2
    retry = out[4][1]["data"]
    assert retry["status"] == "retry" and retry["retry_index"] == 1
    assert retry["id"] == "l-1" and retry["node_type"] == "llm" and retry["index"] == 3
    assert (retry["created_at"], retry["finished_at"], retry["elapsed_time"]) == (
        T0 + 2,
        T0 + 4,
        2.0,
    )
    assert retry["error"] == "rate limited ******"
    done = out[5][1]["data"]
    assert (done["created_at"], done["finished_at"], done["elapsed_time"]) == (
        T0 + 2,
        T0 + 5,
        3.25,
    )
    assert out[6][1]["data"] == {"text": "hi", "from_variable_selector": ["llm", "text"]}
    finished = out[-1][1]
    assert finished["workflow_run_id"] == RUN_ID == finished["task_id"]
    data = finished["data"]
    # From the recorded event...
    assert (data["created_at"], data["finished_at"], data["elapsed_time"]) == (T0, T0 + 6, 5.5)
    assert data["status"] == "succeeded" and data["total_steps"] == 3
    assert data["id"] == RUN_ID and data["workflow_id"] == "wf-1"
    # ...and from the run record what the event lacks.
    assert data["total_tokens"] == 42 and data["created_by"] == {"id": "u-1", "user": "end_user"}


async def test_reattach_is_exact_with_and_without_a_recorded_end() -> None:
    for finished, row in ((True, _row("succeeded")), (False, _row("failed", "boom s3cr3t"))):
        events = _events(finished=finished)
        full = await _stream(events, row)
        assert [p["event"] for _, p in full].count("workflow_finished") == 1
        if not finished:  # the run record's end, with the id after the last recorded event
            assert full[-1][0] == len(events)
            assert full[-1][1]["data"]["status"] == "failed"
            assert full[-1][1]["data"]["error"] == "boom ******"
        for cut in range(len(full)):
            since = (full[cut][0] or 0) + 1
            assert await _stream(events, row, since) == full[cut + 1 :], (finished, cut)


async def test_chat_stream_ends_once_with_message_fields() -> None:
    events = _events(finished=True)
    events.insert(
        -1,
        RunEvent(
            index=0,
            event="message",
            node_id="answer",
            data={"answer": "hi", "from_variable_selector": ["llm", "text"]},
            created_at=T0 + 5,
        ),
    )
    events = [e.model_copy(update={"index": i}) for i, e in enumerate(events)]
    out = await _stream(events, _row("succeeded"), chat=True)
    names = [p["event"] for _, p in out]
    assert names[-3:] == ["message", "message_end", "workflow_finished"]
    message = out[-3][1]
    assert message["from_variable_selector"] == ["llm", "text"]
    assert message["created_at"] == T0 + 5 and message["message_id"] == "m-1"
    assert "text_chunk" not in names and names.count("workflow_finished") == 1
    assert out[-1][1]["message_id"] == "m-1" and out[-1][0] == len(events) - 1


def test_truncation_flags_reach_the_stream() -> None:
    # The workflow keeps bounded previews of large values; the SSE says which were cut.
    translator = DifyEventTranslator(RUN_ID, "wf-1", None, ())
    data = {**_done("n-1", "code", 1, None, T0, T0 + 1), "outputs_truncated": True}
    finished = translator.translate(
        RunEvent(index=0, event="node_finished", node_id="code", data=data, created_at=T0 + 1)
    )
    assert finished is not None
    assert finished["data"]["outputs_truncated"] is True
    assert finished["data"]["inputs_truncated"] is False
    assert finished["data"]["process_data_truncated"] is False
