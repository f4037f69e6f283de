"""Turn the node and edge entries of a real Dify export into one canonical shape.

Exports from DSL 0.1.0 to 0.6.0 spell the same meaning in several ways; everything downstream
(validator, compiler, node implementations) reads only the canonical form, which keeps Dify's
field names so node code reads like Dify's documentation.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from tideflow.workflows.graph.errors import Problem
from tideflow.workflows.graph.model import (
    CONTAINER_START_TYPES,
    DocEdge,
    DocNode,
    as_dict,
    as_list,
)

# The editor's old name for the variable aggregator (not the variable assigner).
LEGACY_TYPES = {"variable-assigner": "variable-aggregator"}
# Node-entry keys that are ours to interpret; the rest is canvas layout kept for export.
_NODE_KEYS = frozenset({"id", "data", "parentId", "type"})
_EDGE_KEYS = frozenset({"id", "source", "target", "sourceHandle", "targetHandle", "data", "type"})
# ``data`` keys that only describe editor state; the container link lives in parent_id.
_EDITOR_DATA_KEYS = frozenset({"selected", "isInIteration", "isInLoop", "iteration_id", "loop_id"})
_LEGACY_SELECTOR = re.compile(r"^(sys|env|conversation)\.(.+)$")


def _node_id(value: object) -> str | None:
    # YAML reads unquoted numeric ids (common in exports) as int.
    return str(value) if isinstance(value, str | int) and str(value) else None


def normalise_nodes(raw_nodes: list[Any]) -> tuple[list[DocNode], list[DocEdge], list[Problem]]:
    """Canonical nodes from the ``graph.nodes`` entries; sticky notes are dropped.

    Also returns the edges of container start nodes added for old iterations.
    """
    nodes: list[DocNode] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_nodes):
        entry = as_dict(raw)
        node_id = _node_id(entry.get("id")) if entry else None
        if entry is None or node_id is None:
            problems.append(Problem(None, f"graph.nodes[{index}]", "node entry has no id"))
            continue
        if entry.get("type") == "custom-note":
            continue
        data = as_dict(entry.get("data"))
        if data is None:
            problems.append(
                Problem(node_id, "data", "node has no data block; this is not a Dify graph export")
            )
            continue
        if node_id in seen:
            problems.append(Problem(node_id, "id", "two nodes share this id"))
            continue
        seen.add(node_id)
        nodes.append(_normalise_node(node_id, entry, copy.deepcopy(data)))
    ids = {n.id for n in nodes}
    nodes = [n.model_copy(update={"data": _normalise_selectors(n.data, ids)}) for n in nodes]
    nodes, added_edges = _add_container_starts(nodes)
    return nodes, added_edges, problems


def _normalise_node(node_id: str, entry: dict[str, Any], data: dict[str, Any]) -> DocNode:
    node_type = str(data.get("type") or "")
    node_type = LEGACY_TYPES.get(node_type, node_type)
    data["type"] = node_type
    parent = entry.get("parentId") or data.get("iteration_id") or data.get("loop_id")
    for key in [k for k in data if k in _EDITOR_DATA_KEYS or k.startswith("_")]:
        del data[key]
    if "start_node_id" in data:
        data["start_node_id"] = _node_id(data["start_node_id"]) or ""
    _normalise_retry(data)
    if node_type == "if-else":
        _normalise_if_else(data)
    elif node_type == "end":
        _normalise_end(data)
    canvas = {k: v for k, v in entry.items() if k not in _NODE_KEYS}
    return DocNode(id=node_id, type=node_type, data=data, parent_id=_node_id(parent), canvas=canvas)


def _normalise_retry(data: dict[str, Any]) -> None:
    retry = as_dict(data.get("retry_config"))
    if retry is None:
        return
    # Some exports say ``enabled`` where Dify's entity says ``retry_enabled``.
    enabled = retry.pop("enabled", False)
    retry["retry_enabled"] = bool(retry.get("retry_enabled", enabled))
    retry["max_retries"] = int(retry.get("max_retries") or 0)
    retry["retry_interval"] = int(retry.get("retry_interval") or 0)


def _normalise_if_else(data: dict[str, Any]) -> None:
    # Before multi-case if-else, one top-level condition list was the case "true".
    if "cases" in data or "conditions" not in data:
        return
    conditions = data.pop("conditions")
    operator = data.pop("logical_operator", "and")
    data["cases"] = [
        {"case_id": "true", "id": "true", "logical_operator": operator, "conditions": conditions}
    ]


def _normalise_end(data: dict[str, Any]) -> None:
    for output in as_list(data.get("outputs")) or []:
        entry = as_dict(output)
        if entry is not None and not entry.get("value_type"):
            entry["value_type"] = "any"


def _normalise_selectors(value: Any, node_ids: set[str]) -> Any:
    """Rewrite legacy ``[<start_id>, 'sys.query']`` selectors to ``['sys', 'query']``."""
    items = as_list(value)
    if items is not None:
        if (
            len(items) == 2
            and _node_id(items[0]) in node_ids
            and isinstance(items[1], str)
            and (match := _LEGACY_SELECTOR.match(items[1]))
        ):
            return [match.group(1), match.group(2)]
        return [_normalise_selectors(i, node_ids) for i in items]
    mapping = as_dict(value)
    if mapping is not None:
        return {k: _normalise_selectors(v, node_ids) for k, v in mapping.items()}
    return value


def _add_container_starts(nodes: list[DocNode]) -> tuple[list[DocNode], list[DocEdge]]:
    """Give old iterations (DSL 0.1.x) the explicit start node newer editors insert.

    Their ``start_node_id`` names the first real child; the editor, on opening such a file, adds
    an ``<container>start`` node in front of it. We do the same so the interpreter meets one shape.
    """
    by_id = {n.id: n for n in nodes}
    added: list[DocNode] = []
    added_edges: list[DocEdge] = []
    out: list[DocNode] = []
    for node in nodes:
        start_type = CONTAINER_START_TYPES.get(node.type)
        first = by_id.get(str(node.data.get("start_node_id") or ""))
        if start_type is None or first is None or first.type == start_type:
            out.append(node)
            continue
        if first.parent_id != node.id:
            out.append(node)
            continue
        start_id = f"{node.id}start"
        data = {**node.data, "start_node_id": start_id}
        out.append(node.model_copy(update={"data": data}))
        added.append(
            DocNode(
                id=start_id,
                type=start_type,
                data={"type": start_type, "title": "", "desc": ""},
                parent_id=node.id,
                canvas={"position": {"x": 24, "y": 68}},
            )
        )
        added_edges.append(DocEdge(source=start_id, target=first.id))
    return out + added, added_edges


def normalise_edges(raw_edges: list[Any]) -> tuple[list[DocEdge], list[Problem]]:
    """Canonical edges: string ends, ``source`` as the default handle, duplicates dropped."""
    edges: list[DocEdge] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_edges):
        entry = as_dict(raw)
        source = _node_id(entry.get("source")) if entry else None
        target = _node_id(entry.get("target")) if entry else None
        if entry is None or source is None or target is None:
            problems.append(Problem(None, f"graph.edges[{index}]", "edge has no source or target"))
            continue
        handle = entry.get("sourceHandle")
        edge = DocEdge(
            source=source,
            target=target,
            source_handle=str(handle) if handle not in (None, "") else "source",
            canvas={k: v for k, v in entry.items() if k not in _EDGE_KEYS},
        )
        if edge.id not in seen:
            seen.add(edge.id)
            edges.append(edge)
    return edges, problems
