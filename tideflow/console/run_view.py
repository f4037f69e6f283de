"""How a run looks in the console: the state its SSE events build up (``RunView``), a node's
status line and details, the run's summary, and the graph coloured by node status: on the
interactive canvas once a run has ended, and as plain HTML while it streams. Shared by the run
panel (a live run) and the Runs page (a recorded one)."""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass, field
from typing import Any, cast

import streamlit as st
from streamlit_flow import (  # pyright: ignore[reportMissingTypeStubs]
    StreamlitFlowEdge,
    StreamlitFlowNode,
    StreamlitFlowState,
    streamlit_flow,  # pyright: ignore[reportUnknownVariableType]
)

# Dify's node and run statuses -> Streamlit's colour names.
STATUS_COLORS = {
    "pending": "gray",
    "running": "blue",
    "succeeded": "green",
    "failed": "red",
    "exception": "orange",
    "partial-succeeded": "orange",
    "retry": "orange",
    "paused": "violet",
    "stopped": "gray",
}
# Node fill and border on the canvas, by status.
CANVAS_COLORS = {
    "pending": ("#f8fafc", "#cbd5e1"),
    "running": ("#dbeafe", "#2563eb"),
    "succeeded": ("#dcfce7", "#16a34a"),
    "failed": ("#fee2e2", "#dc2626"),
    "exception": ("#ffedd5", "#ea580c"),
    "retry": ("#ffedd5", "#ea580c"),
    "paused": ("#ede9fe", "#7c3aed"),
    "stopped": ("#e5e7eb", "#6b7280"),
}
_CONTAINER_EVENTS = ("iteration_", "loop_")
# Session state: when each status canvas was drawn first, by its key.
_CANVAS_STAMPS_KEY = "tideflow_status_canvas"
# The live graph: a node's size when the graph gives none, and the largest drawing (pixels).
_BOX = (200.0, 56.0)
_LIVE_MAX = (1000.0, 260.0)


def dicts(value: Any) -> list[dict[str, Any]]:
    """The JSON objects in a list (a graph's nodes, edges, options...); [] for anything else."""
    items: list[Any] = cast(list[Any], value) if isinstance(value, list) else []
    return [cast(dict[str, Any], item) for item in items if isinstance(item, dict)]


def data_of(node: dict[str, Any]) -> dict[str, Any]:
    """A graph node's ``data`` block."""
    data: Any = node.get("data")
    return cast(dict[str, Any], data) if isinstance(data, dict) else {}


def badge(status: str) -> str:
    """A coloured status badge (Streamlit markdown)."""
    return f":{STATUS_COLORS.get(status, 'gray')}-badge[{status}]"


@dataclass
class RunView:
    """What a run's stream has told so far: node executions (by execution id, in the order
    they started, in the shape of the node-executions API), streamed text, and the end."""

    run_id: str | None = None
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])
    text: str = ""
    finished: dict[str, Any] | None = None
    error: str | None = None
    paused: bool = False

    @property
    def started(self) -> bool:
        """Whether the run began (a refused request never does)."""
        return self.run_id is not None

    def apply(self, payload: dict[str, Any]) -> bool:
        """Take one SSE payload in; True when a node's or the run's status changed."""
        name = str(payload.get("event"))
        data: dict[str, Any] = payload.get("data") or {}
        self.run_id = self.run_id or payload.get("workflow_run_id")
        if name == "text_chunk":
            self.text += str(data.get("text", ""))
            return False
        if name in ("node_started", "iteration_started", "loop_started"):
            self.nodes[str(data.get("id"))] = {**data, "status": "running"}
        elif name in ("node_finished", "node_retry") or (
            name.startswith(_CONTAINER_EVENTS) and name.endswith("_completed")
        ):
            known = self.nodes.setdefault(str(data.get("id")), {})
            known.update(data)
            known.setdefault("status", "succeeded")
        elif name == "workflow_finished":
            self.finished = data
        elif name == "workflow_paused":
            self.paused = True
        elif name == "error":
            self.error = str(payload.get("message") or "the run's stream failed")
        else:
            return False
        return True

    def statuses(self) -> dict[str, str]:
        """Each graph node's latest status."""
        return {str(n.get("node_id")): str(n.get("status")) for n in self.nodes.values()}


def tokens_of(node: dict[str, Any]) -> int:
    """A node's model tokens (0 for nodes that call no model)."""
    metadata: dict[str, Any] = node.get("execution_metadata") or {}
    tokens: Any = metadata.get("total_tokens") or node.get("total_tokens") or 0
    return int(tokens) if isinstance(tokens, int | float) else 0


def node_line(node: dict[str, Any]) -> str:
    """One line: status badge, title, type, time and tokens."""
    parts = [badge(str(node.get("status"))), f"**{node.get('title') or node.get('node_id')}**"]
    parts.append(f"`{node.get('node_type', '')}`")
    if node.get("elapsed_time") is not None:
        parts.append(f"{float(node['elapsed_time']):.3f} s")
    if tokens_of(node):
        parts.append(f"{tokens_of(node)} tokens")
    return " · ".join(parts)


