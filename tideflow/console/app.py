"""The Streamlit builder console. It talks to the API only, never to the database."""

from __future__ import annotations

import httpx
import streamlit as st

from tideflow.platform.settings import get_settings

st.set_page_config(page_title="Tideflow", layout="wide")
st.title("Tideflow")

api = get_settings().api_base_url
try:
    health = httpx.get(f"{api}/health", timeout=5).json()
except httpx.HTTPError as exc:
    st.error(f"The API at {api} is not answering: {exc}")
else:
    st.subheader("Stack health")
    for name in ("db", "temporal", "worker"):
        part = health[name]
        (st.success if part["ok"] else st.error)(f"{name}: {part['detail']}")
