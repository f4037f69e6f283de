"""The Knowledge page's documents: upload files, follow their ingestion with a progress bar
each (polling the batch's indexing status), and the dataset's documents with their status."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from tideflow.console.api_client import ConsoleApiError
from tideflow.console.common import api, attempt, records, when

# Ingestion ends in one of these; a document in any other status is still being worked on.
FINISHED = frozenset({"completed", "error", "paused"})
# A followed document the indexing status has not listed for this many polls was deleted
# elsewhere: it is no longer followed (else the page would poll forever).
MISSING_POLLS = 3
GONE = "gone"
DOCUMENT_PAGE = 50


def _followed_key(dataset_id: str) -> str:
    return f"knowledge-followed-{dataset_id}"


def _followed(dataset_id: str) -> list[dict[str, Any]]:
    """The uploads this session follows: ``{batch, names: {id: name}, status: {id: entry},
    missing: {id: polls}}``."""
    return st.session_state.setdefault(_followed_key(dataset_id), [])


def upload(dataset: dict[str, Any]) -> None:
    """Files to add (one batch, a document each), then each document's ingestion progress."""
    dataset_id = str(dataset["id"])
    turn_key = f"knowledge-upload-turn-{dataset_id}"
    turn = int(st.session_state.get(turn_key, 0))
    files = st.file_uploader(
        "Documents to add",
        accept_multiple_files=True,
        type=["txt", "md", "markdown", "html", "htm", "csv", "json", "pdf", "docx"],
        key=f"knowledge-files-{dataset_id}-{turn}",
    )
    rule = _process_rule(dataset_id)
    pressed = st.button(
        "Upload and index", key=f"knowledge-upload-{dataset_id}", disabled=not files
    )
    if pressed and _send(dataset, rule, [(f.name, f.getvalue(), f.type) for f in files or []]):
        st.session_state[turn_key] = turn + 1  # a fresh uploader, emptied
        st.rerun()
    if any(not _done(entry) for entry in _followed(dataset_id)):
        _poll(dataset_id)
    else:
        _show_progress(dataset_id)


def _process_rule(dataset_id: str) -> dict[str, Any]:
    """Dify's process rule: automatic, or custom chunks (separator, size, overlap)."""
    custom = st.toggle("Custom chunking", key=f"knowledge-custom-chunks-{dataset_id}")
    if not custom:
        return {"mode": "automatic"}
    separator, size, overlap = st.columns(3)
    segmentation = {
        # Typed as Dify's UI takes it (\n for a new line); the API unescapes it.
        "separator": separator.text_input(
            "Chunk separator", value="\\n\\n", key=f"knowledge-separator-{dataset_id}"
        ),
        "max_tokens": int(
            size.number_input(
                "Maximum chunk length (tokens)",
                min_value=50,
                max_value=4000,
                value=500,
                key=f"knowledge-max-tokens-{dataset_id}",
            )
        ),
        "chunk_overlap": int(
            overlap.number_input(
                "Chunk overlap (tokens)",
                min_value=0,
                max_value=1000,
                value=50,
                key=f"knowledge-overlap-{dataset_id}",
            )
        ),
    }
    pre_processing = [
        {"id": "remove_extra_spaces", "enabled": True},
        {"id": "remove_urls_emails", "enabled": False},
    ]
    return {
        "mode": "custom",
        "rules": {"pre_processing_rules": pre_processing, "segmentation": segmentation},
    }


def _send(
    dataset: dict[str, Any], rule: dict[str, Any], files: list[tuple[str, bytes, str | None]]
) -> bool:
    """Upload the files as one batch and follow it; False when the API refused (its message
    shown)."""
    options: dict[str, Any] = {"process_rule": rule}
    if dataset.get("indexing_technique"):
        options["indexing_technique"] = dataset["indexing_technique"]
    multipart = [("files", (n, c, k or "application/octet-stream")) for n, c, k in files]
    made = attempt(
        lambda: api().post(
            f"/console/api/datasets/{dataset['id']}/documents",
            files=multipart,
            data={"data": json.dumps(options)},
        ),
        "upload",
    )
    if not made:
        return False
    names = {str(d["id"]): str(d["name"]) for d in records(made, "documents")}
    _followed(str(dataset["id"])).insert(0, {"batch": made["batch"], "names": names, "status": {}})
    return True


