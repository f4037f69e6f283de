"""Pieces the node forms share: lists of rows with Add and Remove, variable mappings
(``{variable, value_selector}``), and a node's outgoing edges with their branches."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import streamlit as st

from tideflow.console.graph_canvas import new_edge
from tideflow.console.node_types import Data
from tideflow.console.variables import (
    insert_picker,
    node_data,
    node_label,
    nodes_by_id,
    selector_picker,
)

if TYPE_CHECKING:
    from tideflow.console.node_forms import NodeForm

_BRANCH_NAMES = {"source": "next", "false": "ELSE", "true": "IF", "fail-branch": "on failure"}


def put(target: Data, name: str, value: Any, default: Any = None) -> None:
    """Set ``target[name]`` only when the value differs (viewing a form changes nothing)."""
    if target.get(name, default) != value:
        target[name] = value


def rows(
    form: NodeForm,
    name: str,
    row: Callable[[Data, str], None],
    new_item: Callable[[], Data],
) -> None:
    """``data[name]`` (a list of objects) as bordered rows, each with a Remove button, then an
    Add button."""
    value = form.data.get(name)
    if value is None:
        value = []  # stored when the first row is added: viewing changes nothing
    if not isinstance(value, list):
        st.error(f"{form.title}: {name} should be a list (it is {type(value).__name__})")
        return
    items = cast(list[Any], value)
    for index, item in enumerate(items):
        if isinstance(item, dict):
            _row(form, items, cast(Data, item), row, f"{form.key}:{name}{index}")
    if st.button("Add", key=f"{form.key}:{name}:add", help=f"Add to {name}"):
        form.later(lambda: form.data.setdefault(name, items).append(new_item()))


def _row(
    form: NodeForm, items: list[Any], item: Data, row: Callable[[Data, str], None], key: str
) -> None:
    with st.container(border=True):
        row(item, key)
        if st.button("Remove", key=f"{key}:remove"):
            form.later(lambda: items.remove(item))


def mapping_rows(form: NodeForm, name: str, what: str, extra: Data | None = None) -> None:
    """Rows of ``{variable, value_selector}``: a name and a picker of readable variables."""

    def row(item: Data, key: str) -> None:
        left, right = st.columns([2, 3])
        with left:
            name = st.text_input(what, str(item.get("variable") or ""), key=f"{key}:name")
            put(item, "variable", name, "")
        with right:
            picked = selector_picker(
                "Value", form.variables, item.get("value_selector"), f"{key}:sel"
            )
        put(item, "value_selector", picked, [])

    rows(form, name, row, lambda: {"variable": "", "value_selector": [], **(extra or {})})


def text_field(
    form: NodeForm,
    name: str,
    label: str,
    *,
    insert: bool = True,
    single_line: bool = False,
    height: int | None = None,
) -> None:
    """``data[name]`` as a text box, with an Insert variable picker unless ``insert=False``."""
    data, key = form.data, f"{form.key}:{name}"
    value = str(data.get(name) or "")
    if single_line:
        put(data, name, st.text_input(label, value, key=key), "")
    else:
        put(data, name, st.text_area(label, value, height=height, key=key), "")
    if insert:
        ref = insert_picker(form.variables, key)
        if ref:
            form.later(lambda: data.update({name: str(data.get(name) or "") + ref}))


def selector_field(form: NodeForm, name: str, label: str) -> None:
    """``data[name]`` (a selector) as a picker of the variables the node may read."""
    picked = selector_picker(label, form.variables, form.data.get(name), f"{form.key}:{name}")
    put(form.data, name, picked, [])


def model_fields(form: NodeForm) -> None:
    """The model's provider (known ones offered, any typed) and name; ``data["model"]`` is
    stored only once one of them is set."""
    data = form.data
    found = data.get("model")
    model = cast(Data, found) if isinstance(found, dict) else {"mode": "chat"}
    provider, name = st.columns(2)
    current = str(model.get("provider") or "")
    options = list(dict.fromkeys([*form.providers, *([current] if current else [])]))
    with provider:
        chosen = st.selectbox(
            "Model provider",
            options,
            options.index(current) if current else None,
            accept_new_options=True,
            placeholder="Choose a provider",
            key=f"{form.key}:provider",
        )
    put(model, "provider", chosen or "", "")
    model_name = name.text_input("Model", str(model.get("name") or ""), key=f"{form.key}:model")
    put(model, "name", model_name, "")
    if model is not found and (model.get("provider") or model.get("name")):
        data["model"] = {**model, "completion_params": {}}


def branches(data: Data) -> list[str]:
    """The source handles a node's edges may leave from."""
    kind = data.get("type")
    if kind == "if-else":
        cases = cast(list[Any], data.get("cases") or [])
        ids = [str(cast(Data, c).get("case_id")) for c in cases if isinstance(c, dict)]
        handles = [*ids, "false"]
    elif kind == "question-classifier":
        classes = cast(list[Any], data.get("classes") or [])
        handles = [str(cast(Data, c).get("id")) for c in classes if isinstance(c, dict)]
    elif kind == "human-input":  # one branch per action, and one for a timeout
        actions = cast(list[Any], data.get("user_actions") or [])
        handles = [str(cast(Data, a).get("id")) for a in actions if isinstance(a, dict)]
        handles.append("__timeout")
    else:
        handles = ["source"]
    if data.get("error_strategy") == "fail-branch":
        handles.append("fail-branch")
    return handles


