"""Settings, Model providers: the workspace's provider credentials (checked with one model
call by the worker before they are saved) and its default model per type."""

from __future__ import annotations

from typing import Any

import streamlit as st

from tideflow.console.common import api, attempt
from tideflow.console.settings_fetch import as_dict, flash, rows, show_flash, succeeded

WORKSPACE = "/console/api/workspaces/current"
HIDDEN = "[__HIDDEN__]"
DEFAULT_TYPES = ("llm", "text-embedding", "rerank", "speech2text", "tts")


def _label(provider: dict[str, Any]) -> str:
    return str(as_dict(provider.get("label")).get("en_US") or provider["provider"])


def _status(provider: dict[str, Any]) -> str:
    if provider.get("error"):
        return f"unusable: {provider['error']}"
    configured = as_dict(provider.get("custom_configuration")).get("status") == "active"
    return "configured" if configured else "not configured"


def render_model_providers() -> None:
    """Every provider with its status, the credentials form of the one picked, and the
    default models."""
    show_flash("models")
    providers = rows(attempt(lambda: api().get(f"{WORKSPACE}/model-providers"), "providers"))
    if not providers:
        return
    configured = [_label(p) for p in providers if _status(p) != "not configured"]
    st.markdown(f"**Configured:** {', '.join(configured) or 'none yet'}")
    # Ids as options: they stay the same when a provider's status changes.
    by_id = {str(p["provider"]): p for p in providers}
    chosen = st.selectbox(
        "Provider",
        list(by_id),
        format_func=lambda pid: _label(by_id[pid]),
        key="model-provider",
        help="Pick a provider to enter or change its credentials",
    )
    _credentials_form(by_id[chosen])
    st.divider()
    _default_models(providers)


def _credentials_form(provider: dict[str, Any]) -> None:
    pid = str(provider["provider"])
    stored = as_dict(provider.get("credentials"))
    fields = rows(provider.get("provider_credential_schema"), "credential_form_schemas")
    with st.form(f"credentials-{pid}"):
        st.markdown(f"**{_label(provider)}** credentials · {_status(provider)}")
        sent: dict[str, str] = {}
        for field in fields:
            name = str(field["variable"])
            label = str(as_dict(field.get("label")).get("en_US") or name)
            secret = field.get("type") == "secret-input"
            sent[name] = st.text_input(
                f"{label} (required)" if field.get("required") else label,
                value=str(stored.get(name) or ""),
                type="password" if secret else "default",
                key=f"credential-{pid}-{name}",
                help="Left as shown, a saved secret is kept" if secret and name in stored else None,
            )
        model = st.text_input(
            "Model to check with",
            key=f"credential-{pid}-check-model",
            help="The model the check call uses; empty: the provider's cheap default (or the "
            "endpoint model name)",
        )
        saved = st.form_submit_button("Save and check")
    if saved:
        body: dict[str, Any] = {"credentials": {k: v for k, v in sent.items() if v.strip()}}
        if model.strip():
            body["model"] = model.strip()
        with st.spinner("Checking the credentials with one model call…"):
            done = attempt(
                lambda: api().post(f"{WORKSPACE}/model-providers/{pid}/credentials", body),
                f"save {_label(provider)} credentials",
            )
        if done is not None:
            flash("models", "success", f"{_label(provider)}: credentials checked and saved")
            st.rerun()
    if (
        stored
        and st.button("Delete credentials", key=f"delete-credentials-{pid}")
        and succeeded(
            lambda: api().delete(f"{WORKSPACE}/model-providers/{pid}/credentials"),
            f"delete {_label(provider)} credentials",
        )
    ):
        flash("models", "success", f"{_label(provider)}: credentials deleted")
        st.rerun()


def _default_models(providers: list[dict[str, Any]]) -> None:
    st.subheader("Default models")
    current: list[str] = []
    for model_type in DEFAULT_TYPES:
        answer = attempt(
            lambda t=model_type: api().get(f"{WORKSPACE}/default-model", model_type=t),
            f"default {model_type} model",
        )
        data = as_dict(as_dict(answer).get("data"))
        if data:
            provider = _label(as_dict(data.get("provider")) or {"provider": "?"})
            current.append(f"{model_type}: `{data['model']}` ({provider})")
    st.markdown("\n".join(f"- {line}" for line in current) or "No default models yet.")
    with st.form("default-model"):
        kind, provider, model = st.columns(3)
        model_type = kind.selectbox("Model type", DEFAULT_TYPES)
        labels = {str(p["provider"]): _label(p) for p in providers}
        chosen = provider.selectbox(
            "Default provider", list(labels), format_func=lambda pid: labels[pid]
        )
        name = model.text_input("Model name")
        submitted = st.form_submit_button("Set default model")
    if submitted:
        entry = {"model_type": model_type, "provider": chosen, "model": name}
        done = attempt(
            lambda: api().post(f"{WORKSPACE}/default-model", {"model_settings": [entry]}),
            "default model",
        )
        if done is not None:
            flash("models", "success", f"Default {model_type} model: {name}")
            st.rerun()
