"""Apps: list, create, import a Dify DSL file, export, delete, and open in the editor."""

from __future__ import annotations

from typing import Any, cast

import streamlit as st

from tideflow.console.api_client import ConsoleApiError
from tideflow.console.common import APP_KEY, api, apps, attempt, open_page, problems_of

MODES = ("workflow", "advanced-chat")


def render() -> None:
    """The workspace's apps and the forms that add one."""
    st.title("Apps")
    create, imported = st.columns(2)
    with create, st.form("create-app", clear_on_submit=True):
        st.subheader("Create")
        name = st.text_input("Name")
        mode = st.selectbox("Type", MODES)
        if st.form_submit_button("Create app") and name.strip():
            made = attempt(
                lambda: api().post("/console/api/apps", {"name": name.strip(), "mode": mode}),
                "create",
            )
            if made:
                st.success(f"Created {made['name']}")
    with imported, st.form("import-app", clear_on_submit=True):
        st.subheader("Import a Dify DSL file")
        upload = st.file_uploader("DSL file (.yml)", type=["yml", "yaml"])
        pasted = st.text_area("…or paste it", height=100)
        if st.form_submit_button("Import"):
            try:
                text = upload.getvalue().decode("utf-8") if upload is not None else pasted
            except UnicodeDecodeError:
                st.error(f"{upload.name if upload else 'the file'} is not UTF-8 text")
                text = ""
            if text.strip():
                _import(text)
    st.divider()
    for app in apps():
        _row(app)


def _import(text: str) -> None:
    answer = attempt(
        lambda: api().post("/console/api/apps/imports", {"yaml_content": text}), "import"
    )
    if not answer:
        return
    st.success(f"Imported {answer.get('app_id')}")
    for problem in problems_of(answer):
        st.warning(f"{problem}")


def _row(app: dict[str, Any]) -> None:
    with st.container(border=True):
        title, actions = st.columns([3, 2])
        title.markdown(f"**{app['name']}** · `{app['mode']}`")
        if app.get("description"):
            title.caption(app["description"])
        edit, export, delete = actions.columns(3)
        if edit.button("Edit", key=f"edit-{app['id']}"):
            st.session_state[APP_KEY] = app["id"]
            open_page("editor", app["id"])
        wanted = f"export-{app['id']}"
        if export.button("Export", key=f"prepare-{wanted}"):
            st.session_state[wanted] = True
        if st.session_state.get(wanted):
            answer = attempt(lambda: api().get(f"/console/api/apps/{app['id']}/export"), "export")
            dsl = cast(dict[str, Any], answer).get("data") if isinstance(answer, dict) else None
            if isinstance(dsl, str):
                export.download_button(
                    "Download .yml",
                    dsl,
                    file_name=f"{app['name']}.yml",
                    mime="application/x-yaml",
                    key=wanted + "-file",
                    on_click="ignore",
                )
        if delete.button("Delete", key=f"delete-{app['id']}"):
            st.session_state[f"confirm-{app['id']}"] = True
        if st.session_state.get(f"confirm-{app['id']}"):
            st.warning(f"Delete {app['name']} and its runs?")
            if st.button("Yes, delete", key=f"yes-{app['id']}"):
                try:
                    api().delete(f"/console/api/apps/{app['id']}")
                except ConsoleApiError as exc:
                    st.error(f"delete: {exc.message}")
                    return
                st.session_state.pop(f"confirm-{app['id']}", None)
                st.rerun()
