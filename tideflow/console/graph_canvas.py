"""A Dify graph on the streamlit-flow canvas and back.

The Dify graph (``{nodes, edges, viewport}`` as the draft API returns it) stays the truth: the
canvas is drawn from it, and what the canvas reports (moved nodes, new edges, deletions) is
merged back into it. Fields the canvas knows nothing about (``data``, handles, sizes) are kept.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any, cast

from streamlit_flow import (  # pyright: ignore[reportMissingTypeStubs]
    StreamlitFlowEdge,
    StreamlitFlowNode,
    StreamlitFlowState,
)

from tideflow.console.node_types import CONTAINER_STARTS, Data, default_data, label
from tideflow.console.variables import node_data, nodes_by_id

_BASE_STYLE = {"borderRadius": "8px", "padding": "6px 10px", "fontSize": "13px"}
_PROBLEM_STYLE = {"border": "2px solid #d92d20", "background": "#fff1f0"}
_CONTAINER_TYPES = ("iteration", "loop")
_ENDPOINT_TYPES = {"start": "input", "end": "output"}


def plain(text: object) -> str:
    """``text`` with Markdown's special characters escaped (titles and messages are shown as
    Markdown)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~$-])", r"\\\1", str(text))


def _problems_by_node(problems: list[Data]) -> dict[str, list[Data]]:
    found: dict[str, list[Data]] = {}
    for problem in problems:
        if problem.get("node_id"):
            found.setdefault(str(problem["node_id"]), []).append(problem)
    return found


def _position(node: Data) -> tuple[float, float]:
    position = cast(Data, node.get("position") or {})
    return float(position.get("x") or 0), float(position.get("y") or 0)


def _content(data: Data, node_id: str, problems: list[Data]) -> str:
    if str(data.get("type")).endswith("-start") and data.get("type") != "start":
        return "▶"  # a container's entry point
    title = plain(data.get("title") or node_id)
    kind = plain(label(str(data.get("type") or "")))
    if not problems:
        return f"**{title}**  \n{kind}"
    count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
    return f"⚠ **{title}**  \n{kind}  \n{count}"


def flow_view(graph: Data, problems: list[Data]) -> tuple[list[Data], list[Data]]:
    """The canvas's node and edge dicts (streamlit-flow's shape), parents before children."""
    nodes = nodes_by_id(graph)
    flagged = _problems_by_node(problems)
    ordered = sorted(nodes.values(), key=lambda n: 1 if n.get("parentId") else 0)
    flow_nodes: list[Data] = []
    for node in ordered:
        node_id, data = str(node.get("id")), node_data(node)
        style: Data = dict(_BASE_STYLE)
        extra: Data = {}
        if data.get("type") in _CONTAINER_TYPES:
            width, height = node.get("width") or 388, node.get("height") or 178
            style |= {"width": f"{width}px", "height": f"{height}px", "background": "#f5f8ff"}
        if node_id in flagged:
            style |= _PROBLEM_STYLE
        if node.get("parentId") and str(node["parentId"]) in nodes:
            extra = {"parentNode": str(node["parentId"]), "extent": "parent"}
        flow_nodes.append(
            {
                "id": node_id,
                "pos": _position(node),
                "data": {"content": _content(data, node_id, flagged.get(node_id, []))},
                "node_type": _ENDPOINT_TYPES.get(str(data.get("type")), "default"),
                "style": style,
                **extra,
            }
        )
    flow_edges = [
        {
            "id": str(edge.get("id")),
            "source": str(edge.get("source")),
            "target": str(edge.get("target")),
            "label": _branch_label(nodes, edge),
        }
        for edge in cast(list[Data], graph.get("edges") or [])
        if str(edge.get("source")) in nodes and str(edge.get("target")) in nodes
    ]
    return flow_nodes, flow_edges


def _branch_label(nodes: dict[str, Data], edge: Data) -> str:
    handle = str(edge.get("sourceHandle") or "source")
    if handle == "source":
        return ""
    data = node_data(nodes.get(str(edge.get("source")), {}))
    for cls in cast(list[Data], data.get("classes") or []):
        if str(cls.get("id")) == handle:
            return str(cls.get("name") or handle)
    return {"true": "IF", "false": "ELSE"}.get(handle, handle)


