"""Inbox: the human-input forms waiting for this workspace. Open one, fill in its inputs and
press one of its actions: the paused run goes on along that action's branch."""

from __future__ import annotations

import mimetypes
import re
from typing import Any

import streamlit as st

from tideflow.console.api_client import ConsoleApiError
from tideflow.console.common import api, apps, attempt, records, when

FORMS = "/console/api/human-input/forms"
OPEN_KEY = "inbox-open-form"
NOTICE_KEY = "inbox-notice"
SHOWN = {"waiting": "Waiting", "submitted": "Submitted", "": "All"}
_OUTPUT = re.compile(r"\{\{#\$output\.([A-Za-z_][A-Za-z0-9_]*)#\}\}")


def _content(form: dict[str, Any]) -> str:
    """The form's text with each input's place shown as ``[name]`` (its lines kept)."""
    text = _OUTPUT.sub(r"`[\1]`", str(form.get("form_content") or ""))
    return text.replace("\n", "  \n")


def render() -> None:
    """The list of forms, and the one opened."""
    st.title("Inbox")
    # Always there, so the elements below keep their places when no notice is shown.
    slot = st.container()
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        slot.success(notice)
    names = {str(a["id"]): str(a["name"]) for a in apps()}
    opened = st.session_state.get(OPEN_KEY)
    if opened:
        _opened(str(opened), names)
        st.divider()
    shown, refresh = st.columns([4, 1])
    status = shown.segmented_control(
        "Show", list(SHOWN), format_func=SHOWN.__getitem__, default="waiting", key="inbox-status"
    )
    if refresh.button("Refresh", key="inbox-refresh"):
        st.rerun()
    listed = attempt(lambda: api().get(FORMS, status=status or ""), "forms")
    forms = records(listed)
    if not forms:
        st.info("No forms waiting: a run that reaches a human-input node puts its form here.")
    for form in forms:
        _row(form, names)


def _row(form: dict[str, Any], names: dict[str, str]) -> None:
    with st.container(border=True):
        head, action = st.columns([5, 1])
        app = names.get(str(form["app_id"]), str(form["app_id"]))
        head.markdown(f"**{form['node_title']}** · {app} · `{form['status']}`")
        head.caption(
            f"Created {when(form.get('created_at'))} · expires "
            f"{when(form.get('expiration_time'))} · run {form['workflow_run_id']}"
        )
        head.markdown(_content(form))
        if form["status"] == "waiting" and action.button("Open", key=f"inbox-open-{form['id']}"):
            st.session_state[OPEN_KEY] = form["id"]
            st.rerun()
        if form.get("submitted_data") is not None:
            head.caption(f"Answered {form.get('action_id')}: {form['submitted_data']}")


def _opened(form_id: str, names: dict[str, str]) -> None:
    form = attempt(lambda: api().get(f"{FORMS}/{form_id}"), "form")
    if form is None or form["status"] != "waiting":
        st.session_state.pop(OPEN_KEY, None)
        if form is not None:
            st.info(f"That form is {form['status']} now.")
        return
    app = names.get(str(form["app_id"]), str(form["app_id"]))
    st.subheader(f"{form['node_title']} · {app}")
    st.caption(f"Expires {when(form.get('expiration_time'))}")
    with st.form(f"inbox-form-{form_id}"):
        st.markdown(_content(form))
        values = {
            str(item["output_variable_name"]): _input(item, form)
            for item in records(form, "inputs")
        }
        actions = records(form, "user_actions")
        pressed: str | None = None
        with st.container(horizontal=True):
            for action in actions:
                primary = action.get("button_style") in ("primary", "accent")
                title = str(action.get("title") or action["id"])
                if st.form_submit_button(title, type="primary" if primary else "secondary"):
                    pressed = str(action["id"])
    if st.button("Close", key="inbox-close"):
        st.session_state.pop(OPEN_KEY, None)
        st.rerun()
    if pressed is not None:
        _submit(form, pressed, values)


def _input(item: dict[str, Any], form: dict[str, Any]) -> Any:
    """One input's widget (inside the form); the value it holds."""
    name = str(item["output_variable_name"])
    key = f"inbox-{form['id']}-{name}"
    defaults: dict[str, Any] = form.get("resolved_default_values") or {}
    default: Any = defaults.get(name)
    kind = item.get("type")
    if kind == "select":
        source: dict[str, Any] = item.get("option_source") or {}
        listed: list[Any] = source.get("value") or []
        options = [str(o) for o in listed]
        index = options.index(str(default)) if str(default) in options else 0
        return st.selectbox(name, options, index=index, key=key)
    if kind == "paragraph":
        return st.text_area(name, value=str(default or ""), key=key)
    if kind in ("file", "file-list"):
        # The console has no upload for an app's files: a file is given by its URL.
        urls = st.text_area(f"{name} (file URLs, one a line)", key=key)
        files = [_remote_file(u.strip()) for u in urls.splitlines() if u.strip()]
        return files if kind == "file-list" else (files[0] if files else None)
    return st.text_input(name, value=str(default or ""), key=key)


def _remote_file(url: str) -> dict[str, Any]:
    filename = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    extension = f".{filename.rsplit('.', 1)[-1].lower()}" if "." in filename else ""
    return {
        "transfer_method": "remote_url",
        "url": url,
        "remote_url": url,
        "filename": filename,
        "extension": extension,
        "type": _file_type(filename, extension),
    }


def _file_type(filename: str, extension: str) -> str:
    """Dify's coarse file type, guessed from the name (the API checks it against the input)."""
    mime = mimetypes.guess_type(filename)[0] or ""
    major = mime.split("/", 1)[0]
    if major in ("image", "audio", "video"):
        return major
    if major == "text" or extension in (".pdf", ".doc", ".docx", ".md", ".txt"):
        return "document"
    return "custom"


def _submit(form: dict[str, Any], action: str, values: dict[str, Any]) -> None:
    try:
        api().post(f"{FORMS}/{form['id']}/submit", {"inputs": values, "action": action})
    except ConsoleApiError as exc:
        st.error(f"submit: {exc.message}")
        return
    st.session_state.pop(OPEN_KEY, None)
    st.session_state[NOTICE_KEY] = f"Submitted {form['node_title']} ({action}): the run goes on."
    st.rerun()
