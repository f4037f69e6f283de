"""Runs: the chosen app's run history (status, time, tokens, trigger), one run's detail with
its node executions and its workflow in the Temporal UI; and the draft's run panel."""

from __future__ import annotations

from typing import Any, cast

import streamlit as st

from tideflow.console.common import api, attempt, selected_app, when
from tideflow.console.run_panel import render_run_panel
from tideflow.console.run_view import badge, node_details, node_line, run_summary

STATUSES = ("all", "succeeded", "failed", "running", "paused", "stopped", "partial-succeeded")
PAGE_SIZE = 20


def render() -> None:
    """The app picker, then the run panel and the history in tabs."""
    st.title("Runs")
    app = selected_app()
    if app is None:
        return
    history, draft = st.tabs(["History", "Run the draft"])
    with draft:  # first: a run made here is in the history drawn next
        render_run_panel(app, None)
    with history:
        _history(str(app["id"]))


_COLUMNS = ("Run", "Status", "Started", "Time", "Tokens", "Steps", "Trigger", "Version")


def _table(runs: list[dict[str, Any]]) -> str:
    """The runs as a markdown table, statuses as coloured badges."""
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for r in runs:
        short = f"`{r['id'][:8]}`"
        link = r.get("temporal_ui_url")
        cells = (
            f"[{short}]({link})" if link else short,
            badge(str(r["status"])),
            when(r["created_at"]),
            f"{float(r['elapsed_time']):.3f} s",
            str(r["total_tokens"]),
            str(r["total_steps"]),
            str(r["triggered_from"]),
            str(r["version"]),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _history(app_id: str) -> None:
    status_col, page_col = st.columns([2, 1])
    status = status_col.selectbox("Status", STATUSES, key=f"runs-status-{app_id}")
    page = int(page_col.number_input("Page", min_value=1, value=1, key=f"runs-page-{app_id}"))
    listed = attempt(
        lambda: api().get(
            f"/console/api/apps/{app_id}/workflow-runs",
            page=page,
            limit=PAGE_SIZE,
            status=None if status == "all" else status,
        ),
        "runs",
    )
    if listed is None:
        return
    runs = cast(list[dict[str, Any]], listed["data"])
    if not runs:
        st.info("No runs yet: run the draft, or call the app's API.")
        return
    st.caption(f"{listed['total']} runs · page {page}")
    st.markdown(_table(runs))
    chosen = st.selectbox(
        "Run detail",
        runs,
        format_func=lambda r: f"{when(r['created_at'])} · {r['status']} · {r['id']}",
        key=f"runs-detail-{app_id}",
    )
    _detail(app_id, str(chosen["id"]))


def _detail(app_id: str, run_id: str) -> None:
    base = f"/console/api/apps/{app_id}/workflow-runs/{run_id}"
    run = attempt(lambda: api().get(base), "run")
    nodes = attempt(lambda: api().get(f"{base}/node-executions"), "node executions")
    if run is None or nodes is None:
        return
    with st.container(border=True):
        run_summary(run, None, paused=run["status"] == "paused")
        if run["status"] == "running":
            st.info("Still running: its node executions are listed once it ends.")
        link = run.get("temporal_ui_url")
        if link:
            st.link_button("Open in Temporal UI", link, icon=":material/open_in_new:")
        else:
            st.caption("No Temporal UI is configured (TIDEFLOW_TEMPORAL_UI_URL).")
        st.caption(f"Temporal workflow id: `{run['temporal_workflow_id']}`")
        inputs_col, outputs_col = st.columns(2)
        inputs_col.markdown("**Inputs**")
        inputs_col.json(run.get("inputs") or {})
        outputs_col.markdown("**Outputs**")
        outputs_col.json(run.get("outputs") or {})
        st.markdown("**Node executions**")
        executions = cast(list[dict[str, Any]], nodes["data"])
        for node in executions:
            st.markdown(node_line(node))
        for node in executions:
            node_details(node)
