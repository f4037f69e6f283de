"""The draft's Run panel (the editor's Run tab, and the Runs page): an inputs form built from the
Start node's variables, optional pins, and the run streamed live from the API's SSE: the graph
and the node lines coloured by status as nodes start and finish, streamed text as it arrives,
then each node's inputs, outputs, time and tokens, the run's outputs or error, and the graph on
the interactive canvas coloured by status.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any, cast

import streamlit as st

from tideflow.console.api_client import ConsoleApiError
from tideflow.console.common import api, attempt
from tideflow.console.run_view import (
    RunView,
    data_of,
    dicts,
    live_graph,
    node_details,
    node_line,
    run_summary,
    status_canvas,
)

# Session state: the last run's view, per app.
RESULTS_KEY = "tideflow_run_panel"
# How often the live view is redrawn while text streams (node events redraw at once).
_REDRAW_S = 0.15
TEXT_TYPES = frozenset({"text-input", "string", "external_data_tool"})
JSON_TYPES = frozenset({"json_object", "file", "file-list"})


def graph_of(draft: dict[str, Any] | None) -> dict[str, Any]:
    """The graph (``nodes``/``edges``) of a draft mapping or of a graph itself."""
    if not draft:
        return {"nodes": [], "edges": []}
    inner: Any = draft.get("graph")
    return cast(dict[str, Any], inner) if isinstance(inner, dict) else draft


def start_variables(graph: dict[str, Any]) -> list[dict[str, Any]]:
    """The Start node's input variables (none without a Start node)."""
    for node in dicts(graph.get("nodes")):
        data = data_of(node)
        if data.get("type") == "start":
            return dicts(data.get("variables"))
    return []


def render_run_panel(app: dict[str, Any], graph: dict[str, Any] | None) -> None:
    """The inputs form and the draft's last (or live) run. ``graph`` is the editor's current
    graph (or a draft mapping holding it); None reads the saved draft from the API. The run
    itself always runs the saved draft."""
    app_id = str(app["id"])
    if app.get("mode") not in (None, "workflow"):
        st.info("The run panel runs workflow apps; try a chatflow from its chat preview.")
        return
    if graph is None:
        draft = attempt(lambda: api().get(f"/console/api/apps/{app_id}/workflows/draft"), "draft")
        if draft is None:
            return
        graph = cast(dict[str, Any], draft)
    graph = graph_of(graph)
    body = _form(app_id, graph)
    # Above the live view: a refusal shown there is cleared as soon as the next run starts.
    notice, live = st.empty(), st.empty()
    results: dict[str, RunView] = st.session_state.setdefault(RESULTS_KEY, {})
    if body is not None:
        view = RunView()
        path = f"/console/api/apps/{app_id}/workflows/draft/run"
        try:
            _consume(api().stream(path, body), view, live, graph)
        except ConsoleApiError as exc:
            # Drawn once the request has ended: a container filled while the stream runs
            # would keep the previous run's notice on screen until the script ends.
            with notice.container():
                attempt(functools.partial(_refuse, exc), "run")
        if view.started:
            results[app_id] = view
    shown = results.get(app_id)
    if shown is not None:
        with live.container():
            _result(shown, graph, app_id)


def _refuse(exc: ConsoleApiError) -> None:
    """Re-raise ``exc`` for ``attempt`` to show (message and per-node problems)."""
    raise exc


def _form(app_id: str, graph: dict[str, Any]) -> dict[str, Any] | None:
    """The draft run's request body once Run is pressed and every field reads (else None)."""
    key = f"run-panel-{app_id}"
    variables = start_variables(graph)
    pinnable = [n for n in dicts(graph.get("nodes")) if data_of(n).get("type") != "start"]
    with st.form(key):
        st.markdown("**Inputs**")
        if not variables:
            st.caption("The Start node asks for no inputs.")
        raw = {str(v.get("variable")): _input(v, f"{key}-input") for v in variables}
        with st.expander("Pins: fixed outputs for nodes (JSON objects)"):
            pins_raw = {
                str(n["id"]): st.text_area(
                    f"Pin {data_of(n).get('title') or n['id']}",
                    key=f"{key}-pin-{n['id']}",
                    placeholder='{"text": "a fixed answer"}',
                    height=68,
                )
                for n in pinnable
            }
        mock = st.checkbox("Mock external calls (HTTP, tools)", key=f"{key}-mock")
        if not st.form_submit_button("Run", type="primary"):
            return None
    problems: list[str] = []
    inputs = _inputs(variables, raw, problems)
    pins = _pins(pinnable, pins_raw, problems)
    for problem in problems:
        st.error(problem)
    if problems:
        return None
    return {"inputs": inputs, "pins": pins, "mock_external": mock, "response_mode": "streaming"}


