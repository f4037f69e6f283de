"""Dify's SSE events (``workflow_started``, ``node_started``...) from the run's recorded events.

The recorder's event index is the SSE ``id``, so a client reattaching with ``Last-Event-ID``
continues exactly after the last event it saw. Node and container events carry their own
execution id, order, predecessor, container and times, so a stream reattached past a node's
``node_started`` still maps its ``node_finished`` in full.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from tideflow.platform.db.models import WorkflowRun
from tideflow.workflows.engine.models import RunEvent
from tideflow.workflows.graph.plan import ExecutionPlan

# Recorder events with no Dify SSE counterpart.
_INTERNAL = frozenset({"node_skipped", "variable_updated", "stream_pending"})
# Node types Dify sends no node events for: a container's start marker, and the container
# itself (its iteration_* / loop_* events stand for it).
_SILENT_NODE_TYPES = frozenset({"iteration-start", "loop-start", "iteration", "loop"})
_NODE_EVENTS = frozenset({"node_started", "node_finished", "node_retry"})
# Human-input events: the recorded fields are Dify's ``data`` (plus the node's id).
_FORM_EVENTS = frozenset(
    {"human_input_required", "human_input_form_filled", "human_input_form_timeout"}
)


def mask_secrets(value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` with every occurrence of a secret string replaced by asterisks."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "******")
        return value
    if isinstance(value, dict):
        return {k: mask_secrets(v, secrets) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list):
        return [mask_secrets(v, secrets) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return value


def sse_line(payload: dict[str, Any], event_id: int | str | None = None) -> str:
    """One SSE message: optional ``id:`` line, then ``data: {json}``."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}data: {json.dumps(payload, ensure_ascii=False, default=str)}\n\n"


PING = "event: ping\n\n"


def created_at(event: RunEvent) -> int:
    """When the event was recorded (epoch seconds; now for an event recorded without a clock)."""
    return event.created_at or int(time.time())


