"""Model tokens reach SSE clients while the model streams (the relay, tideflow/platform/runs/
relay.py): recorded events from a scripted channel plus chunks written to the real stream store
(SQLite), then a chatflow end to end against the fake OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.test_chat import import_text
from tests.fakes.openai_server import FakeLLMServer, Reply
from tests.runtime.graphs import START, chain, end, node
from tests.runtime.support import LocalExecutor, plan_from_graph
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.models import WorkflowRun
from tideflow.platform.runs.chat_sse import ChatEventTranslator
from tideflow.platform.runs.relay import Cursor, sendable
from tideflow.platform.runs.service import RunService
from tideflow.platform.runs.sse import DifyEventTranslator
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.streams import NewChunk, append_chunks, delete_chunks, read_chunks
from tideflow.platform.temporal import TideflowTemporal
from tideflow.platform.temporal_link import TemporalLink
from tideflow.workflows.engine.models import GraphRunInput, RunEvent
from tideflow.workflows.engine.recorder import RunRecorder
from tideflow.workflows.engine.run import run_graph

RUN_ID = "run-1"
T0 = 1_700_000_000
LLM_SELECTOR = ["llm", "text"]
Line = tuple[str | None, dict[str, Any]]


def parse_sse(body: str) -> list[Line]:
    """(id, payload) of each data message (ids as sent: ``N`` or ``N:T[:R]``; pings left out)."""
    out: list[Line] = []
    for block in body.split("\n\n"):
        event_id, payload = None, None
        for line in block.splitlines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                payload = json.loads(line[6:])
        if payload is not None:
            out.append((event_id, payload))
    return out


def answer_of(lines: list[Line], chat: bool = True) -> str:
    """The text a client assembles: message / text_chunk pieces, message_replace resets."""
    text = ""
    for _, payload in lines:
        if payload["event"] == "message_replace":
            text = payload["answer"]
        elif chat and payload["event"] == "message":
            text += payload["answer"]
        elif not chat and payload["event"] == "text_chunk":
            text += payload["data"]["text"]
    return text


class Script:
    """A run as the test reveals it: its recorded events, its end, and its chunks."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.events: list[RunEvent] = []
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def add(self, name: str, node_id: str | None = None, **data: Any) -> None:
        event = RunEvent(
            index=len(self.events), event=name, node_id=node_id, data=data, created_at=T0
        )
        self.events.append(event)

    def node(self, node_id: str, node_type: str, status: str = "succeeded") -> None:
        fields = {"run_id": f"nr-{node_id}", "node_type": node_type, "title": node_id}
        self.add("node_started", node_id, **fields)
        self.add("node_finished", node_id, **fields, status=status, outputs={})

    def pending(self, response_node_id: str = "answer") -> None:
        self.add(
            "stream_pending",
            response_node_id,
            selector=LLM_SELECTOR,
            response_node_id=response_node_id,
            source_node_id="llm",
        )
        self.add("node_started", "llm", run_id="nr-llm", node_type="llm", title="LLM")

    def chunk(self, text: str, offset: int, attempt: int = 1, kind: str = "text") -> None:
        fields: dict[str, Any] = {
            "run_id": RUN_ID,
            "node_id": "llm",
            "node_run_id": "nr-llm",
            "attempt": attempt,
            "kind": kind,
            "offset": offset,
            "text": text,
        }
        append_chunks(self.db_url, [NewChunk.model_validate(fields)])

    def value(self, text: str, chat: bool = True, response_node_id: str = "answer") -> None:
        """The workflow streams the LLM's value into the response node, and the node ends."""
        key = "answer" if chat else "text"
        self.add(
            "message" if chat else "text_chunk",
            response_node_id,
            **{key: text, "from_variable_selector": LLM_SELECTOR},
        )
        self.add("node_finished", "llm", run_id="nr-llm", node_type="llm", status="succeeded")

    def finish(self) -> None:
        self.add("workflow_finished", None, id=RUN_ID, status="succeeded", outputs={})
        self.ended.set_result(None)


class _Channel:
    def __init__(self, script: Script) -> None:
        self.script = script

    async def events(self, workflow_id: str, since: int) -> list[RunEvent]:
        del workflow_id
        return [e for e in list(self.script.events) if e.index >= since]


@dataclass
class _Service(RunService):
    script: Script | None = None

    def channel(self) -> _Channel:
        assert self.script is not None
        return _Channel(self.script)

    def watch(self, row: WorkflowRun) -> asyncio.Future[None]:
        del row
        assert self.script is not None
        return self.script.ended

    async def wait(self, row: WorkflowRun) -> WorkflowRun:
        return row.model_copy(update={"status": "succeeded"})


