"""Documents through the knowledge API, whatever the worker has done with them yet: creation
by text and by file, the checks on uploads, listing, status changes, pause / retry, deletion."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.api.conftest import Api
from tests.api.dataset_helpers import (
    CONSOLE,
    V1,
    add_text,
    dataset_key,
    document_row,
    new_dataset,
    set_document_row,
)
from tideflow.activities.files import file_path, load_file
from tideflow.activities.knowledge.vector_store import close_vector_stores
from tideflow.platform.settings import get_settings

# Where an ingestion may stand when looked at (the worker may already be at it).
LIFECYCLE = ("waiting", "parsing", "cleaning", "splitting", "indexing", "completed")


@pytest.fixture(autouse=True)
def _close_vector_store() -> Iterator[None]:
    """The worker's vector store (Qdrant local mode locks its folder) is closed after."""
    yield
    close_vector_stores()


async def test_create_by_text_stores_the_text_and_fixes_the_dataset(api: Api) -> None:
    key = await dataset_key(api)
    dataset = await new_dataset(api, key, indexing_technique=None)
    base = f"{V1}/datasets/{dataset['id']}"
    needs = await api.http.post(
        f"{base}/document/create-by-text", json={"name": "a", "text": "b"}, headers=key
    )
    assert needs.status_code == 400 and "indexing_technique" in needs.json()["message"]

    created = await add_text(api, key, dataset["id"], name="guide", indexing_technique="economy")
    document = created["document"]
    assert isinstance(created["batch"], str) and len(created["batch"]) == 20
    assert (document["name"], document["indexing_status"]) == ("guide", "waiting")
    assert document["display_status"] == "queuing" and document["data_source_type"] == "upload_file"
    upload = document["data_source_detail_dict"]["upload_file"]
    assert (upload["name"], upload["extension"]) == ("guide.txt", "txt")
    row = document_row(api, document["id"])
    assert row is not None
    stored = load_file(
        document["data_source_info"]["upload_file_id"], api.settings, tenant_id=row.tenant_id
    )
    assert stored == b"Tideflow runs every app graph as one Temporal workflow."

    # The first document fixed the dataset's technique and chunk mode.
    seen = (await api.http.get(base, headers=key)).json()
    assert (seen["indexing_technique"], seen["doc_form"]) == ("economy", "text_model")
    assert (seen["document_count"], seen["data_source_type"]) == (1, "upload_file")
    other_form = await api.http.post(
        f"{base}/document/create_by_text",
        json={"name": "q", "text": "q?", "doc_form": "qa_model"},
        headers=key,
    )
    assert other_form.status_code == 400 and "doc_form" in other_form.json()["message"]
    alias = await add_text(api, key, dataset["id"], name="second", text="more")
    assert alias["batch"] != created["batch"] and alias["document"]["position"] == 2

    status = await api.http.get(f"{base}/documents/{created['batch']}/indexing-status", headers=key)
    assert status.status_code == 200, status.text
    entry = status.json()["data"][0]
    assert entry["id"] == document["id"] and entry["indexing_status"] in LIFECYCLE
    assert entry["completed_segments"] <= entry["total_segments"]
    assert set(entry) >= {"processing_started_at", "parsing_completed_at", "paused_at", "error"}
    missing = await api.http.get(
        f"{base}/documents/20990101000000000000/indexing-status", headers=key
    )
    assert missing.status_code == 404

    row = document_row(api, document["id"])
    assert row is not None and row.generation == 1 and row.process_rule == {"mode": "automatic"}
    for body in ({"name": "x", "text": "   "}, {"name": "", "text": "x"}, {"text": "x"}):
        bad = await api.http.post(f"{base}/document/create-by-text", json=body, headers=key)
        assert bad.status_code == 400, (body, bad.text)