@dataclass
class DifyEventTranslator:
    """Turns recorded events into Dify SSE payloads; feed it every event in order."""

    run_id: str
    workflow_id: str
    plan: ExecutionPlan | None
    secrets: tuple[str, ...] = ()
    # The knowledge chunks the run's LLM nodes cited, set once the run has ended when
    # ``cites_knowledge`` (a chat answer's message_end lists them).
    retriever_resources: list[Any] = field(default_factory=list[Any])
    cites_knowledge: ClassVar[bool] = False
    # The node_started data of each node's latest execution (node_retry carries none of it).
    _started: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])

    def translate(self, event: RunEvent) -> dict[str, Any] | None:
        """The Dify payload for ``event`` (None when Dify has no such event).

        ``workflow_finished`` also gives None: the stream sends it through ``finished``.
        """
        name, data = event.event, event.data
        if name in _INTERNAL or name == "workflow_finished":
            return None
        if name in _NODE_EVENTS:
            node_type = data.get("node_type") or self._started.get(event.node_id or "", {}).get(
                "node_type"
            )
            if node_type in _SILENT_NODE_TYPES:
                return None
        if name == "workflow_started":
            body: dict[str, Any] = {
                "id": self.run_id,
                "workflow_id": self.workflow_id,
                "inputs": data.get("inputs", {}),
                "created_at": created_at(event),
                "reason": data.get("reason", "initial"),
            }
        elif name == "node_started":
            self._started[event.node_id or ""] = {**data, "started_at": created_at(event)}
            body = self._node_started(event)
        elif name in ("node_finished", "node_retry"):
            body = self._node_finished(event)
        elif name == "text_chunk":
            selector = data.get("from_variable_selector") or [event.node_id, "text"]
            body = {"text": data.get("text", ""), "from_variable_selector": selector}
        elif name.startswith(("iteration_", "loop_")):
            body = self._container(event)
        elif name in _FORM_EVENTS or name == "agent_log":
            body = {"node_id": event.node_id, **data}
        elif name == "workflow_paused":
            body = self._paused(event)
        else:  # chatflow events (message...) carry their own fields
            return self._wrap(name, dict(data), top_level=True)
        return self._wrap(name, body)

    def finished(self, event: RunEvent | None, fallback: dict[str, Any]) -> dict[str, Any]:
        """``workflow_finished`` from the recorded event, over ``fallback`` (the ended run's
        record as Dify's ``data``: the fields the event lacks, or all of them when the run
        ended without recording it)."""
        body = dict(fallback)
        if event is not None:
            data = event.data
            body.update(
                id=self.run_id,
                workflow_id=self.workflow_id,
                status=data.get("status", body.get("status")),
                outputs=data.get("outputs", body.get("outputs")),
                error=data.get("error"),
                elapsed_time=data.get("elapsed", body.get("elapsed_time", 0.0)),
                total_steps=data.get("total_steps", body.get("total_steps", 0)),
                exceptions_count=data.get("exceptions_count", body.get("exceptions_count", 0)),
                created_at=data.get("started_at") or body.get("created_at"),
                finished_at=data.get("finished_at") or body.get("finished_at"),
            )
        body.setdefault("files", list[Any]())
        return self._wrap("workflow_finished", body)

    def closing(self, finished: dict[str, Any], run: WorkflowRun) -> list[dict[str, Any]]:
        """The stream's last payloads, given ``workflow_finished`` and the ended run record
        (a workflow app's stream ends with ``workflow_finished`` alone)."""
        del run
        return [finished]

    def live_text(self, response_node_id: str, selector: list[str], text: str) -> dict[str, Any]:
        """Model text relayed while its node runs, as the response node would stream it."""
        data = {"text": text, "from_variable_selector": selector}
        event = RunEvent(index=-1, event="text_chunk", node_id=response_node_id, data=data)
        return self.translate(event) or {}

    def reasoning(self, node_id: str, text: str) -> dict[str, Any]:
        """Dify's ``reasoning_chunk`` (an LLM node with ``reasoning_format: separated``)."""
        body = {"reasoning": text, "node_id": node_id, "is_final": False}
        return self._wrap("reasoning_chunk", body)

    def replace(self, answer: str) -> dict[str, Any] | None:
        """The whole answer, corrected (chatflows' ``message_replace``; workflow apps have no
        such event: None)."""
        del answer
        return None

    def _wrap(self, name: str, body: dict[str, Any], top_level: bool = False) -> dict[str, Any]:
        payload: dict[str, Any] = {"event": name, "task_id": self.run_id}
        payload["workflow_run_id"] = self.run_id
        if top_level:
            payload.update(body)
        else:
            payload["data"] = body
        return mask_secrets(payload, self.secrets)

    def _node_fields(self, event: RunEvent, data: dict[str, Any]) -> dict[str, Any]:
        """What node_started, node_finished and node_retry share."""
        node_id = event.node_id or ""
        node = self.plan.nodes.get(node_id) if self.plan is not None else None
        return {
            "id": str(data.get("run_id", "")),
            "node_id": node_id,
            "node_type": data.get("node_type") or (node.type if node else ""),
            "title": data.get("title") or (node.title if node else ""),
            "index": data.get("index", 0),
            "predecessor_node_id": data.get("predecessor_node_id"),
            "iteration_id": data.get("iteration_id"),
            "loop_id": data.get("loop_id"),
        }

    def _node_started(self, event: RunEvent) -> dict[str, Any]:
        data = event.data
        return {
            **self._node_fields(event, data),
            "inputs": data.get("inputs"),
            "inputs_truncated": bool(data.get("inputs_truncated", False)),
            "created_at": created_at(event),
            "extras": {},
        }

    def _node_finished(self, event: RunEvent) -> dict[str, Any]:
        data, now = event.data, created_at(event)
        if event.event == "node_retry":
            # The attempt's record holds only its error: the rest is its execution's start.
            started = self._started.get(event.node_id or "", {})
            source = {**started, **data}
            started_at = int(started.get("started_at") or now)
            status, elapsed, finished_at = "retry", float(now - started_at), now
        else:
            source, started_at = data, int(data.get("started_at") or now)
            status, elapsed = data.get("status"), data.get("elapsed", 0.0)
            finished_at = int(data.get("finished_at") or now)
        body: dict[str, Any] = {
            **self._node_fields(event, source),
            # The workflow keeps bounded previews of large values and flags them (recorder).
            "inputs": source.get("inputs"),
            "inputs_truncated": bool(source.get("inputs_truncated", False)),
            "process_data": data.get("process_data"),
            "process_data_truncated": bool(data.get("process_data_truncated", False)),
            "outputs": data.get("outputs"),
            "outputs_truncated": bool(data.get("outputs_truncated", False)),
            "status": status,
            "error": data.get("error"),
            "elapsed_time": elapsed,
            "execution_metadata": _execution_metadata(source, data),
            "created_at": started_at,
            "finished_at": finished_at,
            "files": list[Any](),
        }
        if event.event == "node_retry":
            body["retry_index"] = data.get("retry_index", 0)
        return body

    def _paused(self, event: RunEvent) -> dict[str, Any]:
        data = event.data
        return {
            "workflow_run_id": self.run_id,
            "paused_nodes": data.get("paused_nodes", []),
            "outputs": data.get("outputs", {}),
            "reasons": data.get("reasons", []),
            "status": "paused",
            "created_at": created_at(event),
            "elapsed_time": data.get("elapsed", 0.0),
            "total_tokens": data.get("total_tokens", 0),
            "total_steps": data.get("total_steps", 0),
        }

    def _container(self, event: RunEvent) -> dict[str, Any]:
        data, node_id = event.data, event.node_id or ""
        node = self.plan.nodes.get(node_id) if self.plan is not None else None
        body: dict[str, Any] = {
            "id": str(data.get("run_id", "")),
            "node_id": node_id,
            "node_type": data.get("node_type") or (node.type if node else ""),
            "title": data.get("title") or (node.title if node else ""),
            "created_at": created_at(event),
            "extras": {},
        }
        if event.event.endswith("_started"):
            body.update(inputs=data.get("inputs", {}), metadata=data.get("metadata", {}))
        elif event.event.endswith("_next"):
            body["index"] = data.get("index", 0)
            if event.event == "loop_next":
                body["pre_loop_output"] = data.get("pre_loop_output")
            else:
                body["pre_iteration_output"] = data.get("pre_iteration_output")
        else:
            body.update(
                created_at=data.get("started_at") or body["created_at"],
                inputs=data.get("inputs", {}),
                outputs=data.get("outputs"),
                status=data.get("status", "succeeded"),
                error=data.get("error"),
                elapsed_time=data.get("elapsed", 0.0),
                total_tokens=0,
                execution_metadata={},
                finished_at=data.get("finished_at") or body["created_at"],
                steps=data.get("steps", data.get("count", data.get("rounds", 0))),
            )
        return body


def _execution_metadata(source: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Dify's ``execution_metadata``: what the node recorded (a model's ``total_tokens``,
    ``total_price``, ``currency``...) and the container keys of a node inside an iteration
    or loop."""
    keys = ("iteration_id", "iteration_index", "loop_id", "loop_index")
    recorded = data.get("execution_metadata")
    metadata = dict(cast(dict[str, Any], recorded)) if isinstance(recorded, dict) else {}
    return {**metadata, **{key: source[key] for key in keys if source.get(key) is not None}}