def signature(view: tuple[list[Data], list[Data]]) -> str:
    """What the canvas shows apart from positions: when it changes, the canvas is redrawn."""
    nodes, edges = view
    shown = [{k: v for k, v in n.items() if k != "pos"} for n in nodes], edges
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()


def flow_state(view: tuple[list[Data], list[Data]], selected: str | None, ts: int) -> Any:
    """The streamlit-flow state to draw (``ts`` newer than the canvas's last report redraws)."""
    nodes, edges = view
    flow_nodes = [
        StreamlitFlowNode(
            id=n["id"],
            pos=n["pos"],
            data=n["data"],
            node_type=n["node_type"],
            source_position="right",
            target_position="left",
            selected=n["id"] == selected,
            selectable=True,
            connectable=True,
            deletable=True,
            style=n["style"],
            **{k: v for k, v in n.items() if k in ("parentNode", "extent")},
        )
        for n in nodes
    ]
    flow_edges = [
        StreamlitFlowEdge(
            id=e["id"],
            source=e["source"],
            target=e["target"],
            label=e["label"],
            marker_end={"type": "arrowclosed"},
            deletable=True,
            focusable=True,
            label_show_bg=bool(e["label"]),
        )
        for e in edges
    ]
    return StreamlitFlowState(nodes=flow_nodes, edges=flow_edges, timestamp=ts)


def merge_report(graph: Data, report: Data, known_nodes: set[str], known_edges: set[str]) -> bool:
    """Merge what the canvas reports (``{nodes, edges}`` as streamlit-flow sends them) into
    ``graph``: positions, nodes and edges deleted on the canvas (only those it was shown: a node
    added since is not a deletion) and edges drawn on it. True when nodes or edges changed."""
    nodes = nodes_by_id(graph)
    reported = {str(n.get("id")): n for n in cast(list[Data], report.get("nodes") or [])}
    for node_id, flow_node in reported.items():
        if node_id in nodes:
            _move(nodes, node_id, cast(Data, flow_node.get("position") or {}))
    gone = [n for n in nodes if n in known_nodes and n not in reported]
    for node_id in gone:
        delete_node(graph, node_id)
    nodes = nodes_by_id(graph)
    edges = cast(list[Data], graph.get("edges") or [])
    drawn = {str(e.get("id")): e for e in cast(list[Data], report.get("edges") or [])}
    kept = [e for e in edges if str(e.get("id")) not in known_edges or str(e.get("id")) in drawn]
    changed = bool(gone) or len(kept) != len(edges)
    pairs = {(str(e.get("source")), str(e.get("target"))) for e in kept}
    for edge_id, flow_edge in drawn.items():
        pair = (str(flow_edge.get("source")), str(flow_edge.get("target")))
        if edge_id in known_edges or pair in pairs or pair[0] not in nodes or pair[1] not in nodes:
            continue
        kept.append(new_edge(nodes, *pair))
        pairs.add(pair)
        changed = True
    graph["edges"] = kept
    return changed


def _move(nodes: dict[str, Data], node_id: str, position: Data) -> None:
    node = nodes[node_id]
    x, y = float(position.get("x") or 0), float(position.get("y") or 0)
    old_x, old_y = _position(node)
    if abs(x - old_x) < 0.05 and abs(y - old_y) < 0.05:
        return  # the canvas's float round trip, not a move
    x, y = round(x, 1), round(y, 1)
    node["position"] = {"x": x, "y": y}
    parent = nodes.get(str(node.get("parentId") or ""))
    px, py = _position(parent) if parent else (0.0, 0.0)
    node["positionAbsolute"] = {"x": px + x, "y": py + y}


def new_edge(nodes: dict[str, Data], source: str, target: str, handle: str = "source") -> Data:
    """A Dify edge entry from ``source`` (its ``handle``: a branch) to ``target``."""
    source_node, target_node = nodes[source], nodes[target]
    parent = source_node.get("parentId")
    flags: Data = {"isInIteration": False, "isInLoop": False}
    if parent and parent == target_node.get("parentId"):
        kind = node_data(nodes.get(str(parent), {})).get("type")
        flags = {"isInIteration": kind == "iteration", "isInLoop": kind == "loop"}
    return {
        "id": f"{source}-{handle}-{target}-target",
        "source": source,
        "sourceHandle": handle,
        "target": target,
        "targetHandle": "target",
        "type": "custom",
        "data": {
            "sourceType": node_data(source_node).get("type"),
            "targetType": node_data(target_node).get("type"),
            **flags,
        },
    }


