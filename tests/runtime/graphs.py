"""Tiny graph builders for engine tests."""

from __future__ import annotations

import itertools
from typing import Any

from tests.runtime.support import LocalExecutor, plan_from_graph
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult
from tideflow.workflows.engine.run import run_graph


def node(node_id: str, node_type: str, parent: str | None = None, **data: Any) -> dict[str, Any]:
    """A Dify-shaped node dict."""
    entry: dict[str, Any] = {"id": node_id, "data": {"type": node_type, "title": node_id, **data}}
    if parent:
        entry["parentId"] = parent
    return entry


def edge(source: str, target: str, handle: str = "source") -> dict[str, Any]:
    """A Dify-shaped edge dict."""
    return {"source": source, "target": target, "sourceHandle": handle}


def chain(*ids: str) -> list[dict[str, Any]]:
    """Edges a→b→c…"""
    return [edge(a, b) for a, b in itertools.pairwise(ids)]


async def run(
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    *,
    mode: str = "workflow",
    executor: LocalExecutor | None = None,
    conversation: list[dict[str, Any]] | None = None,
    **run_input: Any,
) -> GraphRunResult:
    """Build a plan and run it in plain asyncio."""
    plan = plan_from_graph(mode, nodes, edges, conversation=conversation)
    return await run_graph(GraphRunInput(plan=plan, **run_input), executor or LocalExecutor())


def end(*pairs: tuple[str, list[str]]) -> dict[str, Any]:
    """An End node named ``end`` with outputs name → selector."""
    return node("end", "end", outputs=[{"variable": n, "value_selector": s} for n, s in pairs])


START = node("start", "start", variables=[])
