"""What the console's pages share: the API client, the selected app, errors shown plainly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import streamlit as st

from tideflow.console.api_client import ConsoleApiError, ConsoleClient, client

T = TypeVar("T")
APP_KEY = "tideflow_app_id"
# The registered st.Page objects by name, for links between pages.
PAGES_KEY = "tideflow_pages"


def api() -> ConsoleClient:
    """The signed-in session's API client."""
    return client()


def attempt(call: Callable[[], T], what: str = "") -> T | None:
    """``call()``, or None after showing the API's refusal (it names the field or node)."""
    try:
        return call()
    except ConsoleApiError as exc:
        if exc.status == 401:  # the session's token expired: sign in again
            signed_out()
        prefix = f"{what}: " if what else ""
        st.error(f"{prefix}{exc.message}")
        for problem in problems_of(exc.body):
            st.caption(f"- {problem}")
        return None


def signed_out() -> None:
    """Forget the session (token, drafts, results) and show the sign-in page."""
    st.session_state.clear()
    st.rerun()


def problems_of(body: Any) -> list[Any]:
    """The ``problems`` list of an API answer (empty when it has none)."""
    fields = cast(dict[str, Any], body) if isinstance(body, dict) else {}
    problems = fields.get("problems")
    return cast(list[Any], problems) if isinstance(problems, list) else []


def apps() -> list[dict[str, Any]]:
    """The workspace's apps (newest first), empty when the API refuses."""
    listed = attempt(lambda: api().get("/console/api/apps", limit=100), "apps")
    fields = cast(dict[str, Any], listed) if isinstance(listed, dict) else {}
    data = fields.get("data")
    return cast(list[dict[str, Any]], data) if isinstance(data, list) else []


def selected_app(label: str = "App") -> dict[str, Any] | None:
    """The app this page works on: chosen in a select box, remembered across pages and in the
    URL (``?app=<id>``)."""
    listed = apps()
    if not listed:
        st.info("No apps yet: create or import one on the Apps page.")
        return None
    wanted = st.query_params.get("app") or st.session_state.get(APP_KEY)
    ids = [str(a["id"]) for a in listed]
    index = ids.index(wanted) if wanted in ids else 0
    chosen = st.selectbox(
        label,
        listed,
        index=index,
        # Streamlit matches a choice by its label: two apps of one name need the id to differ.
        format_func=lambda a: f"{a['name']} ({a['mode']}) · {str(a['id'])[:8]}",
        key=f"app-select-{label}",
    )
    st.session_state[APP_KEY] = chosen["id"]
    st.query_params["app"] = chosen["id"]
    return dict(chosen)


def open_page(name: str, app_id: str | None = None) -> None:
    """Switch to the page registered as ``name`` (``tideflow.console.app.PAGES``)."""
    pages: dict[str, Any] = st.session_state.get(PAGES_KEY) or {}
    page = pages.get(name)
    if page is None:
        st.error(f"no page {name}")
        return
    st.switch_page(page, query_params={"app": app_id} if app_id else None)


def records(answer: Any, field: str | None = "data") -> list[dict[str, Any]]:
    """The objects listed under ``field`` of an API answer (or the answer itself when
    ``field`` is None); none when it is absent or not a list."""
    found: Any = answer
    if field is not None:
        found = cast(dict[str, Any], answer).get(field) if isinstance(answer, dict) else None
    if not isinstance(found, list):
        return []
    return [cast(dict[str, Any], r) for r in cast(list[Any], found) if isinstance(r, dict)]


def when(stamp: Any, missing: str = "-") -> str:
    """A unix time as ``YYYY-MM-DD HH:MM UTC`` (``missing`` when there is none)."""
    if not isinstance(stamp, int | float):
        return missing
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
