"""The API killed while chat turns stream: each client reattaches to its run with
``GET /v1/workflow/{run_id}/events`` and ``Last-Event-ID``, and what it got before and after
must be the run's whole stream with nothing missing and nothing twice.

Checked two ways per stream: the answer text assembled from ``message`` events (a
``message_replace`` replaces it) against the model's answer, character by character; and the
other events (``workflow_started``, ``node_finished``, ``message_end`` ...) with their ids
against a reference: the same run's stream read again from the start after it finished.
"""

from __future__ import annotations

import difflib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.openai_server import FakeLLMServer, Reply
from tests.fault_support import FaultStack

CHAT_APP = Path(__file__).resolve().parents[1] / "bench" / "apps" / "chat_llm.yml"
ANSWER = " ".join(f"w{i:03d}" for i in range(200))  # 999 characters
TEXT_EVENTS = frozenset({"message", "message_replace", "text_chunk"})


@dataclass
class Received:
    """One client's view of one stream: (id, payload) per SSE message, in order."""

    events: list[tuple[str | None, dict[str, Any]]] = field(
        default_factory=list[tuple[str | None, dict[str, Any]]]
    )
    run_id: str | None = None
    error: str | None = None

    @property
    def last_id(self) -> str | None:
        """The id of the last event that carried one."""
        return next((i for i, _ in reversed(self.events) if i is not None), None)

    def messages(self) -> int:
        """How many ``message`` events."""
        return sum(1 for _, p in self.events if p.get("event") == "message")


def read_sse(response: httpx.Response, into: Received) -> None:
    """Append every ``data:`` message of ``response`` (with its ``id:``) to ``into``."""
    event_id: str | None = None
    for line in response.iter_lines():
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            payload = json.loads(line[6:])
            into.events.append((event_id, payload))
            into.run_id = into.run_id or payload.get("workflow_run_id")
            event_id = None


def open_turn(api: str, key: str, into: Received) -> None:
    """Stream one chat turn into ``into`` until it ends or the connection breaks."""
    body = {"inputs": {}, "query": "go", "user": "fault-bench", "response_mode": "streaming"}
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.stream(
            "POST", f"{api}/v1/chat-messages", json=body, headers=headers, timeout=120
        ) as response:
            response.raise_for_status()
            read_sse(response, into)
    except httpx.HTTPError as exc:  # the API died under it: expected
        into.error = type(exc).__name__


def reattach(api: str, key: str, run_id: str, last_id: str | None) -> Received:
    """The run's events after ``last_id`` (from the start when None), to the end."""
    headers = {"Authorization": f"Bearer {key}"}
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    got = Received(run_id=run_id)
    with httpx.stream(
        "GET", f"{api}/v1/workflow/{run_id}/events", headers=headers, timeout=120
    ) as response:
        response.raise_for_status()
        read_sse(response, got)
    return got


def answer_of(events: list[tuple[str | None, dict[str, Any]]]) -> str:
    """The answer text a client shows after these events."""
    text = ""
    for _, payload in events:
        if payload.get("event") == "message":
            text += str(payload.get("answer", ""))
        elif payload.get("event") == "message_replace":
            text = str(payload.get("answer", ""))
    return text


def other_events(events: list[tuple[str | None, dict[str, Any]]]) -> Counter[tuple[Any, ...]]:
    """The non-text events as (id, event name, node id), counted."""
    return Counter(
        (i, p.get("event"), (p.get("data") or {}).get("node_id"))
        for i, p in events
        if p.get("event") not in TEXT_EVENTS
    )


@dataclass
class SseReport:
    """Counts of the API-restart scenario."""

    scenario: str = "api-restart-sse"
    streams: int = 0
    api_restarts: int = 0
    reattaches: int = 0
    # Rounds where the model was still streaming when the API answered again (the reattached
    # clients then got the rest live, not only from the finished run's record).
    rounds_live_at_reattach: int = 0
    api_down_s: list[float] = field(default_factory=list[float])  # kill -> healthy, per round
    text_exact: int = 0
    gap_chars: int = 0
    duplicate_chars: int = 0
    missing_events: int = 0
    duplicate_events: int = 0
    failures: list[str] = field(default_factory=list[str])
    wall_s: float = 0.0


def compare(first: Received, second: Received, reference: Received, report: SseReport) -> None:
    """Add one stream's gaps and duplicates (text and events) to the report."""
    events = first.events + second.events
    text = answer_of(events)
    if text == ANSWER:
        report.text_exact += 1
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ANSWER, text).get_opcodes():
        if op in ("delete", "replace"):
            report.gap_chars += i2 - i1
        if op in ("insert", "replace"):
            report.duplicate_chars += j2 - j1
    ours, theirs = other_events(events), other_events(reference.events)
    report.missing_events += sum((theirs - ours).values())
    report.duplicate_events += sum((ours - theirs).values())
    if text != ANSWER or ours != theirs:
        report.failures.append(
            f"run {first.run_id}: text {len(text)}/{len(ANSWER)} chars, missing "
            f"{sorted(theirs - ours)}, extra {sorted(ours - theirs)}"
        )


def api_restart_round(
    stack: FaultStack,
    fake: FakeLLMServer,
    key: str,
    streams: int,
    report: SseReport,
    chunk_delay: float = 0.1,
) -> None:
    """``streams`` turns at once; the API SIGKILLed once each has 15 ``message`` events; each
    client reattaches with its last id; every stream compared with its reference.

    The model sends 250 chunks ``chunk_delay`` apart: at 0.1 s (25 s) the API's restart (10-15 s
    on a busy 2-core machine) lands while they still stream."""
    fake.reset()
    fake.script(Reply(text=ANSWER, chunk_size=4, chunk_delay=chunk_delay))
    firsts = [Received() for _ in range(streams)]
    threads = [
        threading.Thread(target=open_turn, args=(stack.api, key, got), daemon=True)
        for got in firsts
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(got.messages() < 15 for got in firsts):
        time.sleep(0.02)
    killed = time.time()
    stack.restart("api")
    report.api_restarts += 1
    back = time.time()
    report.api_down_s.append(round(back - killed, 1))
    for thread in threads:
        thread.join(timeout=30)
    seconds: list[Received] = [Received() for _ in firsts]

    def resume(first: Received, into: Received) -> None:
        try:
            got = reattach(stack.api, key, str(first.run_id), first.last_id)
            into.events, into.run_id = got.events, got.run_id
        except httpx.HTTPError as exc:
            into.error = repr(exc)

    named = [(f, s) for f, s in zip(firsts, seconds, strict=True) if f.run_id is not None]
    resumers = [threading.Thread(target=resume, args=pair, daemon=True) for pair in named]
    for thread in resumers:
        thread.start()
    for thread in resumers:
        thread.join(timeout=120)
    if any(r.chunk_times and r.chunk_times[-1][1] > back for r in fake.chat_requests()):
        report.rounds_live_at_reattach += 1
    for first, second in zip(firsts, seconds, strict=True):
        report.streams += 1
        if first.run_id is None or second.error is not None:
            report.failures.append(f"stream {first.run_id}: {first.events[:2]} {second.error}")
            continue
        report.reattaches += 1
        reference = reattach(stack.api, key, first.run_id, None)
        compare(first, second, reference, report)
