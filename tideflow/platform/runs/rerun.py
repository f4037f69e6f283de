"""Re-running a run from one of its nodes: the nodes before it keep their recorded outputs
(as pins, so they do not run again) and everything from it on runs anew."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tideflow.platform.api.errors import invalid_param
from tideflow.platform.db.models import NodeExecution
from tideflow.workflows.graph.plan import ExecutionPlan


def ancestors(plan: ExecutionPlan, node_id: str) -> set[str]:
    """Every node with a path to ``node_id`` (not ``node_id`` itself)."""
    sources: dict[str, list[str]] = {}
    for edge in plan.edges:
        sources.setdefault(edge.target, []).append(edge.source)
    seen: set[str] = set()
    pending = list(sources.get(node_id, []))
    while pending:
        current = pending.pop()
        if current not in seen and current != node_id:
            seen.add(current)
            pending.extend(sources.get(current, []))
    return seen


def rerun_pins(
    plan: ExecutionPlan, executions: Sequence[NodeExecution], from_node: str
) -> dict[str, dict[str, Any]]:
    """Pins for a re-run from ``from_node``: the recorded outputs of each node on its path
    that succeeded in the run (at the top level; a container is pinned whole).

    400 naming the node when it is not in the graph or sits inside an iteration or loop.
    """
    node = plan.nodes.get(from_node)
    if node is None:
        raise invalid_param(f"from_node: node {from_node!r} is not in the run's graph")
    if node.parent_id is not None:
        raise invalid_param(
            f"from_node: node {from_node!r} is inside {node.parent_id!r}; "
            f"re-run from {node.parent_id!r} instead"
        )
    before = ancestors(plan, from_node)
    pins: dict[str, dict[str, Any]] = {}
    for execution in executions:
        # Exceptions are left to run again: their pinned outputs would not take a fail-branch.
        if (
            execution.node_id in before
            and execution.container_id is None
            and execution.status == "succeeded"
        ):
            pins[execution.node_id] = dict(execution.outputs)
    return pins
