"""Walks one (sub)graph: a node runs once all its incoming edges are resolved.

An edge is *taken* when its source finished and chose the edge's handle, *skipped* otherwise.
A node with at least one taken incoming edge runs; one whose incoming edges are all skipped is
skipped and skips its own outgoing edges. Ready nodes run as concurrent asyncio tasks, which
Temporal schedules deterministically. Once a node succeeded its edges are decided and the
walk's ResponseStream streams what became ready, before the node's ``node_finished`` event
(Dify's order).
"""

from __future__ import annotations

import asyncio

from tideflow.workflows.engine.context import NodeResult, RunState, Scope, SubgraphOutcome
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.engine.node_exec import execute_node
from tideflow.workflows.engine.pool import VariablePool
from tideflow.workflows.engine.stream import ResponseStream
from tideflow.workflows.graph.plan import PlanEdge


class GraphWalker:
    """Runs the nodes directly inside one container (None: the top level) from a start node."""

    def __init__(
        self, state: RunState, container_id: str | None, pool: VariablePool, scope: Scope | None
    ) -> None:
        self.state, self.pool, self.scope = state, pool, scope
        nodes = state.plan.nodes
        self.node_ids = {n.id for n in nodes.values() if n.parent_id == container_id}
        self.out_edges: dict[str, list[PlanEdge]] = {n: [] for n in self.node_ids}
        self.in_edges: dict[str, list[PlanEdge]] = {n: [] for n in self.node_ids}
        for edge in state.plan.edges:
            if edge.source in self.node_ids and edge.target in self.node_ids:
                self.out_edges[edge.source].append(edge)
                self.in_edges[edge.target].append(edge)
        self.taken: dict[str, bool] = {}
        self.visited: set[str] = set()
        self.skipped: set[str] = set()
        self.tasks: list[asyncio.Task[None]] = []
        self.outcome = SubgraphOutcome()
        self.stream: ResponseStream | None = None

    async def run(self, start_id: str) -> SubgraphOutcome:
        """Run from ``start_id`` until no node can run; stop early on an unhandled failure."""
        if start_id not in self.node_ids:
            self.outcome.error = NodeError(f"Start node {start_id} not found", "GraphError")
            return self.outcome
        self.stream = ResponseStream(
            self.state, self.pool, start_id, self.out_edges, self.taken, self.skipped
        )
        self.visited.add(start_id)
        self._launch(start_id, None)
        try:
            while pending := [t for t in self.tasks if not t.done()]:
                await asyncio.wait(pending)
        except asyncio.CancelledError:
            for task in self.tasks:
                task.cancel()
            # Let the cancelled nodes record themselves (``stopped``) before the run sums up.
            if pending := [t for t in self.tasks if not t.done()]:
                await asyncio.wait(pending)
            raise
        return self.outcome

    def _launch(self, node_id: str, predecessor: str | None) -> None:
        self.tasks.append(asyncio.create_task(self._run_node(node_id, predecessor)))

    async def _run_node(self, node_id: str, predecessor: str | None) -> None:
        node = self.state.plan.nodes[node_id]

        def succeeded(result: NodeResult) -> None:
            if self.outcome.error is not None:
                return
            if result.loop_end:
                self.outcome.loop_end_reached = True
            self._resolve(node_id, result.handles or ["source"])
            if self.stream is not None:
                self.stream.update(node_id)

        _run, result, error = await execute_node(
            self.state, node, self.pool, self.scope, predecessor=predecessor, succeeded=succeeded
        )
        if self.outcome.error is not None or (result is not None and error is None):
            return
        self.outcome.error = error or NodeError("node failed")
        self.outcome.failed_node_id = node_id
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current and not task.done():
                task.cancel()

    def _resolve(self, node_id: str, handles: list[str]) -> None:
        targets: list[str] = []
        for edge in self.out_edges[node_id]:
            self.taken[edge.id] = edge.source_handle in handles
            if edge.target not in targets:
                targets.append(edge.target)
        for target in targets:
            self._maybe_start(target)

    def _maybe_start(self, node_id: str) -> None:
        incoming = self.in_edges[node_id]
        if node_id in self.visited or any(e.id not in self.taken for e in incoming):
            return
        self.visited.add(node_id)
        taken = [e.source for e in incoming if self.taken[e.id]]
        if taken:
            self._launch(node_id, taken[0])
        else:
            self.skipped.add(node_id)
            self.state.recorder.emit("node_skipped", node_id)
            self._resolve(node_id, [])
