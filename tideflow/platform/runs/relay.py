"""Model tokens in a run's SSE while the model streams: the relay from the stream store.

The workflow streams an Answer / End node's text in Dify's order, but a variable only once its
node has finished. When the active response session waits on a top-level LLM node's text, the
workflow records ``stream_pending`` {selector, response_node_id, source_node_id}; from then on
(once the node has started, until it finishes) the relay polls the stream store for that node's
chunks and sends them as the response node would (``text_chunk`` / ``message``; reasoning as
``reasoning_chunk``).

Nothing is sent twice. The relay keeps, per stream, the text the client has been shown. A
retried call streams from offset 0 again (a higher ``attempt``): it sends only what goes beyond
the shown text, while the new attempt agrees with it. When the workflow records the node's
value for the selector (the normal ``text_chunk`` / ``message``, maybe in several pieces), only
the part beyond the shown text goes out. When the value disagrees with what was shown (a retry
answered differently), or cannot be checked (a client reattached after the run's chunks were
deleted): a chatflow gets ``message_replace`` (reason ``model_retry``) with the whole answer so
far, corrected; a workflow app, which has no such event, gets the value's characters beyond as
many as it was shown (its ``workflow_finished`` outputs carry the exact value).

Secret values (the app's secret environment variables) are masked in every line, so a live
line never ends inside one: the tail of the text that could still grow into a secret is held
back until the next chunk shows it does not (or the node's value arrives).

Event ids: a recorded event's index, as before; while a stream is open and the client has seen
some of it, ``"<index>:<text chars>"`` or ``"<index>:<text chars>:<reasoning chars>"`` (the last
recorded event the client has, and how much of the open stream it has seen since). A client
reattaching with such an id gets everything after it exactly once: the relay is fed every event
from 0 again, rebuilds its state, and skips what the id says was seen.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tideflow.platform.runs.sse import DifyEventTranslator, sse_line
from tideflow.platform.streams import StoredChunk
from tideflow.workflows.engine.models import RunEvent

# (run_id, after_seq, node_id) -> the node's chunks after ``after_seq``, in order.
ChunkReader = Callable[[str, int, str], Awaitable[list[StoredChunk]]]
_ID_PATTERN = re.compile(r"[0-9]+(?::[0-9]+){0,2}")
_TEXT_EVENTS = frozenset({"text_chunk", "message"})
_FAILED = frozenset({"failed", "stopped"})


@dataclass(frozen=True)
class Cursor:
    """Where a client is in a run's stream (its ``Last-Event-ID``)."""

    # The last recorded event the client has (-1: none).
    event: int = -1
    # Characters of the open stream's text and reasoning it has been sent since.
    text: int = 0
    reasoning: int = 0

    @classmethod
    def parse(cls, value: str) -> Cursor:
        """``N``, ``N:T`` or ``N:T:R``; raises ValueError for anything else."""
        value = value.strip()
        if not _ID_PATTERN.fullmatch(value):
            raise ValueError("expected the id of an event of this stream")
        numbers = [int(part) for part in value.split(":")] + [0, 0]
        return cls(numbers[0], numbers[1], numbers[2])

    def __str__(self) -> str:
        if self.reasoning:
            return f"{self.event}:{self.text}:{self.reasoning}"
        return f"{self.event}:{self.text}" if self.text else str(self.event)


@dataclass
class _Track:
    """One kind (text or reasoning) of one stream: what the client has, what streams now."""

    shown: str = ""  # the text the client has (as far as known: see ``seen``)
    seen: int = 0  # characters the client has (more than ``shown`` after a reattach)
    attempt: int = 0
    current: str = ""  # the current attempt's text
    secrets: tuple[str, ...] = ()  # values masked in the lines: never sent cut in two

    def add(self, chunk: StoredChunk) -> str:
        """Take a chunk; returns what the client should be sent now."""
        if chunk.attempt < self.attempt:
            return ""  # a stale attempt still writing
        if chunk.attempt > self.attempt:
            self.attempt, self.current = chunk.attempt, ""
        if chunk.offset > len(self.current):
            return ""  # a gap: never from one writer appending in order
        self.current = self.current[: chunk.offset] + chunk.text
        if not self.agrees(self.current):
            return ""  # diverged: the node's value settles it
        return self.reach(self.current[: sendable(self.current, self.secrets)])

    def flush(self) -> str:
        """What ``add`` held back of the current attempt's text (the stream is over)."""
        return self.reach(self.current) if self.agrees(self.current) else ""

    def agrees(self, text: str) -> bool:
        """Do ``text`` and the shown text agree as far as both go?"""
        common = min(len(text), len(self.shown))
        return text[:common] == self.shown[:common]

    def reach(self, text: str) -> str:
        """The client is to have ``text`` (agreeing with it): the characters it lacks."""
        if len(text) > len(self.shown):
            self.shown = text
        delta = text[self.seen :]
        self.seen = max(self.seen, len(text))
        return delta


