"""What the Settings page's sections share: JSON lists read safely, an answer that may be
missing (404 shown as a hint, not an error), and a message kept across a rerun."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import streamlit as st

from tideflow.console.api_client import ConsoleApiError
from tideflow.console.common import api, records

_FLASH = "tideflow_settings_flash"
MASK = "••••••••"


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def rows(answer: Any, key: str | None = "data") -> list[dict[str, Any]]:
    """The dicts in ``answer[key]`` (or in ``answer`` itself when ``key`` is None)."""
    return records(answer, key)


def strings(value: Any) -> list[str]:
    """The items of a JSON list as text (none when ``value`` is not a list)."""
    return [str(v) for v in cast(list[Any], value)] if isinstance(value, list) else []


def get_if_any(path: str, what: str) -> dict[str, Any] | None:
    """GET the object at ``path``; None after showing why: a 404 (nothing set up yet) as a
    hint, any other refusal as an error."""
    try:
        return as_dict(api().get(path))
    except ConsoleApiError as exc:
        (st.info if exc.status == 404 else st.error)(f"{what}: {exc.message}")
        return None


def succeeded(call: Callable[[], Any], what: str) -> bool:
    """Whether ``call()`` went through (an empty answer counts); the API's refusal is shown."""
    try:
        call()
    except ConsoleApiError as exc:
        st.error(f"{what}: {exc.message}")
        return False
    return True


def flash(section: str, kind: str, text: str) -> None:
    """Keep a message for ``section`` to show after ``st.rerun()`` (kind: success, error,
    warning, code)."""
    st.session_state.setdefault(_FLASH, {}).setdefault(section, []).append((kind, text))


def show_flash(section: str) -> None:
    """Show (once) the messages kept for ``section``."""
    kept: dict[str, list[tuple[str, str]]] = st.session_state.get(_FLASH) or {}
    for kind, text in kept.pop(section, []):
        if kind == "code":
            st.code(text, language=None)
        else:
            getattr(st, kind)(text)


def app_inputs(app_id: str) -> list[dict[str, Any]]:
    """The Start form variables of the app's draft (what a tool or MCP client fills)."""
    draft = as_dict(api().get(f"/console/api/apps/{app_id}/workflows/draft"))
    for node in rows(draft.get("graph"), "nodes"):
        data = as_dict(node.get("data"))
        if data.get("type") == "start":
            return rows(data, "variables")
    return []