async def test_create_by_file_checks_type_size_and_options(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await dataset_key(api)
    dataset = await new_dataset(api, key)
    url = f"{V1}/datasets/{dataset['id']}/document/create-by-file"
    rule = {"mode": "custom", "rules": {"segmentation": {"separator": "###", "max_tokens": 200}}}
    ok = await api.http.post(
        url,
        files={"file": ("readme.md", b"# Title\n\nBody text.", "text/markdown")},
        data={"data": json.dumps({"process_rule": rule})},
        headers=key,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["document"]["name"] == "readme.md"
    row = document_row(api, ok.json()["document"]["id"])
    assert row is not None and row.process_rule["rules"]["segmentation"]["separator"] == "###"
    assert (row.source_extension, row.source_size) == ("md", 19)

    exe = await api.http.post(url, files={"file": ("tool.exe", b"MZ")}, headers=key)
    assert exe.status_code == 400 and exe.json()["code"] == "unsupported_file_type"
    assert ".exe" in exe.json()["message"]
    none = await api.http.post(url, data={"data": "{}"}, headers=key)
    assert none.status_code == 400 and none.json()["code"] == "no_file_uploaded"
    for data, field in (
        ("{not json", "data"),
        (json.dumps({"process_rule": {"mode": "custom"}}), "process_rule.rules"),
        (json.dumps({"process_rule": {"mode": "fast"}}), "process_rule.mode"),
        (json.dumps({"doc_form": "poems"}), "data.doc_form"),
    ):
        bad = await api.http.post(
            url, files={"file": ("a.txt", b"x")}, data={"data": data}, headers=key
        )
        assert bad.status_code == 400 and field in bad.json()["message"], bad.text

    monkeypatch.setenv("TIDEFLOW_DATASET_FILE_MAX_BYTES", "1024")
    get_settings.cache_clear()
    big = await api.http.post(url, files={"file": ("big.txt", b"x" * 1025)}, headers=key)
    assert big.status_code == 413 and big.json()["code"] == "file_too_large"
    listed = (await api.http.get(f"{V1}/datasets/{dataset['id']}/documents", headers=key)).json()
    assert listed["total"] == 1


async def test_console_upload_of_several_files_is_one_batch(api: Api) -> None:
    dataset = await new_dataset(api, api.console, prefix=CONSOLE)
    url = f"{CONSOLE}/datasets/{dataset['id']}/documents"
    files = [("files", ("a.txt", b"first file")), ("files", ("b.csv", b"k,v\n1,2"))]
    response = await api.http.post(url, files=files, headers=api.console)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [d["name"] for d in body["documents"]] == ["a.txt", "b.csv"]
    assert body["dataset"]["document_count"] == 2
    status = await api.http.get(
        f"{CONSOLE}/datasets/{dataset['id']}/documents/{body['batch']}/indexing-status",
        headers=api.console,
    )
    assert len(status.json()["data"]) == 2
    bad = await api.http.post(
        url, files=[("files", ("ok.txt", b"x")), ("files", ("no.bin", b"x"))], headers=api.console
    )
    assert bad.status_code == 400 and "files[1]" in bad.json()["message"]
    # Only the console has this upload.
    key = await dataset_key(api)
    v1 = await api.http.post(f"{V1}/datasets/{dataset['id']}/documents", files=files, headers=key)
    assert v1.status_code == 405


async def test_list_read_status_and_delete(api: Api) -> None:
    key = await dataset_key(api)
    dataset = await new_dataset(api, key)
    base = f"{V1}/datasets/{dataset['id']}"
    docs = [(await add_text(api, key, dataset["id"], name=n))["document"] for n in "abc"]
    page = (await api.http.get(f"{base}/documents?limit=2", headers=key)).json()
    assert (page["total"], page["has_more"], len(page["data"])) == (3, True, 2)
    assert [d["name"] for d in page["data"]] == ["c", "b"]  # newest first
    # A failed document (a newer generation: a run still going cannot overwrite it).
    failed = document_row(api, docs[1]["id"])
    assert failed is not None
    set_document_row(api, failed.id, indexing_status="error", generation=failed.generation + 1)
    errors = (await api.http.get(f"{base}/documents?status=error&keyword=b", headers=key)).json()
    assert [d["name"] for d in errors["data"]] == ["b"]
    for shown in ("queuing", "indexing", "available", "error"):
        listed = (await api.http.get(f"{base}/documents?status={shown}", headers=key)).json()
        assert all(d["display_status"] == shown for d in listed["data"]), listed
    assert (await api.http.get(f"{base}/documents?status=done", headers=key)).status_code == 400

    detail = (await api.http.get(f"{base}/documents/{docs[0]['id']}", headers=key)).json()
    assert detail["segment_count"] >= 0 and detail["doc_language"] == "English"
    assert detail["document_process_rule"] == {"mode": "automatic"}
    only = await api.http.get(f"{base}/documents/{docs[0]['id']}?metadata=only", headers=key)
    assert set(only.json()) == {"id", "doc_type", "doc_metadata"}

    status = f"{base}/documents/status"
    ids = {"document_ids": [docs[0]["id"]]}
    not_done = await api.http.patch(
        f"{status}/disable", json={"document_ids": [failed.id]}, headers=key
    )
    assert not_done.status_code == 400 and not_done.json()["code"] == "invalid_action"
    assert (await api.http.patch(f"{status}/explode", json=ids, headers=key)).status_code == 400
    unknown = await api.http.patch(
        f"{status}/archive", json={"document_ids": ["nope"]}, headers=key
    )
    assert unknown.status_code == 404
    assert (await api.http.patch(f"{status}/archive", json=ids, headers=key)).status_code == 200
    assert document_row(api, docs[0]["id"]).archived  # type: ignore[union-attr]
    doc_path = f"{base}/documents/{docs[0]['id']}"
    immutable = await api.http.delete(doc_path, headers=key)
    assert (
        immutable.status_code == 403 and immutable.json()["code"] == "archived_document_immutable"
    )
    assert (await api.http.patch(f"{status}/un_archive", json=ids, headers=key)).status_code == 200

    store_id = docs[0]["data_source_info"]["upload_file_id"]
    assert (await api.http.delete(doc_path, headers=key)).status_code == 204
    assert (await api.http.get(doc_path, headers=key)).status_code == 404
    assert not file_path(store_id, api.settings).exists()
    assert (await api.http.get(base, headers=key)).json()["document_count"] == 2


async def test_pause_and_retry_need_the_right_state(api: Api) -> None:
    key = await dataset_key(api)
    dataset = await new_dataset(api, key)
    document = (await add_text(api, key, dataset["id"]))["document"]
    base = f"{V1}/datasets/{dataset['id']}"
    # A failed ingestion (a newer generation, so a run still going cannot overwrite it).
    row = document_row(api, document["id"])
    assert row is not None
    set_document_row(
        api, document["id"], indexing_status="error", error="boom", generation=row.generation + 1
    )
    pause = await api.http.patch(f"{base}/documents/{document['id']}/processing/pause", headers=key)
    assert pause.status_code == 400 and pause.json()["code"] == "document_indexing"
    listed = (await api.http.get(f"{base}/documents?status=error", headers=key)).json()
    assert [d["error"] for d in listed["data"]] == ["boom"]

    retried = await api.http.post(
        f"{base}/retry", json={"document_ids": [document["id"]]}, headers=key
    )
    assert retried.status_code == 204, retried.text
    after = document_row(api, document["id"])
    assert after is not None and after.generation == row.generation + 2
    assert after.indexing_status != "error" and after.error is None
    again = await api.http.post(
        f"{base}/retry", json={"document_ids": [document["id"]]}, headers=key
    )
    assert again.status_code == 400 and "document_ids" in again.json()["message"]
    missing = await api.http.post(f"{base}/retry", json={"document_ids": ["x"]}, headers=key)
    assert missing.status_code == 404


async def test_update_by_text_replaces_the_source(api: Api) -> None:
    key = await dataset_key(api)
    dataset = await new_dataset(api, key)
    created = await add_text(api, key, dataset["id"], name="v1", text="old text")
    document = created["document"]
    old_store = document["data_source_info"]["upload_file_id"]
    url = f"{V1}/datasets/{dataset['id']}/documents/{document['id']}/update-by-text"
    updated = await api.http.post(url, json={"name": "v2", "text": "new text"}, headers=key)
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["batch"] == created["batch"] and body["document"]["name"] == "v2"
    new_store = body["document"]["data_source_info"]["upload_file_id"]
    row = document_row(api, document["id"])
    assert row is not None
    assert load_file(new_store, api.settings, tenant_id=row.tenant_id) == b"new text"
    assert not file_path(old_store, api.settings).exists()
    assert row is not None and row.generation == 2