def sendable(text: str, secrets: tuple[str, ...]) -> int:
    """How much of a growing ``text`` can be sent now without cutting a secret in two: not a
    tail that is the start of a secret, nor into a whole secret that such a cut would split."""
    end = len(text)
    for secret in secrets:
        for size in range(min(len(secret) - 1, len(text)), 0, -1):
            if text.endswith(secret[:size]):
                end = min(end, len(text) - size)
                break
    moved = True
    while moved:  # a whole secret straddling the cut moves the cut to its start
        moved = False
        for secret in secrets:
            start = text.find(secret, max(0, end - len(secret) + 1))
            if 0 <= start < end < start + len(secret):
                end, moved = start, True
    return end


@dataclass
class _Stream:
    """A response session waiting on a model's text (opened by ``stream_pending``)."""

    selector: list[str]
    response_node_id: str
    source_node_id: str
    answer_start: int  # the chatflow answer's length when it opened
    text: _Track = field(default_factory=_Track)
    reasoning: _Track = field(default_factory=_Track)
    started: bool = False  # the source node has started
    live: bool = True  # and not finished: its chunks are polled
    final: str | None = None  # the node's value as the workflow streamed it so far
    after_seq: int = 0

    def is_piece(self, event: RunEvent) -> bool:
        """Is ``event`` (part of) the node's value streaming into the response node?"""
        return (
            event.event in _TEXT_EVENTS
            and event.node_id == self.response_node_id
            and event.data.get("from_variable_selector") == self.selector
        )


