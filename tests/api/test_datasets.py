"""Knowledge bases through the API: CRUD on both mounts, keys, enable_api, tenant isolation,
validation, re-indexing on a model change, and retrieval without indexed data."""

from __future__ import annotations

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
)
from tideflow.activities.files import file_path
from tideflow.activities.knowledge.vector_store import close_vector_stores


@pytest.fixture(autouse=True)
def _close_vector_store() -> Iterator[None]:
    """The worker's vector store (Qdrant local mode locks its folder) is closed after."""
    yield
    close_vector_stores()


async def test_dataset_crud_on_both_mounts(api: Api) -> None:
    key = await dataset_key(api)
    created = await new_dataset(api, key, name="Product docs", description="the manual")
    assert created["indexing_technique"] == "economy"
    assert created["retrieval_model_dict"]["search_method"] == "keyword_search"
    assert isinstance(created["created_at"], int) and created["document_count"] == 0
    assert created["enable_api"] is True and created["doc_metadata"] == []

    seen = (await api.http.get(f"{CONSOLE}/datasets/{created['id']}", headers=api.console)).json()
    assert seen["name"] == "Product docs" and seen["description"] == "the manual"

    for name in ("alpha", "beta"):
        await new_dataset(api, api.console, prefix=CONSOLE, name=name)
    page1 = (await api.http.get(f"{V1}/datasets?page=1&limit=2", headers=key)).json()
    assert (page1["total"], page1["has_more"], page1["limit"], page1["page"]) == (3, True, 2, 1)
    page2 = (await api.http.get(f"{V1}/datasets?page=2&limit=2", headers=key)).json()
    assert len(page2["data"]) == 1 and page2["has_more"] is False
    names = {d["name"] for d in page1["data"] + page2["data"]}
    assert names == {"Product docs", "alpha", "beta"}
    found = (await api.http.get(f"{V1}/datasets?keyword=alp", headers=key)).json()
    assert [d["name"] for d in found["data"]] == ["alpha"]
    capped = (await api.http.get(f"{V1}/datasets?limit=500", headers=key)).json()
    assert capped["limit"] == 100

    duplicate = await api.http.post(f"{V1}/datasets", json={"name": "alpha"}, headers=key)
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "dataset_name_duplicate"
    path = f"{V1}/datasets/{created['id']}"
    clash = await api.http.patch(path, json={"name": "beta"}, headers=key)
    assert clash.status_code == 409, clash.text
    patched = await api.http.patch(path, json={"name": "Manual", "description": ""}, headers=key)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["description"]) == ("Manual", "")

    assert (await api.http.delete(path, headers=key)).status_code == 204
    gone = await api.http.get(path, headers=key)
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


async def test_keys_enable_api_and_tenant_isolation(api: Api) -> None:
    key = await dataset_key(api)
    dataset = await new_dataset(api, key)
    path = f"{V1}/datasets/{dataset['id']}"
    assert (await api.http.get(f"{V1}/datasets")).status_code == 401
    app_key = await api.app_key(await api.import_app("simple_passthrough_workflow.yml"))
    for wrong in (app_key, api.console, {"Authorization": "Bearer dataset-nope"}):
        response = await api.http.get(path, headers=wrong)
        assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    assert (await api.http.get(f"{CONSOLE}/datasets/{dataset['id']}")).status_code == 401

    # API access turned off: /v1 refuses, the console still works.
    off = await api.http.post(
        f"{CONSOLE}/datasets/{dataset['id']}/api-keys/disable", headers=api.console
    )
    assert off.status_code == 200, off.text
    refused = await api.http.get(path, headers=key)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert (await api.http.get(f"{path}/documents", headers=key)).status_code == 403
    console_path = f"{CONSOLE}/datasets/{dataset['id']}"
    assert (await api.http.get(console_path, headers=api.console)).json()["enable_api"] is False
    await api.http.post(f"{console_path}/api-keys/enable", headers=api.console)
    assert (await api.http.get(path, headers=key)).status_code == 200

    # Another workspace sees none of it, by key or by console.
    other_console = await api.other_tenant()
    other_key = await dataset_key(api, other_console)
    assert (await api.http.get(f"{V1}/datasets", headers=other_key)).json()["total"] == 0
    document = (await add_text(api, key, dataset["id"]))["document"]
    for headers, prefix in ((other_key, V1), (other_console, CONSOLE)):
        base = f"{prefix}/datasets/{dataset['id']}"
        assert (await api.http.get(base, headers=headers)).status_code == 404
        assert (await api.http.patch(base, json={"name": "x"}, headers=headers)).status_code == 404
        assert (await api.http.get(f"{base}/documents", headers=headers)).status_code == 404
        doc_path = f"{base}/documents/{document['id']}"
        assert (await api.http.delete(doc_path, headers=headers)).status_code == 404
        assert (await api.http.delete(base, headers=headers)).status_code == 404
    assert (await api.http.get(path, headers=key)).json()["document_count"] == 1