def node_details(node: dict[str, Any]) -> None:
    """An expander with the node's inputs, processing data, outputs and error."""
    title = node.get("title") or node.get("node_id")
    elapsed = float(node.get("elapsed_time") or 0.0)
    label = f"{title} · {node.get('status')} · {elapsed:.3f} s · {tokens_of(node)} tokens"
    with st.expander(label):
        if node.get("error"):
            st.error(str(node["error"]))
        for part in ("inputs", "process_data", "outputs"):
            value: Any = node.get(part)
            if value:
                st.markdown(f"**{part.replace('_', ' ').capitalize()}**")
                st.json(value, expanded=2)
        metadata: Any = node.get("execution_metadata")
        if metadata:
            st.caption(f"execution metadata: {metadata}")


def run_summary(finished: dict[str, Any] | None, error: str | None, *, paused: bool) -> None:
    """The run's end: status, time, tokens and steps; or its error."""
    if error is not None and finished is None:
        st.error(f"The run's stream failed: {error}")
        return
    if paused:
        st.warning("Run paused: it waits for a human-input form (answer it in the Inbox).")
        return
    if finished is None:
        st.warning("The stream ended before the run finished: see it on the Runs page.")
        return
    status = str(finished.get("status"))
    line = (
        f"Run {status} in {float(finished.get('elapsed_time') or 0):.2f} s · "
        f"{finished.get('total_tokens', 0)} tokens · {finished.get('total_steps', 0)} steps"
    )
    if status == "succeeded":
        st.success(line)
    elif status == "failed":
        st.error(f"{line}: {finished.get('error')}")
    else:
        st.warning(f"{line}" + (f": {finished['error']}" if finished.get("error") else ""))


def status_canvas(graph: dict[str, Any], statuses: dict[str, str], key: str) -> None:
    """The graph, read-only, its nodes coloured by status (streamlit-flow)."""
    nodes, edges = dicts(graph.get("nodes")), dicts(graph.get("edges"))
    where = {str(n.get("id")): _position(n) for n in nodes}
    sources = {str(e.get("source")) for e in edges}
    targets = {str(e.get("target")) for e in edges}
    flow_nodes: list[Any] = []
    for node in nodes:
        node_id = str(node.get("id"))
        data = data_of(node)
        status = statuses.get(node_id, "pending")
        fill, border = CANVAS_COLORS.get(status, CANVAS_COLORS["pending"])
        x, y = where[node_id]
        parent = where.get(str(node.get("parentId")))
        if parent is not None:  # inside an iteration or loop: its position is relative
            x, y = x + parent[0], y + parent[1]
        kind = (
            "input" if node_id not in targets else "output" if node_id not in sources else "default"
        )
        style = {"background": fill, "border": f"2px solid {border}", "borderRadius": "8px"}
        flow_nodes.append(
            StreamlitFlowNode(
                node_id,
                (x, y),
                {"content": f"**{data.get('title') or node_id}**\n\n{status}"},
                node_type=kind,
                source_position="right",
                target_position="left",
                draggable=False,
                style={**style, "fontSize": "12px", "padding": "4px 10px"},
            )
        )
    flow_edges = [
        StreamlitFlowEdge(
            str(e.get("id") or f"{e.get('source')}-{e.get('target')}"),
            str(e.get("source")),
            str(e.get("target")),
            animated=statuses.get(str(e.get("target"))) == "running",
        )
        for e in edges
    ]
    # The same timestamp on every rerun: a newer one makes the canvas redraw and report back,
    # which reruns the script: a loop.
    stamps: dict[str, int] = st.session_state.setdefault(_CANVAS_STAMPS_KEY, {})
    stamp = stamps.setdefault(key, int(time.time() * 1000))
    state = StreamlitFlowState(flow_nodes, flow_edges, timestamp=stamp)
    streamlit_flow(key, state, height=260, fit_view=True, show_controls=False, hide_watermark=True)


def _position(node: dict[str, Any]) -> tuple[float, float]:
    position = cast(dict[str, Any], node.get("position") or {})
    return float(position.get("x") or 0), float(position.get("y") or 0)


def live_graph(graph: dict[str, Any], statuses: dict[str, str]) -> None:
    """The graph coloured by status, drawn at the nodes' positions as plain HTML.

    A streamlit-flow canvas cannot be drawn while a run streams: each newly drawn canvas
    reports its state back, which makes Streamlit stop the script (and the stream it reads) to
    rerun it. HTML reports nothing, so it can be redrawn on every event."""
    if dicts(graph.get("nodes")):
        st.html(graph_html(graph, statuses))