class TokenRelay:
    """Turns a run's events, and the chunks of the model it waits on, into SSE lines."""

    def __init__(
        self,
        translator: DifyEventTranslator,
        reader: ChunkReader,
        run_id: str,
        resume: Cursor | None = None,
    ) -> None:
        self.translator, self.reader, self.run_id = translator, reader, run_id
        self.resume = resume or Cursor()
        self.last = -1  # the last event fed
        self.stream: _Stream | None = None
        # Nodes started and not finished: a stream may open on a model already running (a
        # parallel branch reached the response node after the model started).
        self.running: set[str] = set()
        self.answer = ""  # a chatflow's answer as sent so far
        self._resumed = self.resume.event < 0

    @property
    def polling(self) -> bool:
        """Should the stream store be polled now?"""
        stream = self.stream
        return stream is not None and stream.started and stream.live and self._resumed

    async def on_event(self, event: RunEvent) -> list[str]:
        """The SSE lines for the next recorded event (none for what the client has seen)."""
        visible = self._resumed
        payloads: list[tuple[dict[str, Any], str]] = []
        stream = self.stream
        if stream is not None and stream.is_piece(event):
            if stream.live and visible:
                payloads += await self._drain(stream)
            stream.live = False
            payloads += [(p, str(self._cursor(event.index))) for p in self._piece(stream, event)]
        else:
            if stream is not None and stream.final is not None:  # its value has all streamed
                payloads += self._ids(self._close(stream, True), event.index - 1)
            payloads += self._ids(self._translate(event), event.index)
            payloads += self._ids(self._follow(event), event.index)
        self.last = event.index
        self._catch_up()
        return [sse_line(p, i) for p, i in payloads] if visible else []

    async def pull(self) -> list[str]:
        """Lines for the chunks that arrived since the last pull."""
        if self.stream is None or not self.polling:
            return []
        return [sse_line(p, i) for p, i in await self._drain(self.stream)]

    def finish(self) -> list[str]:
        """Lines before ``workflow_finished`` (a correction the last stream may need)."""
        if self.stream is None:
            return []
        stream, visible = self.stream, self._resumed
        lines = self._ids(self._close(stream, stream.final is not None), self.last)
        return [sse_line(p, i) for p, i in lines] if visible else []

    def _catch_up(self) -> None:
        """Past the client's ``Last-Event-ID``: it has the open stream's first characters."""
        if self._resumed or self.last < self.resume.event:
            return
        self._resumed = True
        if self.stream is not None:
            self.stream.text.seen = max(self.stream.text.seen, self.resume.text)
            self.stream.reasoning.seen = max(self.stream.reasoning.seen, self.resume.reasoning)

    def _cursor(self, index: int) -> Cursor:
        stream = self.stream
        if stream is None:
            return Cursor(index)
        return Cursor(index, stream.text.seen, stream.reasoning.seen)

    def _ids(self, payloads: list[dict[str, Any]], index: int) -> list[tuple[dict[str, Any], str]]:
        return [(payload, str(self._cursor(index))) for payload in payloads]

    def _translate(self, event: RunEvent) -> list[dict[str, Any]]:
        payload = self.translator.translate(event)
        if payload is None:
            return []
        if event.event == "message":
            self.answer += str(event.data.get("answer", ""))
        return [payload]

    def _follow(self, event: RunEvent) -> list[dict[str, Any]]:
        """Open a stream on ``stream_pending``; follow its source node's start and end."""
        if event.node_id and event.event == "node_started":
            self.running.add(event.node_id)
        elif event.node_id and event.event in ("node_finished", "node_skipped"):
            self.running.discard(event.node_id)
        if event.event == "stream_pending":
            closed = self._close(self.stream, True) if self.stream is not None else []
            secrets = tuple(s for s in self.translator.secrets if s)
            self.stream = _Stream(
                selector=[str(part) for part in event.data.get("selector", [])],
                response_node_id=str(event.data.get("response_node_id", event.node_id)),
                source_node_id=str(event.data.get("source_node_id", "")),
                answer_start=len(self.answer),
                text=_Track(secrets=secrets),
                reasoning=_Track(secrets=secrets),
            )
            self.stream.started = self.stream.source_node_id in self.running
            return closed
        stream = self.stream
        if stream is None or event.node_id != stream.source_node_id:
            return []
        if event.event == "node_started":
            stream.started = True
        elif event.event == "node_finished":
            return self._close(stream, event.data.get("status") not in _FAILED)
        elif event.event == "node_skipped":
            return self._close(stream, False)
        return []

    async def _drain(self, stream: _Stream) -> list[tuple[dict[str, Any], str]]:
        """Send the source node's new chunks (consecutive ones of a kind in one line)."""
        chunks = await self.reader(self.run_id, stream.after_seq, stream.source_node_id)
        groups: list[tuple[str, str, str]] = []  # (kind, text, id after it)
        for chunk in chunks:
            stream.after_seq = chunk.seq
            track = stream.reasoning if chunk.kind == "reasoning" else stream.text
            delta = track.add(chunk)
            if not delta:
                continue
            cursor = str(self._cursor(self.last))
            if groups and groups[-1][0] == chunk.kind:
                groups[-1] = (chunk.kind, groups[-1][1] + delta, cursor)
            else:
                groups.append((chunk.kind, delta, cursor))
        lines: list[tuple[dict[str, Any], str]] = []
        for kind, text, cursor in groups:
            if kind == "reasoning":
                lines.append((self.translator.reasoning(stream.source_node_id, text), cursor))
            else:
                self.answer += text
                payload = self.translator.live_text(stream.response_node_id, stream.selector, text)
                lines.append((payload, cursor))
        return lines

    def _piece(self, stream: _Stream, event: RunEvent) -> list[dict[str, Any]]:
        """A piece of the node's value: only what the client lacks, or the correction."""
        piece = str(event.data.get("answer" if event.event == "message" else "text", ""))
        final = stream.final = (stream.final or "") + piece
        track = stream.text
        self.answer = self.answer[: stream.answer_start] + final
        if not (track.agrees(final) and track.seen <= len(track.shown)):
            # The client was shown other text, or text the relay cannot check any more (it
            # reattached after the run's chunks were deleted): a chatflow's answer is corrected.
            replace = self.translator.replace(self.answer)
            if replace is not None:
                track.shown, track.seen = final, len(final)
                return [replace]
            track.shown = final  # a workflow app: the value past as much as it was shown
        delta = track.reach(final)
        if not delta:
            return []
        return [self.translator.live_text(stream.response_node_id, stream.selector, delta)]

    def _close(self, stream: _Stream, succeeded: bool) -> list[dict[str, Any]]:
        """The stream is over; a chatflow client shown more than the node's value (a retry
        answered shorter, or nothing) gets the answer corrected."""
        self.stream = None
        held = stream.reasoning.flush() if succeeded else ""
        lines = [self.translator.reasoning(stream.source_node_id, held)] if held else []
        final = stream.final or ""
        if not succeeded or stream.text.seen <= len(final):
            return lines
        self.answer = self.answer[: stream.answer_start] + final
        replace = self.translator.replace(self.answer)
        return lines + ([replace] if replace is not None else [])
