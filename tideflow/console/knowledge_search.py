"""The Knowledge page's look inside a dataset: a document's chunks (paged, filtered by a
keyword) and hit testing (a query against the dataset, the chunks it finds with their
scores)."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from tideflow.console.common import api, attempt, records

CHUNK_PAGE = 10


def chunks(dataset_id: str, documents: list[dict[str, Any]]) -> None:
    """Browse one document's chunks, a page at a time, by a keyword in their content."""
    if not documents:
        st.info("No documents yet: upload files on the Documents tab.")
        return
    page_key = f"knowledge-chunk-page-{dataset_id}"

    def first_page() -> None:  # a new document or keyword starts at page 1
        st.session_state[page_key] = 1

    by_id = {str(d["id"]): d for d in documents}
    chosen = st.selectbox(
        "Document",
        list(by_id),
        # Streamlit keeps a choice by its label: two documents of one name need the id to differ.
        format_func=lambda i: f"{by_id[i]['name']} ({by_id[i]['display_status']}) · {i[:8]}",
        key=f"knowledge-chunk-doc-{dataset_id}",
        on_change=first_page,
    )
    keyword = st.text_input(
        "Filter chunks by keyword", key=f"knowledge-chunk-filter-{dataset_id}", on_change=first_page
    )
    page = int(st.number_input("Chunk page", min_value=1, step=1, key=page_key))
    document = by_id.get(chosen) if chosen else None
    if document is None:
        return
    listed = attempt(
        lambda: api().get(
            f"/console/api/datasets/{dataset_id}/documents/{document['id']}/segments",
            page=page,
            limit=CHUNK_PAGE,
            keyword=keyword.strip() or None,
        ),
        "chunks",
    )
    if listed is None:
        return
    total = int(listed.get("total") or 0)
    pages = max(1, math.ceil(total / CHUNK_PAGE))
    matching = f" matching '{keyword.strip()}'" if keyword.strip() else ""
    noun = "chunk" if total == 1 else "chunks"
    st.caption(f"{total} {noun}{matching} · page {page} of {pages}")
    for segment in records(listed):
        with st.container(border=True):
            state = "" if segment.get("enabled", True) else " · disabled"
            st.caption(
                f"Chunk {segment['position']} · {segment['word_count']} characters · "
                f"{segment['status']}{state} · {segment['hit_count']} hits"
            )
            st.text(segment["content"])
            keywords: list[Any] = segment.get("keywords") or []
            if keywords:
                st.caption("Keywords: " + ", ".join(str(k) for k in keywords))


def hit_testing(dataset: dict[str, Any]) -> None:
    """A query against the dataset (with its own retrieval settings): the chunks found, best
    first, with their scores."""
    dataset_id = str(dataset["id"])
    settings: dict[str, Any] = dataset.get("retrieval_model_dict") or {}
    results_key = f"knowledge-hits-{dataset_id}"
    with st.form(f"knowledge-hit-form-{dataset_id}"):
        query = st.text_area("Query", max_chars=250, height=80)
        top_k = st.number_input(
            "Top K", min_value=1, max_value=20, value=int(settings.get("top_k") or 3), step=1
        )
        if st.form_submit_button("Test retrieval"):
            if not query.strip():
                st.error("query: write what to search for")
            else:
                retrieval = {**settings, "top_k": int(top_k)}
                body = {"query": query.strip(), "retrieval_model": retrieval}
                st.session_state[results_key] = attempt(
                    lambda: api().post(f"/console/api/datasets/{dataset_id}/retrieve", body),
                    "hit testing",
                )
    found: dict[str, Any] | None = st.session_state.get(results_key)
    if not found:
        return
    hits = records(found, "records")
    asked = found["query"]["content"]
    noun = "record" if len(hits) == 1 else "records"
    st.caption(f"{len(hits)} {noun} for '{asked}' · {found.get('search_method')}")
    notes: list[Any] = found.get("notes") or []
    for note in notes:
        st.info(str(note))
    if not hits:
        st.info("Nothing matched.")
    for record in hits:
        segment = record["segment"]
        with st.container(border=True):
            st.markdown(
                f"**Score {float(record['score']):.3f}** · {segment['document']['name']} · "
                f"chunk {segment['position']}"
            )
            st.text(segment["content"])