def _input(var: dict[str, Any], key: str) -> Any:
    """The widget of one Start variable, by its type."""
    name = str(var.get("variable"))
    kind = str(var.get("type") or "text-input")
    label = str(var.get("label") or name)
    default: Any = var.get("default")
    helptext = f"`{name}` ({kind}{', required' if var.get('required') else ''})"
    key = f"{key}-{name}"
    if kind == "paragraph":
        return st.text_area(label, value=str(default or ""), key=key, help=helptext)
    if kind == "select":
        listed: Any = var.get("options")
        options = [str(o) for o in cast(list[Any], listed or [])]
        index = (
            options.index(str(default)) if default is not None and str(default) in options else None
        )
        return st.selectbox(label, options, index=index, key=key, help=helptext)
    if kind == "number":
        number = float(default) if isinstance(default, int | float) else None
        return st.number_input(label, value=number, key=key, help=helptext)
    if kind == "checkbox":
        return st.checkbox(label, value=bool(default), key=key, help=helptext)
    if kind in JSON_TYPES:
        text = json.dumps(default) if default not in (None, "") else ""
        return st.text_area(label, value=text, key=key, help=f"{helptext}: JSON")
    max_chars = var.get("max_length")
    return st.text_input(
        label,
        value=str(default or ""),
        key=key,
        help=helptext,
        max_chars=max_chars if isinstance(max_chars, int) and max_chars > 0 else None,
    )


def _inputs(
    variables: list[dict[str, Any]], raw: dict[str, Any], problems: list[str]
) -> dict[str, Any]:
    """The inputs to send: empty fields left out (the API names a missing required one)."""
    inputs: dict[str, Any] = {}
    for var in variables:
        name, kind = str(var.get("variable")), str(var.get("type") or "text-input")
        value = raw.get(name)
        if value is None or value == "":
            continue
        if kind in JSON_TYPES:
            try:
                value = json.loads(str(value))
            except json.JSONDecodeError as exc:
                problems.append(f"input {name}: not valid JSON ({exc.msg} at line {exc.lineno})")
                continue
        elif kind == "number" and isinstance(value, float) and value.is_integer():
            value = int(value)
        inputs[name] = value
    return inputs


def _pins(nodes: list[dict[str, Any]], raw: dict[str, str], problems: list[str]) -> dict[str, Any]:
    """The pinned outputs by node id: each a JSON object."""
    pins: dict[str, Any] = {}
    titles = {str(n["id"]): str(data_of(n).get("title") or n["id"]) for n in nodes}
    for node_id, text in raw.items():
        if not text.strip():
            continue
        where = f"pin of {titles[node_id]} ({node_id})"
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})")
            continue
        if not isinstance(value, dict):
            problems.append(f"{where}: must be a JSON object of the node's outputs")
            continue
        pins[node_id] = value
    return pins


def _consume(events: Any, view: RunView, live: Any, graph: dict[str, Any]) -> None:
    """Apply each streamed event to ``view``, redrawing the live view as it changes."""
    drawn = 0.0
    for payload in events:
        structural = view.apply(cast(dict[str, Any], payload))
        now = time.monotonic()
        if structural or now - drawn >= _REDRAW_S:
            with live.container():
                _live(view, graph)
            drawn = now
    with live.container():
        _live(view, graph)


def _live(view: RunView, graph: dict[str, Any]) -> None:
    """The run as it streams. The graph is HTML here, not the canvas: a canvas drawn now would
    make Streamlit rerun the script, cutting the stream off (see ``live_graph``)."""
    st.markdown(f"**Running** · run `{view.run_id or '…'}`")
    live_graph(graph, view.statuses())
    for node in view.nodes.values():
        st.markdown(node_line(node))
    if view.text:
        st.markdown("**Streamed text**")
        st.markdown(view.text)


def _result(view: RunView, graph: dict[str, Any], app_id: str) -> None:
    run_summary(view.finished, view.error, paused=view.paused)
    if graph.get("nodes"):
        status_canvas(graph, view.statuses(), key=f"run-panel-canvas-{app_id}-{view.run_id}")
    st.markdown("**Nodes**")
    for node in view.nodes.values():
        st.markdown(node_line(node))
    if view.text:
        st.markdown("**Streamed text**")
        st.markdown(view.text)
    outputs: Any = (view.finished or {}).get("outputs")
    if outputs:
        st.markdown("**Outputs**")
        st.json(outputs)
    st.markdown("**Node details**")
    for node in view.nodes.values():
        node_details(node)
