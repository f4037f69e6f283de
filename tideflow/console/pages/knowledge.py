"""Knowledge: the workspace's knowledge bases (create, list, delete) and, for the one chosen,
its documents (upload with indexing progress), its chunks and hit testing."""

from __future__ import annotations

import contextlib
from typing import Any

import streamlit as st

from tideflow.console.api_client import ConsoleApiError
from tideflow.console.common import api, attempt, records, when
from tideflow.console.knowledge_documents import documents, upload
from tideflow.console.knowledge_search import chunks, hit_testing

CHOSEN_KEY = "knowledge-choose"
TURN_KEY = "knowledge-new-turn"
NOTICE_KEY = "knowledge-notice"
TECHNIQUES = {
    "economy": "Economy: full-text keyword index, no embedding model",
    "high_quality": "High quality: vector index with an embedding model",
}


def render() -> None:
    """The knowledge bases, the form that adds one, and the chosen one's contents."""
    st.title("Knowledge")
    # Always there, so the elements below keep their places when no notice is shown.
    slot = st.container()
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        slot.success(notice)
    _create()
    listed = attempt(lambda: api().get("/console/api/datasets", limit=100), "knowledge bases")
    datasets = records(listed)
    if not datasets:
        st.info("No knowledge bases yet: create one above.")
        return
    st.dataframe(  # pyright: ignore[reportUnknownMemberType]
        [
            {
                "name": d["name"],
                "indexing": d.get("indexing_technique") or "",
                "embedding model": d.get("embedding_model") or "",
                "documents": d["document_count"],
                "characters": d["word_count"],
                "created": when(d.get("created_at")),
            }
            for d in datasets
        ],
        hide_index=True,
        key="knowledge-datasets",
    )
    dataset = _choose(datasets)
    if dataset is None:
        return
    _delete(dataset)
    documents_tab, chunks_tab, hits_tab = st.tabs(["Documents", "Chunks", "Hit testing"])
    with documents_tab:
        upload(dataset)
        rows = documents(str(dataset["id"]))
    with chunks_tab:
        chunks(str(dataset["id"]), rows)
    with hits_tab:
        hit_testing(dataset)


def _create() -> None:
    turn = int(st.session_state.get(TURN_KEY, 0))  # a new turn: empty fields
    with st.expander("New knowledge base"):
        name = st.text_input("Knowledge base name", max_chars=40, key=f"knowledge-name-{turn}")
        description = st.text_input(
            "Description", max_chars=400, key=f"knowledge-description-{turn}"
        )
        technique = st.radio(
            "Indexing technique",
            list(TECHNIQUES),
            format_func=TECHNIQUES.__getitem__,
            key="knowledge-new-technique",
        )
        body: dict[str, Any] = {
            "name": name.strip(),
            "description": description,
            "indexing_technique": technique,
        }
        if technique == "high_quality":
            body.update(_embedding_model())
        if st.button("Create knowledge base", key="knowledge-create"):
            if not body["name"]:
                st.error("name: give the knowledge base a name")
                return
            made = attempt(lambda: api().post("/console/api/datasets", body), "create")
            if made:
                st.session_state[CHOSEN_KEY] = made["id"]  # the new one is shown next
                st.session_state[TURN_KEY] = turn + 1
                st.session_state[NOTICE_KEY] = f"Created {made['name']}"
                st.rerun()


def _embedding_model() -> dict[str, Any]:
    """The embedding model fields; empty means the workspace's default text-embedding model."""
    default: Any = None
    with contextlib.suppress(ConsoleApiError):  # no default to offer: the fields start empty
        path = "/console/api/workspaces/current/default-model"
        default = api().get(path, model_type="text-embedding").get("data")
    model = st.text_input(
        "Embedding model",
        value=str(default["model"]) if default else "",
        key="knowledge-new-embedding-model",
        help="Empty: the workspace's default text-embedding model (Settings).",
    )
    provider = st.text_input(
        "Embedding model provider",
        value=str(default["provider"]["provider"]) if default else "",
        key="knowledge-new-embedding-provider",
    )
    fields = {"embedding_model": model.strip(), "embedding_model_provider": provider.strip()}
    return {k: v for k, v in fields.items() if v}


def _choose(datasets: list[dict[str, Any]]) -> dict[str, Any] | None:
    by_id = {str(d["id"]): d for d in datasets}
    if st.session_state.get(CHOSEN_KEY) not in by_id:
        st.session_state.pop(CHOSEN_KEY, None)  # deleted, or another workspace's
    chosen = st.selectbox(
        "Knowledge base",
        list(by_id),
        format_func=lambda i: f"{by_id[i]['name']} ({by_id[i].get('indexing_technique') or '-'})",
        key=CHOSEN_KEY,
    )
    return by_id.get(chosen) if chosen else None


def _delete(dataset: dict[str, Any]) -> None:
    confirm_key = f"knowledge-confirm-delete-{dataset['id']}"
    if st.button("Delete knowledge base", key=f"knowledge-delete-{dataset['id']}"):
        st.session_state[confirm_key] = True
    if not st.session_state.get(confirm_key):
        return
    st.warning(f"Delete {dataset['name']}, its documents and their index?")
    if st.button("Yes, delete it", key=f"knowledge-yes-{dataset['id']}"):
        try:
            api().delete(f"/console/api/datasets/{dataset['id']}")
        except ConsoleApiError as exc:
            st.error(f"delete: {exc.message}")
            return
        st.session_state.pop(confirm_key, None)
        st.rerun()
