"""Settings, API keys: an app's service API keys (``app-…``) and the workspace's knowledge
API keys (``dataset-…``). A new key's full token is shown once, when it is created."""

from __future__ import annotations

from typing import Any

import streamlit as st

from tideflow.console.common import api, attempt, selected_app, when
from tideflow.console.settings_fetch import MASK, as_dict, rows, succeeded

DATASET_KEYS = "/console/api/datasets/api-keys"


def render_api_keys() -> None:
    """The selected app's keys, then the workspace's dataset keys."""
    app = selected_app("App")
    if app is not None:
        _keys(
            f"/console/api/apps/{app['id']}/api-keys",
            f"{app['name']} · service API keys",
            "app",
            "Call this app through the Dify-compatible API (/v1) with one of these.",
        )
    st.divider()
    _keys(
        DATASET_KEYS,
        "Knowledge API keys (whole workspace)",
        "dataset",
        "Manage the workspace's knowledge bases through /v1/datasets with one of these.",
    )


def _keys(path: str, title: str, kind: str, purpose: str) -> None:
    st.subheader(title)
    st.caption(purpose)
    if st.button("Create key", key=f"create-{kind}-key"):
        made = as_dict(attempt(lambda: api().post(path), "create key"))
        if made:
            st.success("New key: copy it now, it is not shown again.")
            st.code(str(made.get("token")), language=None)
    listed = rows(attempt(lambda: api().get(path), "keys"))
    if not listed:
        st.caption("No keys yet.")
    for key in listed:
        token, created, used, revoke = st.columns([3, 2, 2, 1])
        token.code(str(key["token"]), language=None)
        created.caption(f"created {when(key.get('created_at'))}")
        used.caption(f"last used {when(key.get('last_used_at'))}")
        if revoke.button("Revoke", key=f"revoke-{kind}-{key['id']}") and succeeded(
            lambda k=key: api().delete(f"{path}/{k['id']}"), "revoke key"
        ):
            st.rerun()


def render_environment() -> None:
    """The selected app's environment variables (secret values never shown) and a form to
    add one."""
    app = selected_app("App")
    if app is None:
        return
    path = f"/console/api/apps/{app['id']}/environment-variables"
    st.subheader(f"{app['name']} · environment variables")
    st.caption("Nodes read them as {{#env.NAME#}}; a secret's value is never shown again.")
    for var in rows(attempt(lambda: api().get(path), "environment variables")):
        _variable(path, var)
    _new_variable(path)


def _shown(var: dict[str, Any]) -> str:
    return f"`{MASK}` (secret)" if var.get("value_type") == "secret" else f"`{var.get('value')}`"


def _variable(path: str, var: dict[str, Any]) -> None:
    vid = str(var["id"])
    with st.container(border=True):
        name, value, actions = st.columns([2, 3, 1])
        name.markdown(f"**{var['name']}** · {var['value_type']}")
        if var.get("description"):
            name.caption(str(var["description"]))
        value.markdown(_shown(var))
        if actions.button("Delete", key=f"env-delete-{vid}") and succeeded(
            lambda: api().delete(f"{path}/{vid}"), f"delete {var['name']}"
        ):
            st.rerun()
        with st.expander(f"Edit {var['name']}"), st.form(f"env-edit-{vid}"):
            secret = var.get("value_type") == "secret"
            new_value = st.text_input(
                "Value",
                key=f"env-edit-value-{vid}",
                value=str(var.get("value") or ""),
                type="password" if secret else "default",
                help="Left as shown, the secret keeps its value" if secret else None,
            )
            description = st.text_input(
                "Description",
                value=str(var.get("description") or ""),
                key=f"env-edit-description-{vid}",
            )
            if st.form_submit_button("Save") and succeeded(
                lambda: api().patch(
                    f"{path}/{vid}",
                    {
                        "name": var["name"],
                        "value_type": var["value_type"],
                        "value": new_value,
                        "description": description,
                    },
                ),
                f"update {var['name']}",
            ):
                st.rerun()


def _new_variable(path: str) -> None:
    st.markdown("**Add a variable**")
    # Each added variable gives the inputs new keys: fresh, empty widgets (a password input
    # does not always take a value set through session state).
    round_ = int(st.session_state.get("env-new-round") or 0)
    name, kind = st.columns(2)
    new_name = name.text_input("Variable name", key=f"env-name-{round_}", placeholder="API_TOKEN")
    value_type = kind.selectbox("Value type", ("string", "number", "secret"), key="env-new-type")
    value = st.text_input(
        "Variable value",
        key=f"env-value-{round_}",
        type="password" if value_type == "secret" else "default",
    )
    description = st.text_input("Variable description", key=f"env-description-{round_}")
    if not st.button("Add variable", key="env-add"):
        return
    body = {
        "name": new_name.strip(),
        "value_type": value_type,
        "value": value,
        "description": description,
    }
    if not body["name"]:
        st.error("Variable name: give one (letters, digits and _)")
    elif succeeded(lambda: api().post(path, body), f"add {body['name']}"):
        st.session_state["env-new-round"] = round_ + 1
        st.rerun()
