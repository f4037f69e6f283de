"""Dify's SSE events (``workflow_started``, ``node_started``...) from the run's recorded events.

The recorder's event index is the SSE ``id``, so a client reattaching with ``Last-Event-ID``
continues exactly after the last event it saw.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from tideflow.platform.db.models import WorkflowRun
from tideflow.workflows.engine.models import RunEvent
from tideflow.workflows.graph.plan import ExecutionPlan, PlanNode

# Recorder events with no Dify SSE counterpart.
_INTERNAL = frozenset({"node_skipped", "variable_updated"})


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


def sse_line(payload: dict[str, Any], event_id: int | None = None) -> str:
    """One SSE message: optional ``id:`` line, then ``data: {json}``."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}data: {json.dumps(payload, ensure_ascii=False, default=str)}\n\n"


PING = "event: ping\n\n"


@dataclass
class _NodeInfo:
    exec_id: str
    node_id: str
    node_type: str
    title: str
    index: int
    created_at: int


@dataclass
class DifyEventTranslator:
    """Turns recorded events into Dify SSE payloads; feed it every event in order."""

    run_id: str
    workflow_id: str
    plan: ExecutionPlan | None
    secrets: tuple[str, ...] = ()
    _nodes: dict[str, _NodeInfo] = field(default_factory=dict[str, _NodeInfo])
    _latest: dict[str, _NodeInfo] = field(default_factory=dict[str, _NodeInfo])

    def translate(self, event: RunEvent) -> dict[str, Any] | None:
        """The Dify payload for ``event`` (None when Dify has no such event)."""
        now = int(time.time())
        name, data = event.event, event.data
        if name in _INTERNAL or name == "workflow_finished":
            return None
        if name == "workflow_started":
            body: dict[str, Any] = {
                "id": self.run_id,
                "workflow_id": self.workflow_id,
                "inputs": data.get("inputs", {}),
                "created_at": now,
                "reason": "initial",
            }
        elif name == "node_started":
            body = self._node_started(event, now)
        elif name in ("node_finished", "node_retry"):
            body = self._node_finished(event, now)
        elif name == "text_chunk":
            body = {"text": data.get("text", ""), "from_variable_selector": [event.node_id, "text"]}
        elif name.startswith(("iteration_", "loop_")):
            body = self._container(event, now)
        else:  # chatflow events (message...) carry their own fields
            return self._wrap(name, dict(data), top_level=True)
        return self._wrap(name, body)

    def closing(self, finished: dict[str, Any], run: WorkflowRun) -> list[dict[str, Any]]:
        """The stream's last payloads, given ``workflow_finished`` and the ended run record
        (a workflow app's stream ends with ``workflow_finished`` alone)."""
        del run
        return [finished]

    def _wrap(self, name: str, body: dict[str, Any], top_level: bool = False) -> dict[str, Any]:
        payload: dict[str, Any] = {"event": name, "task_id": self.run_id}
        payload["workflow_run_id"] = self.run_id
        if top_level:
            payload.update(body)
        else:
            payload["data"] = body
        return mask_secrets(payload, self.secrets)

    def _plan_node(self, node_id: str | None) -> PlanNode | None:
        return self.plan.nodes.get(node_id or "") if self.plan is not None else None

    def _containers(self, node_id: str) -> dict[str, str | None]:
        node = self._plan_node(node_id)
        parent = self._plan_node(node.parent_id) if node and node.parent_id else None
        kind = parent.type if parent else None
        return {
            "iteration_id": parent.id if parent and kind == "iteration" else None,
            "loop_id": parent.id if parent and kind == "loop" else None,
        }

    def _node_started(self, event: RunEvent, now: int) -> dict[str, Any]:
        data, node_id = event.data, event.node_id or ""
        info = _NodeInfo(
            exec_id=str(data.get("run_id", "")),
            node_id=node_id,
            node_type=str(data.get("node_type", "")),
            title=str(data.get("title", "")),
            index=len(self._nodes) + 1,
            created_at=now,
        )
        self._nodes[info.exec_id] = info
        self._latest[node_id] = info
        return {**self._node_fields(info), "inputs": None, "extras": {}}

    def _node_fields(self, info: _NodeInfo) -> dict[str, Any]:
        return {
            "id": info.exec_id,
            "node_id": info.node_id,
            "node_type": info.node_type,
            "title": info.title,
            "index": info.index,
            "predecessor_node_id": None,
            "created_at": info.created_at,
            **self._containers(info.node_id),
        }

    def _node_finished(self, event: RunEvent, now: int) -> dict[str, Any]:
        data, node_id = event.data, event.node_id or ""
        info = self._nodes.get(str(data.get("run_id", ""))) or self._latest.get(node_id)
        if info is None:  # not seen starting: a reattach that began past its start
            node = self._plan_node(node_id)
            info = _NodeInfo(
                "", node_id, node.type if node else "", node.title if node else "", 0, now
            )
        body: dict[str, Any] = {
            **self._node_fields(info),
            "inputs": None,
            "process_data": None,
            "outputs": data.get("outputs"),
            "status": data.get("status", "failed" if event.event == "node_retry" else None),
            "error": data.get("error"),
            "elapsed_time": data.get("elapsed", 0.0),
            "execution_metadata": {},
            "finished_at": now,
            "files": list[Any](),
        }
        if event.event == "node_retry":
            body["retry_index"] = data.get("retry_index", 0)
        return body

    def _container(self, event: RunEvent, now: int) -> dict[str, Any]:
        node_id = event.node_id or ""
        info = self._latest.get(node_id)
        node = self._plan_node(node_id)
        body: dict[str, Any] = {
            "id": info.exec_id if info else "",
            "node_id": node_id,
            "node_type": node.type if node else "",
            "title": node.title if node else "",
            "created_at": now,
            "extras": {},
        }
        data = event.data
        if event.event.endswith("_started"):
            body.update(inputs={}, metadata=dict(data))
        elif event.event.endswith("_next"):
            body["index"] = data.get("index", 0)
        else:
            body.update(
                outputs=None, status="succeeded", steps=data.get("count", data.get("rounds"))
            )
            body.update(finished_at=now, execution_metadata=dict(data))
        return body