def _done(entry: dict[str, Any]) -> bool:
    status: dict[str, dict[str, Any]] = entry["status"]
    return len(status) == len(entry["names"]) and all(
        s.get("indexing_status") in FINISHED or s.get("indexing_status") == GONE
        for s in status.values()
    )


def _batch_status(dataset_id: str, batch: str) -> list[dict[str, Any]] | None:
    """The batch's documents as the API reports them (none when it knows the batch no more:
    all deleted); None when the API did not answer (its message shown)."""

    def call() -> Any:
        try:
            return api().get(
                f"/console/api/datasets/{dataset_id}/documents/{batch}/indexing-status"
            )
        except ConsoleApiError as exc:
            if exc.status == 404:
                return {"data": []}
            raise

    answer = attempt(call, "indexing status")
    return None if answer is None else records(answer)


def _record(entry: dict[str, Any], reported: list[dict[str, Any]]) -> None:
    """Take a poll's statuses; a document missing from MISSING_POLLS answers in a row is
    marked GONE (no longer followed)."""
    by_id = {str(item.get("id")): item for item in reported}
    missing: dict[str, int] = entry.setdefault("missing", {})
    status: dict[str, dict[str, Any]] = entry["status"]
    for document_id in entry["names"]:
        if document_id in by_id:
            status[document_id] = by_id[document_id]
            missing.pop(document_id, None)
        elif status.get(document_id, {}).get("indexing_status") not in FINISHED:
            missing[document_id] = missing.get(document_id, 0) + 1
            if missing[document_id] >= MISSING_POLLS:
                status[document_id] = {"indexing_status": GONE}


@st.fragment(run_every=1.0)
def _poll(dataset_id: str) -> None:
    """Each second while an upload is being indexed: its status, then the bars; the whole
    page again once everything has finished (the documents list changed)."""
    for entry in _followed(dataset_id):
        if _done(entry):
            continue
        reported = _batch_status(dataset_id, str(entry["batch"]))
        if reported is not None:  # an API that did not answer says nothing of the documents
            _record(entry, reported)
    _show_progress(dataset_id)
    if all(_done(entry) for entry in _followed(dataset_id)):
        st.rerun()


def _show_progress(dataset_id: str) -> None:
    followed = _followed(dataset_id)
    if not followed:
        return
    st.markdown("**Indexing progress**")
    for entry in followed:
        for document_id, name in entry["names"].items():
            status: dict[str, Any] = entry["status"].get(document_id) or {}
            stage = str(status.get("indexing_status") or "waiting")
            if stage == GONE:
                st.warning(
                    f"{name}: the API no longer reports this document (deleted?): "
                    "no longer following it"
                )
                continue
            done = int(status.get("completed_segments") or 0)
            total = int(status.get("total_segments") or 0)
            fraction = 1.0 if stage == "completed" else (done / total if total else 0.0)
            text = f"{name}: {stage} ({done}/{total} chunks)"
            if status.get("error"):
                text += f": {status['error']}"
            st.progress(min(max(fraction, 0.0), 1.0), text=text)
    if all(_done(entry) for entry in followed) and st.button(
        "Clear progress", key=f"knowledge-clear-{dataset_id}"
    ):
        st.session_state[_followed_key(dataset_id)] = []
        st.rerun()


def documents(dataset_id: str) -> list[dict[str, Any]]:
    """The dataset's documents (newest first), shown as a table; the rows listed."""
    page = int(
        st.number_input(
            "Documents page", min_value=1, value=1, step=1, key=f"knowledge-docs-page-{dataset_id}"
        )
    )
    listed = attempt(
        lambda: api().get(
            f"/console/api/datasets/{dataset_id}/documents", page=page, limit=DOCUMENT_PAGE
        ),
        "documents",
    )
    rows = records(listed)
    if not rows:
        st.info("No documents yet: upload files above.")
        return rows
    st.caption(f"{listed.get('total', len(rows)) if listed else len(rows)} documents")
    st.dataframe(  # pyright: ignore[reportUnknownMemberType]
        [
            {
                "name": d["name"],
                "status": d["display_status"],
                "indexing": d["indexing_status"],
                "characters": d["word_count"],
                "hits": d["hit_count"],
                "error": d.get("error") or "",
                "created": when(d.get("created_at")),
            }
            for d in rows
        ],
        hide_index=True,
        key=f"knowledge-docs-{dataset_id}",
    )
    return rows
