"""Variable pickers: what a node may read (the outputs of the nodes upstream of it, its
container's item, system, environment and conversation variables) as Dify's
``{{#node.output#}}`` references and ``[node, output]`` selectors."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

import streamlit as st

from tideflow.console.node_types import Data, output_names

_SYS_WORKFLOW = ("user_id", "app_id", "workflow_id", "workflow_run_id", "timestamp", "files")
_SYS_CHAT = ("query", "conversation_id", "dialogue_count")
_REFERENCE = re.compile(
    r"^\s*(?:\{\{#)?\s*([A-Za-z0-9_-]{1,50}(?:\.[A-Za-z0-9_]{1,30}){1,10})\s*(?:#\}\})?\s*$"
)


@dataclass(frozen=True)
class Variable:
    """One readable variable: its selector and how the picker names it."""

    selector: tuple[str, ...]
    label: str

    @property
    def reference(self) -> str:
        """Dify's template reference, ``{{#node.output#}}``."""
        return reference(list(self.selector))


def reference(selector: list[str]) -> str:
    """``["n1", "text"]`` as ``{{#n1.text#}}``."""
    return "{{#" + ".".join(selector) + "#}}"


def parse_reference(text: str) -> list[str] | None:
    """A selector from ``{{#node.var#}}`` or ``node.var`` typed by hand; None otherwise."""
    match = _REFERENCE.match(text)
    return match.group(1).split(".") if match else None


def nodes_by_id(graph: Data) -> dict[str, Data]:
    """The graph's node entries by id."""
    nodes = cast(list[Data], graph.get("nodes") or [])
    return {str(n.get("id")): n for n in nodes}


def node_data(node: Data) -> Data:
    """A node entry's ``data`` block."""
    data = node.get("data")
    return cast(Data, data) if isinstance(data, dict) else {}


def node_label(node: Data, node_id: str) -> str:
    """A node as a select box lists it: its title and its id. Titles repeat, and Streamlit
    keeps a selection by its label, so a label without the id could pick another node."""
    title = node_data(node).get("title")
    return f"{title} · {node_id}" if title else node_id


def upstream(graph: Data, node_id: str) -> list[str]:
    """The ids of the nodes whose outputs ``node_id`` may read, nearest first: those with a
    path to it, and for a node inside an iteration or loop, the container and what precedes it."""
    nodes = nodes_by_id(graph)
    sources: dict[str, list[str]] = {}
    for edge in cast(list[Data], graph.get("edges") or []):
        sources.setdefault(str(edge.get("target")), []).append(str(edge.get("source")))
    found: list[str] = []
    current: str | None = node_id
    walked: set[str] = set()
    while current is not None and current not in walked:
        walked.add(current)
        queue = deque([current])
        seen = {current}
        while queue:
            for source in sources.get(queue.popleft(), []):
                if source not in seen and source in nodes:
                    seen.add(source)
                    found.append(source)
                    queue.append(source)
        parent = nodes.get(current, {}).get("parentId")
        current = str(parent) if parent and str(parent) in nodes else None
        if current is not None:
            found.append(current)
    return [n for n in dict.fromkeys(found) if n != node_id]


def _container_variables(container: Data) -> list[str]:
    data = node_data(container)
    if data.get("type") == "iteration":
        return ["item", "index"]
    if data.get("type") == "loop":
        loop_vars = cast(list[Any], data.get("loop_variables") or [])
        return [str(cast(Data, v).get("label")) for v in loop_vars if isinstance(v, dict)]
    return []


def readable(
    graph: Data, node_id: str, mode: str, env: list[Data], chat: list[Data]
) -> list[Variable]:
    """Every variable ``node_id`` may read: upstream outputs, then sys, env and conversation."""
    nodes = nodes_by_id(graph)
    containers = _containers_of(nodes, node_id)
    found: list[Variable] = []
    for source in upstream(graph, node_id):
        node = nodes[source]
        data = node_data(node)
        title = str(data.get("title") or source)
        names = _container_variables(node) if source in containers else output_names(data)
        for name in names:
            found.append(Variable((source, *name.split(".")), f"{title} · {name}"))
    system = _SYS_WORKFLOW + (_SYS_CHAT if mode == "advanced-chat" else ())
    found += [Variable(("sys", n), f"System · {n}") for n in system]
    found += [Variable(("env", str(v.get("name"))), f"Environment · {v.get('name')}") for v in env]
    found += [
        Variable(("conversation", str(v.get("name"))), f"Conversation · {v.get('name')}")
        for v in chat
    ]
    return found


def _containers_of(nodes: dict[str, Data], node_id: str) -> set[str]:
    found: set[str] = set()
    parent = nodes.get(node_id, {}).get("parentId")
    while parent and str(parent) in nodes and str(parent) not in found:
        found.add(str(parent))
        parent = nodes[str(parent)].get("parentId")
    return found


def selector_picker(label: str, options: list[Variable], current: Any, key: str) -> list[str]:
    """A select box of the readable variables; returns the chosen selector (``[]`` for none).

    A selector that is not readable here stays listed, marked, so a broken reference shows;
    a reference can also be typed (``{{#node.var#}}`` or ``node.var``).
    """
    labels = {v.reference: v.label for v in options}
    chosen = [str(s) for s in cast(list[Any], current)] if isinstance(current, list) else []
    refs = list(labels)
    if chosen and reference(chosen) not in labels:
        refs.insert(0, reference(chosen))
        labels[reference(chosen)] = f"⚠ {'.'.join(chosen)} (not readable here)"
    picked = st.selectbox(
        label,
        refs,
        index=refs.index(reference(chosen)) if chosen else None,
        format_func=lambda ref: f"{labels.get(ref, ref)}   {ref}",
        placeholder="Choose a variable",
        accept_new_options=True,
        key=key,
    )
    if picked is None:
        return []
    known = {v.reference: list(v.selector) for v in options}
    selector = known.get(str(picked)) or (chosen if picked == reference(chosen) else None)
    selector = selector or parse_reference(str(picked))
    if selector is None:
        st.error(f"{label}: {picked!r} is not a variable reference like {{{{#node.output#}}}}")
        return chosen
    return selector


def insert_picker(options: list[Variable], key: str) -> str | None:
    """A select box and an Insert button; the chosen ``{{#node.var#}}`` when clicked."""
    pick, button = st.columns([2, 1], vertical_alignment="bottom")
    with pick:
        ref = st.selectbox(
            "Insert variable",
            [v.reference for v in options],
            index=None,
            format_func=lambda r: next(
                (f"{v.label}   {r}" for v in options if v.reference == r), r
            ),
            placeholder="Choose a variable to insert",
            key=f"{key}:pick",
        )
    with button:
        clicked = st.button("Insert", key=f"{key}:insert", disabled=ref is None)
    return str(ref) if clicked and ref else None