async def test_create_validation_and_embedding_model(api: Api) -> None:
    key = await dataset_key(api)
    for body, field in (
        ({"name": "   "}, "name"),
        ({"name": "x" * 41}, "name"),
        ({"name": "ok", "indexing_technique": "fast"}, "indexing_technique"),
        ({"name": "ok", "permission": "everyone"}, "permission"),
        ({"name": "ok", "retrieval_model": {"top_k": "many"}}, "retrieval_model.top_k"),
        ({"name": "ok", "indexing_technique": "high_quality"}, "embedding_model"),
        ({"name": "ok", "provider": "external"}, "provider"),
    ):
        response = await api.http.post(f"{V1}/datasets", json=body, headers=key)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["code"] == "invalid_param" and field in response.json()["message"]

    named = await new_dataset(
        api,
        key,
        name="hq",
        indexing_technique="high_quality",
        embedding_model="text-embedding-3-small",
        embedding_model_provider="openai",
    )
    assert (named["embedding_model"], named["embedding_model_provider"]) == (
        "text-embedding-3-small",
        "openai",
    )
    assert named["retrieval_model_dict"]["search_method"] == "semantic_search"

    # With a workspace default text-embedding model, none needs to be named.
    default = await api.http.post(
        f"{CONSOLE}/workspaces/current/default-model",
        json={
            "model_settings": [
                {"model_type": "text-embedding", "provider": "openai", "model": "emb-default"}
            ]
        },
        headers=api.console,
    )
    assert default.status_code == 200, default.text
    defaulted = await new_dataset(api, key, name="hq2", indexing_technique="high_quality")
    assert defaulted["embedding_model"] == "emb-default"

    back = await api.http.patch(
        f"{V1}/datasets/{named['id']}", json={"indexing_technique": "economy"}, headers=key
    )
    assert back.status_code == 400 and "economy" in back.json()["message"]


async def test_model_change_reindexes_every_document(api: Api) -> None:
    key = await dataset_key(api)
    dataset = await new_dataset(api, key)
    first = (await add_text(api, key, dataset["id"], name="one"))["document"]
    second = (await add_text(api, key, dataset["id"], name="two"))["document"]
    before = {d["id"]: document_row(api, d["id"]) for d in (first, second)}

    path = f"{V1}/datasets/{dataset['id']}"
    same = await api.http.patch(path, json={"description": "only this"}, headers=key)
    assert same.status_code == 200
    assert all(document_row(api, i).generation == r.generation for i, r in before.items())  # type: ignore[union-attr]

    upgraded = await api.http.patch(
        path,
        json={"indexing_technique": "high_quality", "embedding_model": "text-embedding-3-small"},
        headers=key,
    )
    assert upgraded.status_code == 400 and "embedding_model_provider" in upgraded.text
    upgraded = await api.http.patch(
        path,
        json={
            "indexing_technique": "high_quality",
            "embedding_model": "text-embedding-3-small",
            "embedding_model_provider": "openai",
        },
        headers=key,
    )
    assert upgraded.status_code == 200, upgraded.text
    assert upgraded.json()["indexing_technique"] == "high_quality"
    assert upgraded.json()["embedding_model"] == "text-embedding-3-small"
    for document_id, old in before.items():
        row = document_row(api, document_id)
        assert row is not None and old is not None and row.generation == old.generation + 1


async def test_delete_dataset_removes_rows_and_files(api: Api) -> None:
    key = await dataset_key(api)
    dataset = await new_dataset(api, key)
    created = await add_text(api, key, dataset["id"])
    store_id = created["document"]["data_source_info"]["upload_file_id"]
    assert file_path(store_id, api.settings).exists()
    assert (await api.http.delete(f"{V1}/datasets/{dataset['id']}", headers=key)).status_code == 204
    assert document_row(api, created["document"]["id"]) is None
    assert not file_path(store_id, api.settings).exists()


async def test_retrieve_validation_and_empty_dataset(api: Api) -> None:
    key = await dataset_key(api)
    dataset = await new_dataset(api, key)
    path = f"{V1}/datasets/{dataset['id']}/retrieve"
    for body in ({"retrieval_model": {}}, {"query": ""}, {"query": " "}, {"query": "q" * 251}):
        response = await api.http.post(path, json=body, headers=key)
        assert response.status_code == 400, (body, response.text)
        assert "query" in response.json()["message"]
    # Nothing indexed yet: no records, as Dify answers (the search is not even run).
    empty = await api.http.post(
        f"{CONSOLE}/datasets/{dataset['id']}/hit-testing",
        json={"query": "anything"},
        headers=api.console,
    )
    assert empty.status_code == 200, empty.text
    body = empty.json()
    assert body["query"] == {"content": "anything"} and body["records"] == []
    assert body["search_method"] == "keyword_search"
