"""The shape of an app graph: scopes (top level and each container), roots, order, cycles.

Edges only connect nodes of the same scope; a container (iteration, loop) runs its children
from its ``start_node_id``, so a child is reachable when its container is.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict, deque
from collections.abc import Iterable

from tideflow.workflows.graph.model import CONTAINER_TYPES, ROOT_TYPES, AppDocument, DocNode


@dataclasses.dataclass(frozen=True)
class Topology:
    """Adjacency of the valid edges (both ends exist and sit in the same scope)."""

    nodes: dict[str, DocNode]
    successors: dict[str, list[str]]
    predecessors: dict[str, list[str]]

    @classmethod
    def of(cls, app: AppDocument) -> Topology:
        """Build the adjacency of ``app``; edges that cannot be followed are left out."""
        nodes = app.node_map()
        succ: dict[str, list[str]] = defaultdict(list)
        pred: dict[str, list[str]] = defaultdict(list)
        for edge in app.edges:
            source, target = nodes.get(edge.source), nodes.get(edge.target)
            if source is None or target is None or source.parent_id != target.parent_id:
                continue
            succ[edge.source].append(edge.target)
            pred[edge.target].append(edge.source)
        return cls(nodes, dict(succ), dict(pred))

    def roots(self) -> list[DocNode]:
        """Top-level start and trigger nodes, where a run may begin."""
        return [n for n in self.nodes.values() if n.parent_id is None and n.type in ROOT_TYPES]

    def containers(self, node_id: str) -> list[DocNode]:
        """The containers enclosing ``node_id``, innermost first."""
        out: list[DocNode] = []
        parent = self.nodes[node_id].parent_id
        while parent is not None and parent in self.nodes and len(out) < len(self.nodes):
            out.append(self.nodes[parent])
            parent = self.nodes[parent].parent_id
        return out

    def children(self, container_id: str) -> list[DocNode]:
        """Nodes directly inside a container."""
        return [n for n in self.nodes.values() if n.parent_id == container_id]

    def _walk(self, starts: Iterable[str], step: dict[str, list[str]]) -> set[str]:
        seen: set[str] = set()
        queue = deque(starts)
        while queue:
            current = queue.popleft()
            if current in seen:
                continue
            seen.add(current)
            queue.extend(step.get(current, ()))
        return seen

    def reachable(self) -> set[str]:
        """Every node a run can reach from the roots, entering containers at their start."""
        seen: set[str] = set()
        frontier = [n.id for n in self.roots()]
        while frontier:
            new = self._walk(frontier, self.successors) - seen
            seen |= new
            frontier: list[str] = []
            for node_id in new:
                node = self.nodes[node_id]
                start = str(node.data.get("start_node_id") or "")
                target = self.nodes.get(start)
                if node.type in CONTAINER_TYPES and target and target.parent_id == node.id:
                    frontier.append(start)
        return seen

    def ancestors(self, node_id: str) -> set[str]:
        """Nodes that always finish before ``node_id`` may start: upstream in its own scope and
        upstream of each enclosing container."""
        out = self._walk([node_id], self.predecessors) - {node_id}
        for container in self.containers(node_id):
            out |= self._walk([container.id], self.predecessors) - {container.id}
        return out

    def descendants_inside(self, container_id: str) -> set[str]:
        """All nodes nested (at any depth) in a container."""
        return {n for n in self.nodes if container_id in {c.id for c in self.containers(n)}}

    def cycles(self) -> list[list[str]]:
        """Each group of nodes that lead back to themselves, in document order."""
        out: list[list[str]] = []
        placed: set[str] = set()
        for node_id in self.nodes:
            if node_id in placed:
                continue
            forward = self._walk(self.successors.get(node_id, ()), self.successors)
            if node_id not in forward:
                continue
            backward = self._walk(self.predecessors.get(node_id, ()), self.predecessors)
            group = [n for n in self.nodes if n in forward and n in backward]
            placed.update(group)
            out.append(group)
        return out