def graph_html(graph: dict[str, Any], statuses: dict[str, str]) -> str:
    """The HTML of ``live_graph``: each node a box (``data-node-id``, ``data-status``) in its
    status's colours, each edge a line, scaled down to fit."""
    nodes = dicts(graph.get("nodes"))
    boxes = _boxes(nodes)
    left = min(x for x, _, _, _ in boxes.values()) - 16
    top = min(y for _, y, _, _ in boxes.values()) - 16
    width = max(x + w for x, _, w, _ in boxes.values()) - left + 16
    height = max(y + h for _, y, _, h in boxes.values()) - top + 16
    scale = min(1.0, _LIVE_MAX[0] / width, _LIVE_MAX[1] / height)
    moved = {k: (x - left, y - top, w, h) for k, (x, y, w, h) in boxes.items()}
    # Iterations and loops first: their children are drawn on top of them.
    containers = [n for n in nodes if data_of(n).get("type") in ("iteration", "loop")]
    others = [n for n in nodes if n not in containers]
    parts = [_box_html(n, moved, statuses) for n in containers]
    for edge in dicts(graph.get("edges")):
        source, target = moved.get(str(edge.get("source"))), moved.get(str(edge.get("target")))
        if source and target:
            parts.append(_edge_html(source, target, statuses.get(str(edge.get("target")))))
    parts += [_box_html(n, moved, statuses) for n in others]
    inner = (
        f'<div style="position:relative;width:{width:.0f}px;height:{height:.0f}px;'
        f'transform:scale({scale:.4f});transform-origin:0 0">{"".join(parts)}</div>'
    )
    return (
        f'<div class="tideflow-live-graph" style="width:{width * scale:.0f}px;'
        f'height:{height * scale:.0f}px;max-width:100%;overflow:hidden">{inner}</div>'
    )


def _boxes(nodes: list[dict[str, Any]]) -> dict[str, tuple[float, float, float, float]]:
    """Each node's (x, y, width, height), positions made absolute (children of an iteration
    or loop sit relative to it)."""
    by_id = {str(n.get("id")): n for n in nodes}
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for node_id, node in by_id.items():
        x, y = _position(node)
        parent, depth = by_id.get(str(node.get("parentId"))), 0
        while parent is not None and depth < 8:
            px, py = _position(parent)
            x, y, depth = x + px, y + py, depth + 1
            parent = by_id.get(str(parent.get("parentId")))
        boxes[node_id] = (x, y, _size(node, "width", _BOX[0]), _size(node, "height", _BOX[1]))
    return boxes


def _size(node: dict[str, Any], name: str, default: float) -> float:
    value: Any = node.get(name)
    return float(value) if isinstance(value, int | float) and value > 0 else default


def _box_html(
    node: dict[str, Any],
    boxes: dict[str, tuple[float, float, float, float]],
    statuses: dict[str, str],
) -> str:
    node_id = str(node.get("id"))
    x, y, w, h = boxes[node_id]
    status = str(statuses.get(node_id, "pending"))
    fill, border = CANVAS_COLORS.get(status, CANVAS_COLORS["pending"])
    title = html.escape(str(data_of(node).get("title") or node_id))
    line = "white-space:nowrap;overflow:hidden;text-overflow:ellipsis"
    return (
        f'<div data-node-id="{html.escape(node_id)}" data-status="{html.escape(status)}" '
        f'title="{title} · {html.escape(status)}" style="position:absolute;left:{x:.0f}px;'
        f"top:{y:.0f}px;width:{w:.0f}px;height:{h:.0f}px;box-sizing:border-box;"
        f"background:{fill};border:2px solid {border};border-radius:8px;padding:4px 10px;"
        f'font-size:13px;line-height:1.35;color:#0f172a;overflow:hidden">'
        f'<div style="font-weight:600;{line}">{title}</div>'
        f'<div style="{line}">{html.escape(status)}</div></div>'
    )


def _edge_html(
    source: tuple[float, float, float, float],
    target: tuple[float, float, float, float],
    target_status: str | None,
) -> str:
    """A line from the source's right side to the target's left side, with an arrowhead."""
    x1, y1 = source[0] + source[2], source[1] + source[3] / 2
    x2, y2 = target[0], target[1] + target[3] / 2
    length, angle = math.hypot(x2 - x1, y2 - y1), math.degrees(math.atan2(y2 - y1, x2 - x1))
    running = target_status == "running"
    color, dash = ("#2563eb", "dashed") if running else ("#94a3b8", "solid")
    turn = f"transform:rotate({angle:.2f}deg)"
    return (
        f'<div style="position:absolute;left:{x1:.0f}px;top:{y1 - 1:.0f}px;width:{length:.0f}px;'
        f'height:0;border-top:2px {dash} {color};{turn};transform-origin:0 50%"></div>'
        f'<div style="position:absolute;left:{x2 - 8:.0f}px;top:{y2 - 5:.0f}px;width:0;height:0;'
        f"border-left:8px solid {color};border-top:5px solid transparent;"
        f'border-bottom:5px solid transparent;{turn};transform-origin:100% 50%"></div>'
    )
