"""Editor: an app's draft graph on a canvas (Dify's workflow editor). Add, connect, move and
delete nodes; the selected node's form; save the draft (its problems shown on their nodes),
publish, and restore a published version."""

from __future__ import annotations

import time
from typing import Any, cast

import streamlit as st
from streamlit_flow import (  # pyright: ignore[reportMissingTypeStubs]
    streamlit_flow,  # pyright: ignore[reportUnknownVariableType]
)

from tideflow.console.common import selected_app
from tideflow.console.draft_editor import Editor, act, load, providers, restore
from tideflow.console.graph_canvas import (
    add_node,
    delete_node,
    flow_state,
    flow_view,
    merge_report,
    plain,
    signature,
)
from tideflow.console.node_forms import NodeForm, render_form
from tideflow.console.node_types import DEFAULTS, Data, label
from tideflow.console.run_panel import render_run_panel
from tideflow.console.variables import node_data, node_label, nodes_by_id, readable

GRAPH_MODES = ("workflow", "advanced-chat")


def render() -> None:
    """The selected app's draft on the canvas, the selected node's form, and the versions."""
    st.title("Editor")
    app = selected_app("App")
    if app is None:
        return
    if app["mode"] not in GRAPH_MODES:
        st.info(
            f"{app['name']} is a {app['mode']} app: only workflow and chatflow apps have a graph."
        )
        return
    editor = _editor(app)
    if editor is None:
        return
    notices = st.container()
    save, publish, reload, state = st.columns([1, 1, 1, 3], vertical_alignment="center")
    key = _key(editor)
    clicked = {
        "save": save.button("Save draft", type="primary", key=f"{key}:save"),
        "publish": publish.button("Publish", key=f"{key}:publish"),
        "reload": reload.button(
            "Reload draft", help="Discard unsaved changes", key=f"{key}:reload"
        ),
    }
    problems = st.container()
    canvas, side = st.columns([3, 2])
    with canvas:
        _add_node(editor)
        _canvas(editor)
    with side:
        _node_form(editor)
    act(editor, clicked)
    # Filled last: the canvas and the form have changed the graph by now.
    state.caption("Unsaved changes" if editor.dirty() else "Draft saved")
    with notices:
        if editor.notice:
            kind, text = editor.notice
            {"error": st.error, "warning": st.warning}.get(kind, st.success)(text)
    with problems:
        _problem_list(editor)
    _versions(editor)
    if app["mode"] == "workflow":
        with st.expander("Run the draft", icon=":material/play_arrow:"):
            if editor.dirty():
                st.caption("The run uses the draft as last saved, without the edits above.")
            render_run_panel(app, editor.graph)
    if signature(flow_view(editor.graph, editor.problems)) != editor.shown:
        st.rerun()  # a title or a problem changed what the canvas shows


def _editor(app: Data) -> Editor | None:
    key = f"editor:{app['id']}"
    editor = cast(Editor | None, st.session_state.get(key))
    if editor is None:
        editor = Editor(str(app["id"]), str(app["mode"]), {}, [], "")
        if not load(editor):
            return None
        st.session_state[key] = editor
    return editor


def _key(editor: Editor) -> str:
    """The start of every editor widget's key: copies of one DSL share node ids, so without
    the app's id one app's typed values would land in another's graph."""
    return f"ed:{editor.app_id}"


def _add_node(editor: Editor) -> None:
    key = _key(editor)
    kind, after, button = st.columns([2, 2, 1], vertical_alignment="bottom")
    node_type = kind.selectbox(
        "Node type", list(DEFAULTS), format_func=label, key=f"{key}:add-type"
    )
    nodes = nodes_by_id(editor.graph)
    options = list(nodes)
    anchor = after.selectbox(
        "After",
        options,
        index=options.index(editor.selected) if editor.selected in nodes else None,
        format_func=lambda n: node_label(nodes[n], n),
        placeholder="Not connected",
        key=f"{key}:add-after:{editor.rev}:{editor.selected}",
    )
    if button.button("Add node", key=f"{key}:add") and node_type:
        editor.selected = add_node(editor.graph, node_type, anchor)
        editor.rev += 1


