"""Settings, MCP server: publish an app as an MCP server (one tool, described for the
client's model), show its secret URL, deactivate it or give it a new URL."""

from __future__ import annotations

from typing import Any

import streamlit as st

from tideflow.console.common import api, attempt, selected_app
from tideflow.console.settings_fetch import app_inputs, as_dict, flash, show_flash, succeeded


def render_mcp_server() -> None:
    """The selected app's MCP server, or the form that enables it."""
    show_flash("mcp")
    app = selected_app("App")
    if app is None:
        return
    path = f"/console/api/apps/{app['id']}/server"
    # The API answers null before the server is enabled.
    server = as_dict(attempt(lambda: api().get(path), "MCP server"))
    if server:
        _server(path, server)
    inputs = attempt(lambda: app_inputs(str(app["id"])), "the app's inputs") or []
    _describe_form(path, app, server, inputs)


def _server(path: str, server: dict[str, Any]) -> None:
    active = server.get("status") == "active"
    st.markdown(f"**Server URL** · {'active' if active else 'inactive'}")
    st.code(str(server.get("server_url")), language=None)
    st.caption("Anyone with this URL can call the app: keep it secret.")
    toggle, refresh = st.columns(2)
    if toggle.button("Deactivate" if active else "Activate", key="mcp-toggle") and succeeded(
        lambda: api().put(path, {"status": "inactive" if active else "active"}), "MCP server"
    ):
        flash("mcp", "success", "Deactivated" if active else "Activated")
        st.rerun()
    if refresh.button("New URL", key="mcp-refresh", help="The old URL stops working") and (
        succeeded(lambda: api().get(f"/console/api/apps/{server['id']}/server/refresh"), "new URL")
    ):
        flash("mcp", "success", "New URL: the old one no longer works")
        st.rerun()


def _describe_form(
    path: str, app: dict[str, Any], server: dict[str, Any], inputs: list[dict[str, Any]]
) -> None:
    described = as_dict(server.get("parameters"))
    with st.form(f"mcp-server-{app['id']}"):
        description = st.text_area(
            "Server description",
            value=str(server.get("description") or app.get("description") or ""),
            help="What the client's model reads to decide when to call this app",
        )
        parameters: dict[str, str] = {}
        for var in inputs:
            name = str(var.get("variable"))
            parameters[name] = st.text_input(
                f"{name}: description", value=str(described.get(name) or var.get("label") or "")
            )
        submitted = st.form_submit_button("Save" if server else "Enable MCP server")
    if not submitted:
        return
    body = {"description": description, "parameters": parameters}
    call = (lambda: api().put(path, body)) if server else (lambda: api().post(path, body))
    if succeeded(call, "MCP server"):
        flash("mcp", "success", "Saved" if server else "Enabled: share the URL with MCP clients")
        st.rerun()
