"""Settings, Tools: the workspace's tool providers (built-in ones read-only) and the forms
that add an OpenAPI service, an MCP server or a published workflow app as tools."""

from __future__ import annotations

from typing import Any

import streamlit as st

from tideflow.console.api_client import ConsoleApiError
from tideflow.console.common import api, apps, attempt
from tideflow.console.settings_fetch import app_inputs, as_dict, flash, rows, show_flash, succeeded

WORKSPACE = "/console/api/workspaces/current"
KIND_NAMES = {"api": "OpenAPI", "mcp": "MCP server", "workflow": "workflow", "builtin": "built-in"}
AUTH_TYPES = ("none", "api_key_header", "api_key_query")
_SCHEMA_KEY = "tool-api-schema"


def _text(value: Any) -> str:
    """A label as text (Dify's labels are ``{"en_US": ...}`` objects or plain strings)."""
    if isinstance(value, dict):
        return str(as_dict(value).get("en_US") or "")
    return str(value or "")


def render_tools() -> None:
    """The workspace's providers, then the add forms."""
    show_flash("tools")
    providers = rows(attempt(lambda: api().get(f"{WORKSPACE}/tool-providers"), "tools"), None)
    own = [p for p in providers if p.get("type") != "builtin"]
    st.subheader("Workspace tools")
    if not own:
        st.caption("None yet: add one below.")
    for provider in own:
        _provider(provider)
    builtin = [p for p in providers if p.get("type") == "builtin"]
    with st.expander(f"Built-in tools ({len(builtin)} providers)"):
        for provider in builtin:
            names = ", ".join(
                _text(t.get("label") or t.get("name")) for t in rows(provider, "tools")
            )
            st.markdown(f"**{_text(provider.get('label'))}** · {names}")
    st.subheader("Add tools")
    openapi, mcp, workflow = st.tabs(
        ["From an OpenAPI schema", "From an MCP server", "From a workflow app"]
    )
    with openapi:
        _openapi_form()
    with mcp:
        _mcp_form()
    with workflow:
        _workflow_form()


def _provider(provider: dict[str, Any]) -> None:
    kind = str(provider.get("type"))
    with st.container(border=True):
        about, actions = st.columns([4, 1])
        about.markdown(f"**{_text(provider.get('label'))}** · {KIND_NAMES.get(kind, kind)}")
        tools = rows(provider, "tools")
        about.caption("Tools: " + (", ".join(str(t.get("name")) for t in tools) or "none"))
        if provider.get("server_url"):
            about.caption(f"{provider['server_url']} · identifier {provider['server_identifier']}")
        if provider.get("error"):
            about.warning(str(provider["error"]))
        if kind == "mcp" and actions.button("Refresh tools", key=f"tool-refresh-{provider['id']}"):
            path = f"{WORKSPACE}/tool-provider/mcp/update/{provider['id']}"
            if succeeded(lambda: api().get(path), f"refresh {provider['name']}"):
                st.rerun()
        if actions.button("Delete", key=f"tool-delete-{provider['id']}") and succeeded(
            lambda: _delete(kind, provider), f"delete {provider['name']}"
        ):
            flash("tools", "success", f"Deleted {provider['name']}")
            st.rerun()


def _delete(kind: str, provider: dict[str, Any]) -> Any:
    base = f"{WORKSPACE}/tool-provider"
    if kind == "api":
        return api().post(f"{base}/api/delete", {"provider": provider["name"]})
    if kind == "mcp":
        return api().delete(f"{base}/mcp", {"provider_id": provider["id"]})
    return api().post(f"{base}/workflow/delete", {"workflow_tool_id": provider["id"]})


def _fetch_schema() -> None:
    """Fill the schema box from the URL (a callback: it runs before the box is drawn)."""
    url = str(st.session_state.get("tool-api-url") or "").strip()
    if not url:
        flash("tools-api", "error", "Schema URL: give one to fetch")
        return
    try:
        got = api().get(f"{WORKSPACE}/tool-provider/api/remote", url=url)
    except ConsoleApiError as exc:
        flash("tools-api", "error", f"fetch schema: {exc.message}")
        return
    st.session_state[_SCHEMA_KEY] = str(got.get("schema") or "")