class Client:
    """One SSE client of the run, collecting lines as they arrive."""

    def __init__(
        self,
        service: _Service,
        chat: bool,
        after: Cursor | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.lines: list[Line] = []
        translator = (
            ChatEventTranslator(
                RUN_ID, "wf-1", None, secrets, message_id="m-1", conversation_id="c-1"
            )
            if chat
            else DifyEventTranslator(RUN_ID, "wf-1", None, secrets)
        )
        self.task = asyncio.create_task(self._read(service, translator, after or Cursor()))

    async def _read(
        self, service: _Service, translator: DifyEventTranslator, after: Cursor
    ) -> None:
        async for line in service.stream(_row(), translator, after):
            self.lines += parse_sse(line)

    async def until(self, check: Callable[[list[Line]], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not check(self.lines):
            assert time.monotonic() < deadline, self.lines
            assert not self.task.done(), self.lines
            await asyncio.sleep(0.005)

    async def done(self) -> list[Line]:
        await asyncio.wait_for(self.task, 5)
        return self.lines

    def events(self) -> list[str]:
        return [p["event"] for _, p in self.lines]


def _row() -> WorkflowRun:
    return WorkflowRun(
        id=RUN_ID,
        tenant_id="t-1",
        app_id="a-1",
        app_version_id="wf-1",
        temporal_workflow_id=f"app-a-1-{RUN_ID}",
        status="running",
    )


@pytest.fixture
async def service(tmp_path: Path) -> _Service:
    db_url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade_database(db_url)
    settings = Settings(
        database_url=db_url,
        data_dir=tmp_path,
        sse_ping_interval_s=60.0,
        event_poll_interval_s=0.02,
        stream_poll_interval_s=0.002,
    )
    return _Service(settings, TemporalLink(TideflowTemporal(settings)), script=Script(db_url))


def _started(script: Script, chat: bool = True) -> None:
    script.add("workflow_started", None, inputs={})
    script.node("start", "start")
    if chat:
        script.add("message", "answer", answer="Q: ", from_variable_selector=["answer", "answer"])
    else:
        script.add("text_chunk", "end", text="Q: ", from_variable_selector=["end", "answer"])
    script.pending("answer" if chat else "end")


def _has(text: str, chat: bool = True) -> Callable[[list[Line]], bool]:
    return lambda lines: answer_of(lines, chat) == text


async def test_retry_resending_the_same_text_is_not_repeated(service: _Service) -> None:
    script = service.script
    assert script is not None
    _started(script)
    client = Client(service, chat=True)
    await client.until(lambda lines: "message" in [p["event"] for _, p in lines])
    script.chunk("Hel", 0)
    await client.until(_has("Q: Hel"))
    script.chunk("lo w", 3)
    await client.until(_has("Q: Hello w"))
    # Attempt 2 streams from offset 0 again: only what goes beyond the shown text goes out.
    script.chunk("Hello", 0, attempt=2)
    script.chunk(" world", 5, attempt=2)
    await client.until(_has("Q: Hello world"))
    live = len(client.lines)
    script.value("Hello world")  # everything was shown: the value adds nothing
    script.node("answer", "answer")
    script.finish()
    lines = await client.done()
    assert answer_of(lines) == "Q: Hello world"
    assert "message_replace" not in client.events()
    # Live messages came before the LLM's node_finished, shaped like the recorded ones.
    llm_done = next(
        i
        for i, (_, p) in enumerate(lines)
        if p["event"] == "node_finished" and p["data"]["node_id"] == "llm"
    )
    assert llm_done >= live
    messages = [p for _, p in lines if p["event"] == "message"]
    assert [m["answer"] for m in messages] == ["Q: ", "Hel", "lo w", "orld"]
    assert set(messages[1]) == set(messages[0])
    assert messages[1]["from_variable_selector"] == LLM_SELECTOR
    assert messages[1]["message_id"] == "m-1" and messages[1]["conversation_id"] == "c-1"
    # Live lines carry how much of the stream the client has seen.
    ids = [i for i, p in lines if p["event"] == "message"][1:]
    pending_index = next(
        e.index for e in script.events if e.event == "node_started" and e.node_id == "llm"
    )
    assert ids == [f"{pending_index}:3", f"{pending_index}:7", f"{pending_index}:11"]
    assert lines[-1][1]["event"] == "workflow_finished" and lines[-1][0] == str(
        len(script.events) - 1
    )


async def test_a_model_already_running_when_the_answer_reaches_it_streams_live(
    service: _Service,
) -> None:
    script = service.script
    assert script is not None
    script.add("workflow_started", None, inputs={})
    script.node("start", "start")
    # A parallel branch: the model starts before the answer gets to its variable.
    script.add("node_started", "llm", run_id="nr-llm", node_type="llm", title="LLM")
    script.add("message", "answer", answer="Q: ", from_variable_selector=["answer", "answer"])
    script.add(
        "stream_pending",
        "answer",
        selector=LLM_SELECTOR,
        response_node_id="answer",
        source_node_id="llm",
    )
    client = Client(service, chat=True)
    await client.until(_has("Q: "))
    script.chunk("Live text", 0)
    await client.until(_has("Q: Live text"))  # while the node still runs
    script.value("Live text")
    script.finish()
    assert answer_of(await client.done()) == "Q: Live text"


async def test_a_secret_is_never_sent_cut_in_two(service: _Service) -> None:
    script = service.script
    assert script is not None
    _started(script)
    client = Client(service, chat=True, secrets=("sk-SECRET",))
    await client.until(lambda lines: "message" in [p["event"] for _, p in lines])
    script.chunk("key sk-SE", 0)
    await client.until(_has("Q: key "))  # "sk-SE" may still become the secret: held
    script.chunk("CRET ok s", 9)
    await client.until(_has("Q: key ****** ok "))  # a lone "s" could start it again
    script.value("key sk-SECRET ok s")
    script.finish()
    lines = await client.done()
    assert answer_of(lines) == "Q: key ****** ok s"
    sent = [json.dumps(payload) for _, payload in lines]
    assert not any("sk-SE" in line or "CRET" in line for line in sent), sent


def test_sendable_keeps_every_secret_whole() -> None:
    secrets = ("abcab", "xyz")
    assert sendable("hello", secrets) == 5
    assert sendable("hello ab", secrets) == 6  # "ab" may become "abcab"
    assert sendable("hello abcab!", secrets) == 12  # whole secrets are masked where they are
    # Its last "ab" may start another one: the cut may not split the whole one either.
    assert sendable("hello abcab", secrets) == 6
    assert sendable("1 abcabcab", secrets) == 2  # overlapping ones: before the first
    assert sendable("a xy", secrets) == 2
    assert sendable("x", secrets) == 0
    assert sendable("", secrets) == 0


async def test_a_diverging_retry_replaces_the_chat_answer(service: _Service) -> None:
    script = service.script
    assert script is not None
    _started(script)
    client = Client(service, chat=True)
    script.chunk("Hello wor", 0)
    await client.until(_has("Q: Hello wor"))
    script.chunk("Howdy", 0, attempt=2)  # disagrees with what was shown: nothing goes out
    await asyncio.sleep(0.1)
    assert answer_of(client.lines) == "Q: Hello wor"
    script.value("Howdy there")
    script.node("answer", "answer")
    script.finish()
    lines = await client.done()
    replaces = [p for _, p in lines if p["event"] == "message_replace"]
    assert len(replaces) == 1
    assert replaces[0]["answer"] == "Q: Howdy there"
    assert replaces[0]["message_id"] == "m-1" and replaces[0]["conversation_id"] == "c-1"
    assert answer_of(lines) == "Q: Howdy there"


async def test_a_retry_answering_shorter_is_corrected(service: _Service) -> None:
    script = service.script
    assert script is not None
    _started(script)
    client = Client(service, chat=True)
    script.chunk("Hello world", 0)
    await client.until(_has("Q: Hello world"))
    script.value("Hello")  # attempt 2 answered less than attempt 1 streamed
    script.add("message", "answer", answer="!", from_variable_selector=["answer", "answer"])
    script.node("answer", "answer")
    script.finish()
    lines = await client.done()
    assert [p["answer"] for _, p in lines if p["event"] == "message_replace"] == ["Q: Hello"]
    assert answer_of(lines) == "Q: Hello!"


async def test_workflow_app_text_and_reasoning(service: _Service) -> None:
    script = service.script
    assert script is not None
    _started(script, chat=False)
    client = Client(service, chat=False)
    script.chunk("think", 0, kind="reasoning")
    script.chunk("Hello wor", 0)
    await client.until(_has("Q: Hello wor", chat=False))
    script.chunk("Howdy", 0, attempt=2)
    script.value("Howdy there", chat=False, response_node_id="end")
    script.node("end", "end")
    script.finish()
    lines = await client.done()
    reasoning = [p for _, p in lines if p["event"] == "reasoning_chunk"]
    assert [r["data"] for r in reasoning] == [
        {"reasoning": "think", "node_id": "llm", "is_final": False}
    ]
    assert reasoning[0]["workflow_run_id"] == RUN_ID
    # No replace event for workflow apps: the rest after as many characters as were shown.
    chunks = [p["data"] for _, p in lines if p["event"] == "text_chunk"]
    assert chunks == [
        {"text": "Q: ", "from_variable_selector": ["end", "answer"]},
        {"text": "Hello wor", "from_variable_selector": LLM_SELECTOR},
        {"text": "re", "from_variable_selector": LLM_SELECTOR},
    ]
    ids = [i for i, p in lines if p["event"] in ("text_chunk", "reasoning_chunk")]
    assert ids[1:3] == ["5:0:5", "5:9:5"]  # event 5: the LLM's node_started


async def test_reattach_mid_stream_continues_exactly(service: _Service) -> None:
    script = service.script
    assert script is not None
    _started(script)
    first = Client(service, chat=True)
    script.chunk("Hel", 0)
    await first.until(_has("Q: Hel"))
    first.task.cancel()
    last_id = first.lines[-1][0]
    assert last_id is not None and ":" in last_id
    script.chunk("lo", 3)
    script.chunk("Hello", 0, attempt=2)
    script.chunk(" there", 5, attempt=2)
    second = Client(service, chat=True, after=Cursor.parse(last_id))
    await second.until(lambda lines: answer_of(first.lines + lines) == "Q: Hello there")
    script.value("Hello there")
    script.node("answer", "answer")
    script.finish()
    lines = await second.done()
    assert answer_of(first.lines + lines) == "Q: Hello there"
    assert [p["answer"] for _, p in lines if p["event"] == "message"] == [
        "lo there"
    ]  # one read: one line
    assert "workflow_started" not in [p["event"] for _, p in lines]


@pytest.mark.parametrize("chat", [True, False])
@pytest.mark.parametrize("chunks_kept", [True, False])
async def test_reattach_after_any_line_is_exact(
    service: _Service, chunks_kept: bool, chat: bool
) -> None:
    """Chatflow: a diverging retry; workflow app: an agreeing one, its value in two pieces."""
    script = service.script
    assert script is not None
    _started(script, chat)
    response = "answer" if chat else "end"
    client = Client(service, chat=chat)
    script.chunk("Hel", 0)
    await client.until(_has("Q: Hel", chat))
    script.chunk("lo", 3)
    script.chunk("think", 0, kind="reasoning")
    await client.until(lambda lines: "reasoning_chunk" in [p["event"] for _, p in lines])
    script.chunk("Howdy" if chat else "Hello", 0, attempt=2)
    if chat:
        script.value("Howdy all")
    else:
        script.add("text_chunk", "end", text="Hell", from_variable_selector=LLM_SELECTOR)
        script.value("o all", chat=False, response_node_id="end")
    static = {"answer": "!"} if chat else {"text": "!"}
    script.add(
        "message" if chat else "text_chunk",
        response,
        **static,
        from_variable_selector=[response, "answer"],
    )
    script.node(response, response)
    script.finish()
    full = await client.done()
    expected = "Q: Howdy all!" if chat else "Q: Hello all!"
    assert answer_of(full, chat) == expected
    if not chunks_kept:  # the run's end was projected: its chunks are gone
        delete_chunks(script.db_url, RUN_ID)
    texts = ("message", "message_replace", "text_chunk")
    others = [(i, p["event"]) for i, p in full if p["event"] not in texts]
    for cut, (event_id, _) in enumerate(full):
        if event_id is None:
            continue
        rest = await Client(service, chat=chat, after=Cursor.parse(event_id)).done()
        assert answer_of(full[: cut + 1] + rest, chat) == expected, (cut, rest)
        shown = {i for i, _ in full[: cut + 1]}
        expected_events = [e for i, e in others if i not in shown and e != "reasoning_chunk"]
        got = [p["event"] for _, p in rest if p["event"] not in texts]
        assert [e for e in got if e != "reasoning_chunk"] == expected_events, cut
        reasoning_seen = any(p["event"] == "reasoning_chunk" for _, p in full[: cut + 1])
        assert got.count("reasoning_chunk") == (0 if reasoning_seen or not chunks_kept else 1)


def test_cursor_ids() -> None:
    assert Cursor.parse("7") == Cursor(7)
    assert Cursor.parse(" 7:12 ") == Cursor(7, 12)
    assert Cursor.parse("7:12:3") == Cursor(7, 12, 3)
    for text in ("7", "7:12", "7:12:3", "7:0:3"):
        assert str(Cursor.parse(text)) == text
    assert str(Cursor(7, 0, 0)) == "7"
    for bad in ("", "x", "-1", "1:2:3:4", "1:", "²", "1.5"):
        with pytest.raises(ValueError):
            Cursor.parse(bad)


async def test_the_workflow_marks_a_top_level_llm_stream_once() -> None:
    llm = node("llm", "llm", model={"provider": "openai", "name": "gpt-4o", "mode": "chat"})
    code = node(
        "code",
        "code",
        code="def main():\n    return {'r': 'x'}",
        outputs={"r": {"type": "string"}},
        variables=[],
    )
    answer = node("answer", "answer", answer="A: {{#llm.text#}} / {{#code.r#}} {{#llm.usage#}}")
    plan = plan_from_graph(
        "advanced-chat", [START, llm, code, answer], chain("start", "llm", "code", "answer")
    )
    recorder = RunRecorder()
    run_input = GraphRunInput(plan=plan, query="hi", pins={"llm": {"text": "Hello", "usage": {}}})
    result = await run_graph(run_input, LocalExecutor(), recorder)
    assert result.status == "succeeded", result.error
    pending = [e for e in recorder.events if e.event == "stream_pending"]
    assert [(e.node_id, e.data) for e in pending] == [
        (
            "answer",
            {"selector": LLM_SELECTOR, "response_node_id": "answer", "source_node_id": "llm"},
        )
    ]
    names = [(e.event, e.node_id) for e in recorder.events]
    assert names.index(("stream_pending", "answer")) < names.index(("node_started", "llm"))
    # The API sends nothing for it.
    translator = ChatEventTranslator(RUN_ID, "wf-1", None, ())
    assert translator.translate(pending[0]) is None

    # Not for an LLM's other outputs (here in a workflow app's End node).
    plan = plan_from_graph(
        "workflow", [START, llm, end(("t", ["llm", "usage"]))], chain("start", "llm", "end")
    )
    recorder = RunRecorder()
    run_input = GraphRunInput(plan=plan, pins={"llm": {"text": "Hello", "usage": {}}})
    await run_graph(run_input, LocalExecutor(), recorder)
    assert not [e for e in recorder.events if e.event == "stream_pending"]


CHATFLOW = """
app: {mode: advanced-chat, name: streamer}
kind: app
version: 0.3.1
workflow:
  conversation_variables: []
  environment_variables: []
  features: {}
  graph:
    edges:
    - {id: e1, source: start, sourceHandle: source, target: llm, targetHandle: target}
    - {id: e2, source: llm, sourceHandle: source, target: answer, targetHandle: target}
    nodes:
    - id: start
      data: {type: start, title: Start, variables: []}
    - id: llm
      data:
        type: llm
        title: LLM
        context: {enabled: false, variable_selector: []}
        model: {provider: langgenius/openai/openai, name: gpt-4o-mini, mode: chat,
                completion_params: {}}
        prompt_template:
        - {role: system, text: Be brief.}
        - {role: user, text: '{{#sys.query#}}'}
        vision: {enabled: false}
    - id: answer
      data: {type: answer, title: Answer, answer: 'A: {{#llm.text#}}', variables: []}
"""


async def test_chatflow_streams_model_tokens_before_the_node_finishes(
    api: Api, fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEFLOW_MODEL_GATEWAY_URL", fake_llm.base_url)
    get_settings.cache_clear()
    text = "Tokens arrive one small piece at a time, well before the node is done."
    fake_llm.script(Reply(text=text, chunk_size=4, chunk_delay=0.03), node="llm")
    key = await api.app_key(await import_text(api, CHATFLOW))
    body = {"query": "hi", "inputs": {}, "user": "alice", "response_mode": "streaming"}
    response = await api.http.post("/v1/chat-messages", json=body, headers=key)
    assert response.status_code == 200, response.text
    lines = parse_sse(response.text)
    names = [p["event"] for _, p in lines]
    assert names[-2:] == ["message_end", "workflow_finished"], names
    # The answer is the model's text exactly once.
    assert answer_of(lines) == "A: " + text
    assert "message_replace" not in names
    llm_done = next(
        i
        for i, (_, p) in enumerate(lines)
        if p["event"] == "node_finished" and p["data"]["node_id"] == "llm"
    )
    live = [
        (i, event_id)
        for i, (event_id, p) in enumerate(lines)
        if p["event"] == "message" and p["from_variable_selector"] == LLM_SELECTOR
    ]
    # Several pieces of the model's text, the first well before the node finished.
    assert len(live) >= 2 and live[0][0] < llm_done
    assert all(event_id is not None and ":" in event_id for _, event_id in live)
    # The run's end deleted its chunks.
    run_id = lines[0][1]["workflow_run_id"]
    assert read_chunks(api.settings.db_url, run_id) == []