def _canvas(editor: Editor) -> None:
    key = f"editor-canvas-{editor.app_id}"
    report: Any = st.session_state.get(key)
    if (
        isinstance(report, dict)
        and int(cast(Data, report).get("timestamp") or 0) > editor.last_report
    ):
        _take_report(editor, cast(Data, report))
    view = flow_view(editor.graph, editor.problems)
    shown = signature(view)
    if shown != editor.shown:
        # Newer than anything the canvas reported, whatever its clock says.
        editor.ts = max(int(time.time() * 1000), editor.last_report + 1)
        editor.shown = shown
        editor.shown_nodes = {str(n["id"]) for n in view[0]}
        editor.shown_edges = {str(e["id"]) for e in view[1]}
    streamlit_flow(
        key,
        flow_state(view, editor.selected, editor.ts),
        height=520,
        fit_view=True,
        style={"border": "1px solid #e4e4e7", "borderRadius": "8px"},
        allow_new_edges=True,
        get_node_on_click=True,
        enable_node_menu=True,
        enable_edge_menu=True,
        hide_watermark=True,
    )
    st.caption("Drag from a node's right handle to another node to connect; right-click to delete.")


def _take_report(editor: Editor, report: Data) -> None:
    stamp = int(report.get("timestamp") or 0)
    editor.last_report = stamp
    # The canvas has drawn our last state: never redraw it again (its clock may be behind ours).
    editor.ts = min(editor.ts, stamp - 1)
    if merge_report(editor.graph, report, editor.shown_nodes, editor.shown_edges):
        editor.rev += 1
    chosen = report.get("selectedId")
    if chosen and str(chosen) in nodes_by_id(editor.graph):
        editor.selected = str(chosen)
    if editor.selected not in nodes_by_id(editor.graph):
        editor.selected = None


def _problem_list(editor: Editor) -> None:
    if not editor.problems:
        return
    nodes = nodes_by_id(editor.graph)
    lines: list[str] = []
    for problem in editor.problems:
        node_id = str(problem.get("node_id") or "")
        known = node_id in nodes
        where = _title(nodes[node_id], node_id) if known else problem.get("title") or "graph"
        field, message = plain(problem.get("field")), plain(problem.get("message"))
        lines.append(f"- ⚠ **{plain(where)}** · {field}: {message}")
    title = f"Problems ({len(editor.problems)}, as of the last save)"
    with st.expander(title, expanded=True):
        st.markdown("\n".join(lines))


def _node_form(editor: Editor) -> None:
    nodes = nodes_by_id(editor.graph)
    if not nodes:
        st.info("The graph is empty: add a node.")
        return
    ids = list(nodes)
    picked = st.selectbox(
        "Node",
        ids,
        index=ids.index(editor.selected) if editor.selected in nodes else None,
        format_func=lambda n: node_label(nodes[n], n),
        placeholder="Click a node on the canvas",
        key=f"{_key(editor)}:node:{editor.rev}:{editor.selected}",
    )
    if picked != editor.selected:
        editor.selected = picked
        st.rerun()
    if picked is None:
        return
    node = nodes[picked]
    variables = readable(
        editor.graph,
        picked,
        editor.mode,
        cast(list[Data], editor.draft.get("environment_variables") or []),
        cast(list[Data], editor.draft.get("conversation_variables") or []),
    )
    with st.container(border=True):
        key = f"{_key(editor)}:{editor.rev}:{picked}"
        form = NodeForm(editor.graph, node, variables, key, providers())
        reshaped = render_form(form)
        if st.button("Delete node", key=f"{key}:delete"):
            delete_node(editor.graph, picked)
            editor.selected = None
            reshaped = True
    if reshaped:
        editor.rev += 1
        st.rerun()


def _versions(editor: Editor) -> None:
    st.subheader("Versions")
    if not editor.versions:
        st.caption("Not published yet.")
    for version in editor.versions:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(int(version.get("created_at") or 0)))
        text, button = st.columns([5, 1], vertical_alignment="center")
        text.markdown(
            f"**Version {version['version']}** · {when} · `{str(version['plan_hash'])[:12]}`"
        )
        if button.button("Restore", key=f"{_key(editor)}:restore:{version['id']}") and restore(
            editor, version
        ):
            st.rerun()


def _title(node: Data, node_id: str) -> str:
    return str(node_data(node).get("title") or node_id)
