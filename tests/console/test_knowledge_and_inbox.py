"""The Knowledge and Inbox pages in Chromium: a knowledge base made, filled and searched through
the page; a paused run's human-input form answered from the inbox."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest
import yaml
from streamlit.testing.v1 import AppTest

from tests.console.conftest import ARTIFACTS, Stack, open_page, wait_idle
from tests.runtime.test_human_input import FORM
from tideflow.console.api_client import TOKEN_KEY
from tideflow.platform.settings import get_settings

PARAGRAPHS = [
    "Tideflow runs every app graph as one durable Temporal workflow.",
    "The harbour pilot guides each tanker through the narrow channel at dawn.",
    "Lighthouse keepers log the fog horn hours in a leather book.",
    "Container cranes unload bananas from the reefer ships on the south quay.",
]


def _shot(page: Any, element: Any, name: str) -> None:
    """A screenshot of a step, with ``element`` scrolled into view."""
    element.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"knowledge_and_inbox-{name}.png"))


def test_knowledge_base_upload_browse_and_hit_test(page: Any, stack: Stack) -> None:
    open_page(page, "Knowledge")
    page.get_by_text("New knowledge base").click()
    # Each click reruns the page; one made during a rerun can be lost (seen in CI, where a
    # fresh checkout renders its first pages slower), so each waits for the last to finish.
    wait_idle(page)
    # high_quality without an embedding model (and no workspace default): the API says why.
    page.get_by_text("High quality: vector index with an embedding model").click()
    wait_idle(page)
    page.get_by_label("Embedding model", exact=True).wait_for()
    page.get_by_label("Knowledge base name").fill("Vectors")
    page.get_by_role("button", name="Create knowledge base").click()
    page.get_by_text("create: embedding_model: high_quality indexing needs").wait_for()
    assert stack.call("GET", "/console/api/datasets")["data"] == []

    page.get_by_text("Economy: full-text keyword index, no embedding model").click()
    wait_idle(page)
    page.get_by_label("Knowledge base name").fill("Harbour notes")
    page.get_by_role("button", name="Create knowledge base").click()
    page.get_by_text("Created Harbour notes").wait_for()
    wait_idle(page)
    [dataset] = stack.call("GET", "/console/api/datasets")["data"]
    assert (dataset["name"], dataset["indexing_technique"]) == ("Harbour notes", "economy")

    # One chunk a paragraph: custom chunking on the blank line.
    page.get_by_text("Custom chunking").click()
    wait_idle(page)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[
            {
                "name": "harbour.txt",
                "mimeType": "text/plain",
                "buffer": "\n\n".join(PARAGRAPHS).encode(),
            }
        ]
    )
    page.get_by_role("button", name="Upload and index").click()
    progress = page.get_by_text("harbour.txt: completed (4/4 chunks)")
    progress.wait_for(timeout=90_000)
    wait_idle(page)
    _shot(page, progress, "progress")
    [document] = stack.call("GET", f"/console/api/datasets/{dataset['id']}/documents")["data"]
    assert (document["name"], document["display_status"]) == ("harbour.txt", "available")

    page.get_by_role("tab", name="Chunks").click()
    page.get_by_text("4 chunks · page 1 of 1").wait_for()
    page.get_by_label("Filter chunks by keyword").fill("fog")
    page.get_by_label("Filter chunks by keyword").press("Enter")
    page.get_by_text("1 chunk matching 'fog' · page 1 of 1").wait_for()
    page.get_by_text(PARAGRAPHS[2]).first.wait_for()
    _shot(page, page.get_by_text(PARAGRAPHS[2]).first, "chunks")
    assert page.get_by_text(PARAGRAPHS[1]).count() == 0

    page.get_by_role("tab", name="Hit testing").click()
    page.get_by_label("Query").fill("harbour pilot tanker")
    page.get_by_role("button", name="Test retrieval").click()
    page.get_by_text("for 'harbour pilot tanker'").wait_for()
    wait_idle(page)
    page.get_by_text(re.compile(r"^Score \d+\.\d{3} · harbour\.txt · chunk 2$")).wait_for()
    page.get_by_text(PARAGRAPHS[1]).wait_for()
    _shot(page, page.get_by_text(PARAGRAPHS[1]), "hits")
    assert page.get_by_text("1 record for 'harbour pilot tanker' · keyword_search").count() == 1


def _follow_uploads(dataset_id: str, followed: str) -> None:
    """An AppTest script: the Knowledge page's upload section, following the uploads in
    ``followed`` (JSON)."""
    import json

    import streamlit as st

    from tideflow.console.knowledge_documents import upload

    st.session_state.setdefault(f"knowledge-followed-{dataset_id}", json.loads(followed))
    upload({"id": dataset_id})


def test_documents_deleted_elsewhere_are_no_longer_followed(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = stack.call(
        "POST", "/console/api/datasets", json={"name": "Let go", "indexing_technique": "economy"}
    )
    base = f"/console/api/datasets/{dataset['id']}/documents"
    made = stack.call(
        "POST",
        base,
        files=[
            ("files", (n, b"Buoys mark the channel.", "text/plain"))
            for n in ("kept.txt", "lost.txt")
        ],
        data={"data": json.dumps({"process_rule": {"mode": "automatic"}})},
    )
    names = {str(d["id"]): str(d["name"]) for d in made["documents"]}
    stack.call("DELETE", f"{base}/{next(i for i, n in names.items() if n == 'lost.txt')}")
    followed = [
        {"batch": made["batch"], "names": names, "status": {}},  # one of its two deleted
        {"batch": "deleted-batch", "names": {"gone-id": "vanished"}, "status": {}},  # all of it
    ]
    monkeypatch.setenv("TIDEFLOW_API_URL", stack.api)
    get_settings.cache_clear()
    try:
        app = AppTest.from_function(
            _follow_uploads, args=(dataset["id"], json.dumps(followed)), default_timeout=30
        )
        app.session_state[TOKEN_KEY] = stack.token
        for _ in range(60):  # a poll a run, as the page's fragment does each second
            app.run()
            if [b for b in app.button if b.label == "Clear progress"]:
                break
            time.sleep(0.5)
    finally:
        get_settings.cache_clear()
    assert [e.value for e in app.exception] == [] and [e.value for e in app.error] == []
    assert [b.label for b in app.button if b.label == "Clear progress"] == ["Clear progress"]
    assert [w.value for w in app.warning] == [
        f"{name}: the API no longer reports this document (deleted?): no longer following it"
        for name in ("lost.txt", "vanished")
    ]
    assert [p.text for p in app.progress] == ["kept.txt: completed (1/1 chunks)"]


def _review_app() -> str:
    """A workflow that pauses on the runtime tests' review form (comment, level; approve or
    reject) and ends with the comment when approved."""
    topic = {"variable": "topic", "label": "topic", "type": "text-input", "required": True}
    end = {"variable": "comment", "value_selector": ["human", "comment"], "value_type": "string"}
    nodes = [
        {"id": "start", "data": {"type": "start", "title": "Start", "variables": [topic]}},
        {"id": "human", "data": {"type": "human-input", "title": "Review", **FORM}},
        {"id": "ok", "data": {"type": "end", "title": "ok", "outputs": [end]}},
        {"id": "no", "data": {"type": "end", "title": "no", "outputs": []}},
    ]
    edges = [
        {"id": "e1", "source": "start", "target": "human", "sourceHandle": "source"},
        {"id": "e2", "source": "human", "target": "ok", "sourceHandle": "approve"},
        {"id": "e3", "source": "human", "target": "no", "sourceHandle": "reject"},
    ]
    graph = {"nodes": nodes, "edges": edges}
    return yaml.safe_dump(
        {
            "app": {"mode": "workflow", "name": "review"},
            "kind": "app",
            "version": "0.3.0",
            "workflow": {"graph": graph, "features": {}},
        }
    )


def test_inbox_answers_a_paused_run(page: Any, stack: Stack) -> None:
    imported = stack.call("POST", "/console/api/apps/imports", json={"yaml_content": _review_app()})
    app_id = imported["app_id"]
    stack.call("POST", f"/console/api/apps/{app_id}/workflows/publish")
    token = stack.call("POST", f"/console/api/apps/{app_id}/api-keys")["token"]
    key = {"Authorization": f"Bearer {token}"}
    body = {"inputs": {"topic": "the plan"}, "user": "alice", "response_mode": "blocking"}
    # A blocking run answers once it pauses on the form.
    started = httpx.post(f"{stack.api}/v1/workflows/run", json=body, headers=key, timeout=60)
    assert started.status_code == 200, started.text
    run_id = started.json()["workflow_run_id"]
    assert started.json()["data"]["status"] == "paused"

    open_page(page, "Inbox")
    page.get_by_text("Review · review · waiting").wait_for()
    page.get_by_text("Review the plan.").wait_for()
    page.get_by_role("button", name="Open").click()
    wait_idle(page)
    page.get_by_label("comment").fill("ship it")
    _shot(page, page.get_by_role("button", name="Approve"), "form")
    page.get_by_role("button", name="Approve").click()
    page.get_by_text("Submitted Review (approve): the run goes on.").wait_for()
    wait_idle(page)
    page.get_by_text("No forms waiting").wait_for()

    run: dict[str, Any] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = httpx.get(f"{stack.api}/v1/workflows/run/{run_id}", headers=key, timeout=30).json()
        if run["status"] not in ("running", "paused"):
            break
        time.sleep(0.2)
    assert run["status"] == "succeeded", run
    assert run["outputs"] == {"comment": "ship it"}
    [form] = stack.call("GET", "/console/api/human-input/forms", params={"status": "submitted"})[
        "data"
    ]
    assert (form["action_id"], form["submitted_data"]) == (
        "approve",
        {"comment": "ship it", "level": "low"},
    )
