"""Settings: model providers, API keys, environment variables, tools, and each app's
schedule, webhook and MCP server. Only the open tab runs (and calls the API)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from tideflow.console.settings_keys import render_api_keys, render_environment
from tideflow.console.settings_mcp import render_mcp_server
from tideflow.console.settings_models import render_model_providers
from tideflow.console.settings_tools import render_tools
from tideflow.console.settings_triggers import render_schedule, render_webhook

SECTIONS: dict[str, Callable[[], None]] = {
    "Model providers": render_model_providers,
    "API keys": render_api_keys,
    "Environment variables": render_environment,
    "Tools": render_tools,
    "Schedules": render_schedule,
    "Webhooks": render_webhook,
    "MCP server": render_mcp_server,
}


def render() -> None:
    """One tab per section; the selected app is shared by the per-app ones."""
    st.title("Settings")
    tabs = st.tabs(list(SECTIONS), key="settings-tab", on_change="rerun")
    for tab, section in zip(tabs, SECTIONS.values(), strict=True):
        if tab.open:
            with tab:
                section()