def edges_section(
    graph: Data, node: Data, key: str, later: Callable[[Callable[[], None]], None]
) -> None:
    """The node's next nodes: the branch each edge leaves from, Remove, and Connect."""
    nodes = nodes_by_id(graph)
    node_id = str(node.get("id"))
    data = node_data(node)
    handles = branches(data)
    edges = cast(list[Data], graph.setdefault("edges", []))
    outgoing = [e for e in edges if str(e.get("source")) == node_id]
    if data.get("type") == "end" and not outgoing:
        return
    st.markdown("**Next nodes**")
    names = _handle_names(data)
    for index, edge in enumerate(outgoing):
        target = node_data(nodes.get(str(edge.get("target")), {}))
        title = str(target.get("title") or edge.get("target"))
        handle = str(edge.get("sourceHandle") or "source")
        options = list(dict.fromkeys([*handles, handle]))
        left, right, remove = st.columns([3, 3, 1], vertical_alignment="bottom")
        left.markdown(f"→ **{title}**")
        if len(options) > 1:
            picked = right.selectbox(
                "Branch",
                options,
                options.index(handle),
                format_func=lambda h: str(names.get(str(h), h)),
                key=f"{key}:edge{index}:branch",
            )
            put(edge, "sourceHandle", picked, "source")
        if remove.button("✕", key=f"{key}:edge{index}:remove", help=f"Disconnect {title}"):
            later(lambda edge=edge: edges.remove(edge))
    others = [
        n for n in nodes if n != node_id and n not in {str(e.get("target")) for e in outgoing}
    ]
    pick, button = st.columns([2, 1], vertical_alignment="bottom")
    target = pick.selectbox(
        "Connect to",
        others,
        index=None,
        format_func=lambda n: node_label(nodes[n], n),
        placeholder="Choose a node to connect to",
        key=f"{key}:connect",
    )
    if button.button("Connect", key=f"{key}:connect-go", disabled=target is None) and target:
        if not handles:  # a question classifier without classes has no branch to leave from
            who = data.get("title") or node_id
            st.error(f"{who}: Connect needs a branch: classes is empty, add a class first")
            return
        later(lambda: edges.append(new_edge(nodes, node_id, str(target), handles[0])))


def _handle_names(data: Data) -> dict[str, str]:
    names = dict(_BRANCH_NAMES)
    for cls in cast(list[Any], data.get("classes") or []):
        if isinstance(cls, dict):
            entry = cast(Data, cls)
            names[str(entry.get("id"))] = f"class {entry.get('name') or entry.get('id')}"
    for action in cast(list[Any], data.get("user_actions") or []):
        if isinstance(action, dict):
            entry = cast(Data, action)
            names[str(entry.get("id"))] = f"action {entry.get('title') or entry.get('id')}"
    names.setdefault("__timeout", "timeout")
    for case in cast(list[Any], data.get("cases") or []):
        if isinstance(case, dict):
            case_id = str(cast(Data, case).get("case_id"))
            names.setdefault(case_id, f"case {case_id}")
    return names
