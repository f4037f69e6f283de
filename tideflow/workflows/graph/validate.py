"""Validate an imported app and report every problem at once."""

from __future__ import annotations

import weakref
from collections.abc import Collection
from typing import TYPE_CHECKING

from tideflow.workflows.graph.errors import Problem, app_problem
from tideflow.workflows.graph.model import (
    CONTAINER_START_TYPES,
    CONTAINER_TYPES,
    AppDocument,
    DocNode,
)
from tideflow.workflows.graph.resolve import reference_problems
from tideflow.workflows.graph.specs import is_external, is_known, node_specs
from tideflow.workflows.graph.topology import Topology

if TYPE_CHECKING:
    from tideflow.workflows.nodes.spec import NodeSpec


def validate_app(
    app: AppDocument, *, pinned: Collection[str] = (), mock_external: bool = False
) -> list[Problem]:
    """Every problem that stops ``app`` from running, in a stable order.

    ``pinned`` names nodes whose outputs the caller supplies; with ``mock_external`` nodes that
    reach outside run as type-correct mocks. Either makes a known but not yet implemented node
    type acceptable for that node.
    """
    problems = structure_problems(app)
    specs = node_specs()
    for node in app.nodes:
        if not is_known(node.type):
            continue
        if node.id not in pinned:
            problems.extend(_implementation_problems(node, specs, mock_external=mock_external))
    return problems


# The last app checked, by identity: ``compile_plan`` right after ``validate_app`` (what every
# caller does) reuses the answer instead of checking the graph twice. Apps are frozen; the
# registry is part of the key because tests swap it.
_last_checked: tuple[weakref.ref[AppDocument], dict[str, NodeSpec], list[Problem]] | None = None


def structure_problems(app: AppDocument) -> list[Problem]:
    """Problems that make the graph itself wrong, whatever runs its nodes."""
    global _last_checked
    specs = node_specs()
    last = _last_checked  # one read: another thread may replace it meanwhile
    if last is not None and last[0]() is app and last[1] is specs:
        return list(last[2])
    problems = _structure_problems(app, specs)
    _last_checked = (weakref.ref(app), specs, problems)
    return list(problems)


def _structure_problems(app: AppDocument, specs: dict[str, NodeSpec]) -> list[Problem]:
    topology = Topology.of(app)
    problems = _root_problems(topology)
    problems += _edge_problems(app, topology)
    problems += _node_problems(app, topology, specs)
    for group in topology.cycles():
        node = topology.nodes[group[0]]
        path = " -> ".join([*group, group[0]])
        message = f"cycle {path}; repeat work with a loop or iteration node instead"
        problems.append(Problem(node.id, "edges", message, node.title))
    problems += reference_problems(app, topology, specs)
    return problems


def _root_problems(topology: Topology) -> list[Problem]:
    roots = topology.roots()
    if not roots:
        return [app_problem("graph", "no start node: a run has nowhere to begin")]
    first = roots[0]
    return [
        Problem(
            extra.id,
            "type",
            f"a second start/trigger node; the app already starts at {first.id} ({first.title})",
            extra.title,
        )
        for extra in roots[1:]
    ]


def _edge_problems(app: AppDocument, topology: Topology) -> list[Problem]:
    problems: list[Problem] = []
    for edge in app.edges:
        for end, node_id in (("source", edge.source), ("target", edge.target)):
            if node_id not in topology.nodes:
                message = f"edge {edge.id}: {end} node {node_id} does not exist"
                problems.append(app_problem("edges", message))
        source, target = topology.nodes.get(edge.source), topology.nodes.get(edge.target)
        if source and target and source.parent_id != target.parent_id:
            message = f"edge to {target.id} crosses the boundary of an iteration or loop"
            problems.append(Problem(source.id, "edges", message, source.title))
    return problems


def _node_problems(
    app: AppDocument, topology: Topology, specs: dict[str, NodeSpec]
) -> list[Problem]:
    problems: list[Problem] = []
    has_roots = bool(topology.roots())
    reachable = topology.reachable() if has_roots else set[str]()
    for node in app.nodes:
        if not is_known(node.type):
            message = f"unknown node type {node.type!r}" if node.type else "node has no type"
            problems.append(Problem(node.id, "type", message, node.title))
        if has_roots and node.id not in reachable:
            message = "unreachable: no path leads here from the start node"
            problems.append(Problem(node.id, "edges", message, node.title))
        problems += _container_problems(node, topology)
        spec = specs.get(node.type)
        if spec is not None:
            problems += [
                Problem(node.id, field, message, node.title)
                for field, message in spec.validate(node.data)
            ]
    return problems


def _container_problems(node: DocNode, topology: Topology) -> list[Problem]:
    problems: list[Problem] = []
    if node.parent_id is not None:
        parent = topology.nodes.get(node.parent_id)
        if parent is None or parent.type not in CONTAINER_TYPES:
            message = f"sits inside {node.parent_id}, which is not an iteration or loop"
            problems.append(Problem(node.id, "parentId", message, node.title))
    elif node.type in CONTAINER_START_TYPES.values():
        message = "a container start node must sit inside an iteration or loop"
        problems.append(Problem(node.id, "parentId", message, node.title))
    if node.type in CONTAINER_TYPES:
        start = topology.nodes.get(str(node.data.get("start_node_id") or ""))
        if start is None or start.parent_id != node.id:
            message = "does not name a node inside this container"
            problems.append(Problem(node.id, "start_node_id", message, node.title))
    return problems


def _implementation_problems(
    node: DocNode, specs: dict[str, NodeSpec], *, mock_external: bool
) -> list[Problem]:
    spec = specs.get(node.type)
    if mock_external and is_external(node.type):
        return []
    if spec is not None and spec.implemented:
        return [
            Problem(node.id, field, message, node.title)
            for field, message in spec.run_requirements(node.data)
        ]
    message = f"node type {node.type!r} is not implemented yet"
    needs = _plugin_needed(node)
    if needs:
        message += f"; it needs {needs}"
    message += "; pin this node or run with mock_external"
    return [Problem(node.id, "type", message, node.title)]


def _plugin_needed(node: DocNode) -> str:
    """Name the marketplace plugin or provider a tool/agent node relies on, for the message."""
    data = node.data
    if node.type == "tool":
        provider = data.get("provider_id") or data.get("provider_name") or "?"
        kind = data.get("provider_type") or "?"
        tool = data.get("tool_name") or "?"
        plugin = data.get("plugin_unique_identifier")
        where = f" (plugin {plugin})" if plugin else ""
        return f"{kind} tool {tool} from provider {provider}{where}"
    if node.type == "agent":
        strategy = data.get("agent_strategy_name") or "?"
        provider = data.get("agent_strategy_provider_name") or "?"
        plugin = data.get("plugin_unique_identifier")
        where = f" (plugin {plugin})" if plugin else ""
        return f"agent strategy {strategy} from {provider}{where}"
    return ""
