"""Home: whether the stack answers (database, Temporal, a worker)."""

from __future__ import annotations

from typing import Any, cast

import streamlit as st

from tideflow.console.api_client import ConsoleApiError, client


def render() -> None:
    """The API's health report."""
    st.title("Tideflow")
    try:
        health = client().get("/health")
    except ConsoleApiError as exc:
        body: Any = exc.body
        if exc.status != 503 or not isinstance(body, dict):
            st.error(f"The API is not answering: {exc.message}")
            return
        health = cast(dict[str, Any], body)  # degraded: the report says which part
        st.warning("The stack is degraded.")
    st.subheader("Stack health")
    for name in ("db", "temporal", "worker"):
        part = health.get(name)
        if isinstance(part, dict):
            fields = cast(dict[str, Any], part)
            (st.success if fields.get("ok") else st.error)(f"{name}: {fields.get('detail')}")
