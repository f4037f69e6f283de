"""The shape of an app graph: scopes (top level and each container), roots, order, cycles.

Edges only connect nodes of the same scope; a container (iteration, loop) runs its children
from its ``start_node_id``, so a child is reachable when its container is.

Everything is computed once per ``Topology`` and in linear passes: the strongly connected
components (Tarjan) give the cycles and a topological order, in which each node's upstream is
the union of its predecessors' (kept as bit masks over the document order, so a 1000-node
chain costs a few thousand integer ORs, not a walk per node or per variable reference).
"""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator

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

    @functools.cached_property
    def _roots(self) -> tuple[DocNode, ...]:
        return tuple(n for n in self.nodes.values() if n.parent_id is None and n.type in ROOT_TYPES)

    def roots(self) -> list[DocNode]:
        """Top-level start and trigger nodes, where a run may begin."""
        return list(self._roots)

    def containers(self, node_id: str) -> list[DocNode]:
        """The containers enclosing ``node_id``, innermost first."""
        return self._enclosing(self.nodes[node_id].parent_id)

    def _enclosing(self, parent: str | None) -> list[DocNode]:
        out: list[DocNode] = []
        # Bounded: a parentId cycle in a broken document must not loop forever.
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
        frontier = [n.id for n in self._roots]
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

    # -- upstream, as bit masks over the document order ------------------------------------

    @functools.cached_property
    def _bit(self) -> dict[str, int]:
        return {node_id: 1 << i for i, node_id in enumerate(self.nodes)}

    def ids(self, mask: int) -> set[str]:
        """The node ids whose bits are set in ``mask``."""
        return {node_id for node_id, bit in self._bit.items() if mask & bit}

    def bit(self, node_id: str) -> int:
        """``node_id``'s bit (0 for an unknown id)."""
        return self._bit.get(node_id, 0)

    @functools.cached_property
    def _components(self) -> list[list[str]]:
        return strongly_connected(self.nodes, self.successors)

    @functools.cached_property
    def _scope_upstream(self) -> dict[str, int]:
        """Per node, every node of its scope with a path to it (itself only via a cycle with
        another node, as a backwards walk minus the start would give)."""
        comp_of = {m: i for i, comp in enumerate(self._components) for m in comp}
        members = [sum(self._bit[m] for m in comp) for comp in self._components]
        reach = [0] * len(self._components)
        out: dict[str, int] = {}
        # Tarjan emits sinks first: reversed, every predecessor component comes first.
        for index in reversed(range(len(self._components))):
            mask = 0
            for member in self._components[index]:
                for pred in self.predecessors.get(member, ()):
                    if comp_of[pred] != index:
                        mask |= reach[comp_of[pred]] | members[comp_of[pred]]
            reach[index] = mask
            for member in self._components[index]:
                out[member] = mask | (members[index] & ~self._bit[member])
        return out

    @functools.cached_property
    def _outer(self) -> dict[str | None, int]:
        return {}

    def _outer_upstream(self, parent: str | None) -> int:
        """Upstream of every container enclosing a child of ``parent``, once per parent."""
        if parent not in self._outer:
            mask = 0
            for container in self._enclosing(parent):
                mask |= self._scope_upstream[container.id]
            self._outer[parent] = mask
        return self._outer[parent]

    def ancestor_mask(self, node_id: str) -> int:
        """``ancestors(node_id)`` as a bit mask (see ``bit``)."""
        return self._scope_upstream[node_id] | self._outer_upstream(self.nodes[node_id].parent_id)

    def ancestors(self, node_id: str) -> set[str]:
        """Nodes that always finish before ``node_id`` may start: upstream in its own scope and
        upstream of each enclosing container."""
        return self.ids(self.ancestor_mask(node_id))

    @functools.cached_property
    def _inside(self) -> dict[str, int]:
        inside: dict[str, int] = defaultdict(int)
        for node_id, node in self.nodes.items():
            for container in self._enclosing(node.parent_id):
                inside[container.id] |= self._bit[node_id]
        return dict(inside)

    def inside_mask(self, container_id: str) -> int:
        """``descendants_inside(container_id)`` as a bit mask."""
        return self._inside.get(container_id, 0)

    def descendants_inside(self, container_id: str) -> set[str]:
        """All nodes nested (at any depth) in a container."""
        return self.ids(self.inside_mask(container_id))

    def cycles(self) -> list[list[str]]:
        """Each group of nodes that lead back to themselves, in document order."""
        order = {node_id: i for i, node_id in enumerate(self.nodes)}
        groups = [
            sorted(comp, key=order.__getitem__)
            for comp in self._components
            if len(comp) > 1 or comp[0] in self.successors.get(comp[0], ())
        ]
        return sorted(groups, key=lambda group: order[group[0]])


def strongly_connected(nodes: Iterable[str], successors: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively; a component comes after every
    component it leads to (sinks first)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def enter(node_id: str) -> tuple[str, Iterator[str]]:
        index[node_id] = low[node_id] = len(index)
        stack.append(node_id)
        on_stack.add(node_id)
        return node_id, iter(successors.get(node_id, ()))

    for root in nodes:
        if root in index:
            continue
        work = [enter(root)]
        while work:
            node_id, following = work[-1]
            for child in following:
                if child not in index:
                    work.append(enter(child))
                    break
                if child in on_stack:
                    low[node_id] = min(low[node_id], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node_id])
                if low[node_id] == index[node_id]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node_id:
                            break
                    out.append(component)
    return out
