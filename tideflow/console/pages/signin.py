"""Sign in: the console's token comes from ``POST /console/api/login``."""

from __future__ import annotations

import streamlit as st

from tideflow.console.api_client import ACCOUNT_KEY, TOKEN_KEY, ConsoleApiError, client


def render() -> None:
    """The sign-in form; on success the session keeps the token and the pages open."""
    st.title("Sign in to Tideflow")
    with st.form("signin"):
        email = st.text_input("Email")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        return
    try:
        answer = client().post("/console/api/login", {"email": email, "password": password})
    except ConsoleApiError as exc:
        st.error(f"Sign-in refused: {exc.message}")
        return
    st.session_state[TOKEN_KEY] = answer["data"]["access_token"]
    st.session_state[ACCOUNT_KEY] = email
    st.rerun()
