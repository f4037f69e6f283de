"""Metadata of a knowledge base through the API: fields, built-in fields, typed document
values, renames and deletions that follow into every document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.dataset_helpers import CONSOLE, V1, add_text, dataset_key, new_dataset
from tideflow.activities.knowledge.vector_store import close_vector_stores


@pytest.fixture(autouse=True)
def _close_vector_store() -> Iterator[None]:
    """The worker's vector store (Qdrant local mode locks its folder) is closed after."""
    yield
    close_vector_stores()


async def _fields(api: Api, base: str, key: dict[str, str]) -> dict[str, Any]:
    response = await api.http.get(f"{base}/metadata", headers=key)
    assert response.status_code == 200, response.text
    listed: dict[str, Any] = response.json()
    return listed


async def _values(api: Api, base: str, document_id: str, key: dict[str, str]) -> dict[str, Any]:
    detail = (await api.http.get(f"{base}/documents/{document_id}", headers=key)).json()
    return {m["name"]: m["value"] for m in detail["doc_metadata"]}


async def test_fields_and_typed_document_values(api: Api) -> None:
    key = await dataset_key(api)
    dataset = await new_dataset(api, key)
    base = f"{V1}/datasets/{dataset['id']}"
    ids: dict[str, str] = {}
    for name, type_ in (("author", "string"), ("pages", "number"), ("published", "time")):
        created = await api.http.post(
            f"{base}/metadata", json={"type": type_, "name": name}, headers=key
        )
        assert created.status_code == 201, created.text
        assert created.json()["type"] == type_
        ids[name] = created.json()["id"]
    for body, field in (
        ({"type": "string", "name": "author"}, "name"),
        ({"type": "string", "name": "document_name"}, "name"),
        ({"type": "date", "name": "when"}, "type"),
        ({"type": "string", "name": " "}, "name"),
    ):
        bad = await api.http.post(f"{base}/metadata", json=body, headers=key)
        assert bad.status_code == 400 and field in bad.json()["message"], (body, bad.text)
    listed = await _fields(api, base, key)
    assert [(f["name"], f["count"]) for f in listed["doc_metadata"]] == [
        ("author", 0),
        ("pages", 0),
        ("published", 0),
    ]
    assert listed["built_in_field_enabled"] is False
    dataset_view = (await api.http.get(base, headers=key)).json()
    assert {f["name"] for f in dataset_view["doc_metadata"]} == {"author", "pages", "published"}

    document = (await add_text(api, key, dataset["id"]))["document"]
    url = f"{base}/documents/metadata"

    def values(*items: tuple[str, Any], partial: bool = False) -> dict[str, Any]:
        listed = [{"id": ids[n], "name": n, "value": v} for n, v in items]
        return {
            "operation_data": [
                {"document_id": document["id"], "metadata_list": listed, "partial_update": partial}
            ]
        }

    ok = await api.http.post(
        url,
        json=values(("author", "Ada"), ("pages", "12.5"), ("published", 1700000000)),
        headers=key,
    )
    assert ok.status_code == 200 and ok.json() == {"result": "success"}
    assert await _values(api, base, document["id"], key) == {
        "author": "Ada",
        "pages": 12.5,
        "published": 1700000000,
    }
    for items, where in (
        ((("pages", "many"),), "metadata_list[0].value"),
        ((("author", "x"), ("published", "yesterday")), "metadata_list[1].value"),
        ((("published", 1.5),), "metadata_list[0].value"),
        ((("pages", True),), "metadata_list[0].value"),
    ):
        bad = await api.http.post(url, json=values(*items), headers=key)
        assert bad.status_code == 400 and where in bad.json()["message"], (items, bad.text)
    unknown = values(("author", "x"))
    unknown["operation_data"][0]["metadata_list"][0]["id"] = "nope"
    assert (await api.http.post(url, json=unknown, headers=key)).status_code == 400
    stranger = values(("author", "x"))
    stranger["operation_data"][0]["document_id"] = "nope"
    assert (await api.http.post(url, json=stranger, headers=key)).status_code == 404

    # A partial update keeps the other values; a full one replaces them.
    await api.http.post(url, json=values(("pages", 3), partial=True), headers=key)
    assert (await _values(api, base, document["id"], key))["author"] == "Ada"
    await api.http.post(url, json=values(("pages", 4)), headers=key)
    assert await _values(api, base, document["id"], key) == {"pages": 4}
    counts = {f["name"]: f["count"] for f in (await _fields(api, base, key))["doc_metadata"]}
    assert counts == {"author": 0, "pages": 1, "published": 0}

    # Renaming and deleting a field follow into the documents.
    renamed = await api.http.patch(
        f"{base}/metadata/{ids['pages']}", json={"name": "page_count"}, headers=key
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "page_count"
    assert await _values(api, base, document["id"], key) == {"page_count": 4}
    clash = await api.http.patch(
        f"{base}/metadata/{ids['author']}", json={"name": "page_count"}, headers=key
    )
    assert clash.status_code == 400
    deleted = await api.http.delete(f"{base}/metadata/{ids['pages']}", headers=key)
    assert deleted.status_code == 204
    assert await _values(api, base, document["id"], key) == {}
    assert (
        await api.http.delete(f"{base}/metadata/{ids['pages']}", headers=key)
    ).status_code == 404


async def test_built_in_fields_and_isolation(api: Api) -> None:
    key = await dataset_key(api)
    dataset = await new_dataset(api, key)
    base = f"{V1}/datasets/{dataset['id']}"
    document = (await add_text(api, key, dataset["id"], name="manual"))["document"]
    fields = (await api.http.get(f"{base}/metadata/built-in", headers=key)).json()["fields"]
    assert [f["name"] for f in fields] == [
        "document_name",
        "uploader",
        "upload_date",
        "last_update_date",
        "source",
    ]
    enabled = await api.http.post(f"{base}/metadata/built-in/enable", headers=key)
    assert enabled.status_code == 200
    assert (await _fields(api, base, key))["built_in_field_enabled"] is True
    detail = (await api.http.get(f"{base}/documents/{document['id']}", headers=key)).json()
    built_in = {m["name"]: m for m in detail["doc_metadata"]}
    assert built_in["document_name"]["value"] == "manual"
    assert built_in["source"]["value"] == "file_upload"
    assert built_in["upload_date"]["type"] == "time"
    assert isinstance(built_in["upload_date"]["value"], int)
    # Stored with the document (so filters can use them); a later document gets them too.
    later = (await add_text(api, key, dataset["id"], name="later"))["document"]
    later_names = {
        m["name"]
        for m in (await api.http.get(f"{base}/documents/{later['id']}", headers=key)).json()[
            "doc_metadata"
        ]
    }
    assert "document_name" in later_names
    counts = {f["name"]: f["count"] for f in (await _fields(api, base, key))["doc_metadata"]}
    assert counts == {}
    await api.http.post(f"{base}/metadata/built-in/disable", headers=key)
    detail = (await api.http.get(f"{base}/documents/{document['id']}", headers=key)).json()
    assert detail["doc_metadata"] == []

    other = await api.other_tenant()
    other_base = f"{CONSOLE}/datasets/{dataset['id']}"
    assert (await api.http.get(f"{other_base}/metadata", headers=other)).status_code == 404
    refused = await api.http.post(
        f"{other_base}/metadata", json={"type": "string", "name": "x"}, headers=other
    )
    assert refused.status_code == 404