def _openapi_form() -> None:
    show_flash("tools-api")
    url, fetch = st.columns([4, 1], vertical_alignment="bottom")
    url.text_input("Schema URL", key="tool-api-url", placeholder="https://…/openapi.json")
    fetch.button("Fetch schema", key="tool-api-fetch", on_click=_fetch_schema)
    with st.form("tool-api"):
        name = st.text_input("Provider name", key="tool-api-name")
        schema = st.text_area("OpenAPI or Swagger schema (JSON or YAML)", key=_SCHEMA_KEY)
        auth, header, prefix, query = st.columns(4)
        auth_type = auth.selectbox("Auth type", AUTH_TYPES)
        header_name = header.text_input("Key header", value="Authorization")
        header_prefix = prefix.selectbox("Header prefix", ("bearer", "basic", "custom"))
        query_param = query.text_input("Key query parameter", value="key")
        key_value = st.text_input("API key", type="password")
        submitted = st.form_submit_button("Add OpenAPI provider")
    if not submitted:
        return
    credentials: dict[str, str] = {"auth_type": auth_type}
    if auth_type != "none":
        credentials["api_key_value"] = key_value
        if auth_type == "api_key_query":
            credentials["api_key_query_param"] = query_param
        else:
            credentials.update(api_key_header=header_name, api_key_header_prefix=header_prefix)
    body = {"provider": name.strip(), "schema": schema, "credentials": credentials}
    if succeeded(
        lambda: api().post(f"{WORKSPACE}/tool-provider/api/add", body), "add OpenAPI provider"
    ):
        flash("tools", "success", f"Added {name.strip()}")
        st.rerun()


def _headers(text: str) -> dict[str, str]:
    """``Name: value`` lines; ValueError naming the line that has no colon."""
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ValueError(f"Headers, line {number}: expected 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def _mcp_form() -> None:
    with st.form("tool-mcp"):
        name, identifier = st.columns(2)
        label = name.text_input("Server name", key="tool-mcp-name")
        server_id = identifier.text_input(
            "Server identifier",
            key="tool-mcp-identifier",
            help="Lowercase letters, digits, _ and -, at most 24: how apps name this server",
        )
        url = st.text_input("Server URL", key="tool-mcp-url", placeholder="https://…/mcp")
        header_text = st.text_area("Headers (one 'Name: value' a line)", key="tool-mcp-headers")
        submitted = st.form_submit_button("Add MCP server")
    if not submitted:
        return
    try:
        headers = _headers(header_text)
    except ValueError as exc:
        st.error(str(exc))
        return
    body = {
        "name": label.strip(),
        "server_identifier": server_id.strip(),
        "server_url": url.strip(),
        "headers": headers,
    }
    with st.spinner("Listing the server's tools…"):
        ok = succeeded(lambda: api().post(f"{WORKSPACE}/tool-provider/mcp", body), "add MCP server")
    if ok:
        flash("tools", "success", f"Added MCP server {label.strip()}")
        st.rerun()


def _workflow_form() -> None:
    workflows = [a for a in apps() if a.get("mode") == "workflow"]
    if not workflows:
        st.caption("No workflow apps: only a published workflow app can be a tool.")
        return
    app = st.selectbox(  # Streamlit keeps a choice by its label: the id tells namesakes apart
        "Workflow app",
        workflows,
        format_func=lambda a: f"{a['name']} · {str(a['id'])[:8]}",
        key="tool-wf",
    )
    inputs = attempt(lambda: app_inputs(str(app["id"])), "the app's inputs") or []
    with st.form(f"tool-workflow-{app['id']}"):
        name = st.text_input("Tool name", help="Letters, digits, _ and -: how agents call it")
        label = st.text_input("Tool label")
        description = st.text_area("Tool description", height=80)
        described: list[dict[str, str]] = []
        for var in inputs:
            variable = str(var.get("variable"))
            text, form = st.columns([3, 1])
            about = text.text_input(f"Description of {variable}", value=str(var.get("label") or ""))
            filled = form.selectbox(f"{variable} filled by", ("llm", "form"))
            described.append({"name": variable, "description": about, "form": filled})
        submitted = st.form_submit_button("Add workflow tool")
    if not submitted:
        return
    body = {
        "workflow_app_id": app["id"],
        "name": name.strip(),
        "label": label.strip(),
        "description": description,
        "parameters": described,
    }
    if succeeded(
        lambda: api().post(f"{WORKSPACE}/tool-provider/workflow/create", body),
        "add workflow tool",
    ):
        flash("tools", "success", f"Added workflow tool {name.strip()}")
        st.rerun()
