"""Streams Answer (and, in workflow apps, End) text in Dify's order (its response coordinator).

Each response node's template is a list of segments: static text and variable references (an
End node's template is its outputs joined by ``"\\n"``). A node's *session* opens once the node
is surely reached: some path from the subgraph's start to it has every *blocking* edge taken.
Blocking edges leave branch nodes, containers, other response nodes, nodes with a fail branch,
and assigners that write a variable the template reads. Open sessions stream one at a time,
in the order they opened (graph order when several open together): text as soon as the session
is active, a variable once its value is in the pool (nothing when its node was skipped). When
the response node itself has run, what is left streams as the node rendered it.

When the active session waits on ``[X, "text"]`` of a top-level LLM node X, it records one
``stream_pending`` event (no SSE counterpart): X's tokens, streamed by its activity to the stream
store, are what the client sees next, and the API relays them until X's value streams here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from tideflow.workflows.engine.context import RunState
from tideflow.workflows.engine.pool import VariablePool
from tideflow.workflows.engine.template import SELECTOR_PATTERN, value_markdown
from tideflow.workflows.graph.plan import PlanEdge, PlanNode
from tideflow.workflows.nodes._common import as_dict, as_list, is_selector

BRANCH_TYPES = frozenset({"if-else", "question-classifier", "human-input"})
CONTAINER_TYPES = frozenset({"iteration", "loop"})
RESPONSE_TYPES = frozenset({"answer", "end"})

Segment = str | list[str]  # static text, or a variable selector


def answer_segments(template: str) -> list[Segment]:
    """An Answer template as text and selector segments, in order (empty text dropped)."""
    segments: list[Segment] = []
    position = 0
    for match in SELECTOR_PATTERN.finditer(template):
        if match.start() > position:
            segments.append(template[position : match.start()])
        segments.append(match.group(1).split("."))
        position = match.end()
    if position < len(template):
        segments.append(template[position:])
    return segments


def end_segments(data: Mapping[str, Any]) -> list[Segment]:
    """An End node's outputs as Dify streams them: each value, separated by ``"\n"``."""
    segments: list[Segment] = []
    for i, item in enumerate(as_list(data.get("outputs"))):
        if i > 0:
            segments.append("\n")
        selector = as_dict(item).get("value_selector")
        if is_selector(selector):
            segments.append([str(s) for s in as_list(selector)])
    return segments


def _assigned(data: Mapping[str, Any]) -> set[tuple[str, ...]]:
    """Selectors (first two parts) an assigner node writes (v1 and v2 configs)."""
    written = [data.get("assigned_variable_selector")]
    written += [as_dict(item).get("variable_selector") for item in as_list(data.get("items"))]
    return {tuple(str(p) for p in as_list(w)[:2]) for w in written if is_selector(w)}


def _blocks(source: PlanNode, edge: PlanEdge, reads: set[tuple[str, ...]]) -> bool:
    """Must ``edge`` be taken before a response node reading ``reads`` can start streaming?"""
    if source.type in BRANCH_TYPES | CONTAINER_TYPES | RESPONSE_TYPES:
        return True
    if edge.source_handle != "source" or source.data.get("error_strategy") == "fail-branch":
        return True
    return source.type == "assigner" and bool(_assigned(source.data) & reads)


@dataclasses.dataclass
class _Session:
    node_id: str
    answer: bool  # an Answer node (else an End node)
    segments: list[Segment]
    blocking: frozenset[str]
    index: int = 0
    node_done: bool = False
    # The segment index a ``stream_pending`` was recorded for (-1: none yet).
    announced: int = -1


class ResponseStream:
    """The response sessions of one (sub)graph walk; ``update`` after every node that succeeds.

    ``taken`` and ``skipped`` are the walker's own edge decisions and skipped nodes.
    """

    def __init__(
        self,
        state: RunState,
        pool: VariablePool,
        root: str,
        out_edges: Mapping[str, Sequence[PlanEdge]],
        taken: Mapping[str, bool],
        skipped: set[str],
    ) -> None:
        self.state, self.pool, self.root = state, pool, root
        self.out_edges, self.taken, self.skipped = out_edges, taken, skipped
        chat = state.plan.mode != "workflow"  # every other mode answers with messages
        self.event = "message" if chat else "text_chunk"
        self.pending: dict[str, _Session] = {}
        self.sessions: dict[str, _Session] = {}
        self.queue: list[_Session] = []
        for node in state.plan.nodes.values():  # graph order
            if node.id not in out_edges or not (
                node.type == "answer" or (node.type == "end" and not chat)
            ):
                continue
            if node.type == "answer":
                segments = answer_segments(str(node.data.get("answer") or ""))
            else:
                segments = end_segments(node.data)
            reads = {tuple(s[:2]) for s in segments if isinstance(s, list)}
            blocking = frozenset(
                edge.id
                for source_id, edges in out_edges.items()
                for edge in edges
                if _blocks(state.plan.nodes[source_id], edge, reads)
            )
            session = _Session(node.id, node.type == "answer", segments, blocking)
            self.pending[node.id] = self.sessions[node.id] = session

    def update(self, finished_node_id: str) -> None:
        """A node succeeded and its edges are decided: open sessions now reached, then stream."""
        for node_id, session in list(self.pending.items()):
            if self._reached(node_id, session.blocking):
                self._open(node_id)
        finished = self.sessions.get(finished_node_id)
        if finished is not None:
            finished.node_done = True
            self._open(finished_node_id)
        self._flush()

    def _open(self, node_id: str) -> None:
        session = self.pending.pop(node_id, None)
        if session is not None:
            self.queue.append(session)

    def _reached(self, target: str, blocking: frozenset[str]) -> bool:
        seen, stack = {self.root}, [self.root]
        while stack:
            current = stack.pop()
            if current == target:
                return True
            for edge in self.out_edges.get(current, ()):
                passable = edge.id not in blocking or self.taken.get(edge.id) is True
                if passable and edge.target not in seen:
                    seen.add(edge.target)
                    stack.append(edge.target)
        return False

    def _flush(self) -> None:
        while self.queue:
            session = self.queue[0]
            while session.index < len(session.segments):
                segment = session.segments[session.index]
                if isinstance(segment, str):
                    self._emit(session, segment, [session.node_id, "answer"])
                elif segment[0] not in self.skipped:
                    found, value = self.pool.find(segment)
                    if not found and not session.node_done:
                        self._announce(session, segment)
                        return  # wait for the value
                    if found:
                        self._emit(session, value_markdown(value), segment)
                    elif session.answer:  # an Answer renders what never resolves as its path
                        self._emit(session, ".".join(segment), segment)
                session.index += 1
            self.queue.pop(0)

    def _announce(self, session: _Session, selector: list[str]) -> None:
        """Record ``stream_pending`` once when ``selector`` is a top-level LLM node's text."""
        node = self.state.plan.nodes.get(selector[0])
        if session.announced == session.index or len(selector) != 2 or selector[1] != "text":
            return
        if node is None or node.type != "llm" or node.parent_id is not None:
            return
        session.announced = session.index
        self.state.recorder.emit(
            "stream_pending",
            session.node_id,
            selector=list(selector),
            response_node_id=session.node_id,
            source_node_id=node.id,
        )

    def _emit(self, session: _Session, text: str, selector: list[str]) -> None:
        self.state.recorder.stream_chunk(self.event, session.node_id, text, selector)
