"""Home: whether the stack answers (database, Temporal, a worker)."""

from __future__ import annotations

import streamlit as st

from tideflow.console.api_client import ConsoleApiError, client


def render() -> None:
    """The API's health report."""
    st.title("Tideflow")
    try:
        health = client().get("/health")
    except ConsoleApiError as exc:
        st.error(f"The API is not answering: {exc.message}")
        return
    st.subheader("Stack health")
    for name in ("db", "temporal", "worker"):
        part = health[name]
        (st.success if part["ok"] else st.error)(f"{name}: {part['detail']}")
