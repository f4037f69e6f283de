"""Test support: plans from Dify DSL fixtures and a plain-asyncio Executor.

``plan_from_dsl`` is a minimal stand-in for the graph package's importer (enough for the
fixtures); ``LocalExecutor`` runs activities as local coroutines registered by name.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from tideflow.workflows.engine.executor import ActivityCallError, ActivityRetry
from tideflow.workflows.graph import compile_plan, load_app
from tideflow.workflows.graph.plan import (
    ConversationVariable,
    EnvironmentVariable,
    ExecutionPlan,
    PlanEdge,
    PlanNode,
)

T = TypeVar("T")
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared/conformance/dify-fixtures"
ROOT_TYPES = ("start", "trigger-webhook", "trigger-schedule", "trigger-plugin")


def plan_from_graph(
    mode: str,
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    *,
    environment: list[dict[str, Any]] | None = None,
    conversation: list[dict[str, Any]] | None = None,
) -> ExecutionPlan:
    """A plan from Dify-shaped node and edge dicts."""
    plan_nodes: dict[str, PlanNode] = {}
    for node in nodes:
        if node.get("type") == "custom-note":
            continue
        data = dict(node["data"])
        plan_nodes[str(node["id"])] = PlanNode(
            id=str(node["id"]),
            type=str(data.get("type")),
            title=str(data.get("title", "")),
            data=data,
            parent_id=node.get("parentId"),
        )
    root = next(n.id for n in plan_nodes.values() if n.type in ROOT_TYPES and n.parent_id is None)
    plan_edges = tuple(
        PlanEdge(
            id=f"e{i}",
            source=str(e["source"]),
            target=str(e["target"]),
            source_handle=str(e.get("sourceHandle") or "source"),
        )
        for i, e in enumerate(edges)
    )
    return ExecutionPlan(
        mode="advanced-chat" if mode == "advanced-chat" else "workflow",
        root_id=root,
        nodes=plan_nodes,
        edges=plan_edges,
        environment_variables=tuple(
            EnvironmentVariable(
                name=v["name"], value_type=v.get("value_type", "string"), value=v.get("value")
            )
            for v in environment or []
        ),
        conversation_variables=tuple(
            ConversationVariable(
                name=v["name"], value_type=v.get("value_type", "string"), value=v.get("value")
            )
            for v in conversation or []
        ),
    )


def plan_from_dsl(path: Path) -> ExecutionPlan:
    """A plan from a Dify DSL YAML file, through the real importer and compiler."""
    return compile_plan(load_app(path))


async def run_python_code(request: dict[str, Any]) -> dict[str, Any]:
    """A stand-in for the sandbox: runs ``main`` in-process (trusted fixture code only)."""
    scope: dict[str, Any] = {}
    exec(request["code"], scope)  # tests only: fixture code
    outputs = scope["main"](**request["inputs"])
    missing = [k for k in request["outputs"] if k not in outputs]
    if missing:
        raise ActivityCallError(f"Output {missing[0]} is missing.", "OutputValidationError")
    return {"outputs": outputs}


Activity = Callable[[Any], Awaitable[Any]]


class LocalExecutor:
    """Executor for plain asyncio: a fake clock that advances on sleep, ids from a counter."""

    def __init__(self, activities: dict[str, Activity] | None = None) -> None:
        self.activities: dict[str, Activity] = {"run_code": run_python_code, **(activities or {})}
        self.clock = datetime(2026, 1, 1, tzinfo=UTC)
        self.ids = itertools.count(1)
        self.calls: list[tuple[str, str, ActivityRetry]] = []
        self.sleeps: list[float] = []
        # Human-input submissions handed out in order, one per wait (None: the form times out).
        self.form_answers: list[dict[str, Any] | None] = []
        self.waits: list[tuple[str, float]] = []
        self.children: list[str] = []

    async def call_activity(
        self,
        name: str,
        arg: Any,
        *,
        result_type: type[T],
        summary: str,
        retry: ActivityRetry,
        timeout_seconds: float,
    ) -> T:
        """Run the registered coroutine, retrying like Temporal's policy would."""
        del timeout_seconds
        self.calls.append((name, summary, retry))
        payload = json.loads(json.dumps(arg, default=_dump))
        for attempt in range(1, retry.maximum_attempts + 1):
            try:
                result = await self.activities[name](payload)
                return result_type(result) if result_type is dict else result
            except ActivityCallError:
                if attempt == retry.maximum_attempts:
                    raise
                await self.sleep(retry.interval_seconds)
        raise AssertionError("unreachable")

    async def sleep(self, seconds: float) -> None:
        """Advance the fake clock."""
        self.sleeps.append(seconds)
        self.clock += timedelta(seconds=seconds)
        await asyncio.sleep(0)

    async def wait_for_input(self, key: str, timeout_seconds: float) -> dict[str, Any] | None:
        """The next prepared answer; with none, the clock jumps past the timeout."""
        self.waits.append((key, timeout_seconds))
        answer = self.form_answers.pop(0) if self.form_answers else None
        if answer is None:
            self.clock += timedelta(seconds=timeout_seconds)
        await asyncio.sleep(0)
        return answer

    async def run_child(self, workflow_id: str, run_input: dict[str, Any]) -> dict[str, Any]:
        """Run the child plan in this process, with this executor."""
        from tideflow.workflows.engine.models import GraphRunInput
        from tideflow.workflows.engine.recorder import RunRecorder
        from tideflow.workflows.engine.run import run_graph

        self.children.append(workflow_id)
        result = await run_graph(GraphRunInput.model_validate(run_input), self, RunRecorder())
        return result.model_dump(mode="json")

    def stop_requested(self) -> bool:
        """Never: a local run is not stopped from outside."""
        return False

    def now(self) -> datetime:
        """The fake clock."""
        return self.clock

    def new_id(self) -> str:
        """Sequential ids."""
        return f"id-{next(self.ids)}"


def _dump(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if dump is None:
        raise TypeError(type(value).__name__)
    return dump(mode="json")