def add_node(graph: Data, node_type: str, after: str | None) -> str:
    """Add a node of ``node_type`` (a container gets its start node); placed right of ``after``
    and joined to it when given. Returns the new id."""
    nodes = nodes_by_id(graph)
    node_id = _fresh_id(nodes)
    taken = sum(1 for n in nodes.values() if node_data(n).get("type") == node_type)
    title = label(node_type) + (f" {taken + 1}" if taken else "")
    anchor = nodes.get(after or "")
    parent = str(anchor.get("parentId") or "") if anchor is not None else ""
    parent = parent if parent in nodes else None
    siblings = [_position(n) for n in nodes.values() if n.get("parentId") == parent]
    if anchor is not None:
        ax, ay = _position(anchor)
        x, y = _free_spot(siblings, ax + 300, ay)
    else:
        x, y = _free_spot(siblings, max((p[0] for p in siblings), default=-270) + 300, 200.0)
    entry: Data = {"id": node_id, "type": "custom", "data": default_data(node_type, title)}
    entry |= {"position": {"x": x, "y": y}, "sourcePosition": "right", "targetPosition": "left"}
    if parent:
        entry["parentId"] = parent
        container = nodes[str(parent)]  # grows to hold the new node
        container["width"] = max(float(container.get("width") or 388), x + 280)
        container["height"] = max(float(container.get("height") or 178), y + 120)
    graph.setdefault("nodes", []).append(entry)
    if node_type in CONTAINER_STARTS:
        _add_container_start(graph, entry)
    if anchor is not None:
        handle = first_branch(node_data(anchor))
        edge = new_edge(nodes_by_id(graph), str(after), node_id, handle)
        graph.setdefault("edges", []).append(edge)
    return node_id


def first_branch(data: Data) -> str:
    """The handle a new node joins a branching node by: its first case, class or action
    (an edge from ``source`` would never be taken), else ``source``."""
    kind = data.get("type")
    field, key = {
        "if-else": ("cases", "case_id"),
        "question-classifier": ("classes", "id"),
        "human-input": ("user_actions", "id"),
    }.get(str(kind), ("", ""))
    for entry in cast(list[Any], data.get(field) or []) if field else []:
        if isinstance(entry, dict) and cast(Data, entry).get(key):
            return str(cast(Data, entry)[key])
    return "source"


def _free_spot(taken: list[tuple[float, float]], x: float, y: float) -> tuple[float, float]:
    """The first place at ``x``, from ``y`` down, that no node covers."""
    while any(abs(x - tx) < 260 and abs(y - ty) < 110 for tx, ty in taken):
        y += 130
    return x, y


def _add_container_start(graph: Data, container: Data) -> None:
    start_type = CONTAINER_STARTS[node_data(container)["type"]]
    start_id = f"{container['id']}start"
    container |= {"width": 388, "height": 178}
    node_data(container)["start_node_id"] = start_id
    graph["nodes"].append(
        {
            "id": start_id,
            "type": f"custom-{start_type}",
            "parentId": container["id"],
            "data": {"type": start_type, "title": "", "desc": ""},
            "position": {"x": 24, "y": 68},
        }
    )


def _fresh_id(nodes: dict[str, Data]) -> str:
    stamp = int(time.time() * 1000)
    while str(stamp) in nodes:
        stamp += 1
    return str(stamp)


def delete_node(graph: Data, node_id: str) -> None:
    """Remove a node, the nodes inside it (a container's) and every edge touching them."""
    nodes = cast(list[Data], graph.get("nodes") or [])
    doomed = {node_id}
    grew = True
    while grew:
        inside = {str(n.get("id")) for n in nodes if str(n.get("parentId") or "") in doomed}
        grew = not inside <= doomed
        doomed |= inside
    graph["nodes"] = [n for n in nodes if str(n.get("id")) not in doomed]
    graph["edges"] = [
        e
        for e in cast(list[Data], graph.get("edges") or [])
        if str(e.get("source")) not in doomed and str(e.get("target")) not in doomed
    ]
