"""End to end through the knowledge API and a real worker: documents are ingested (parse,
split, index), searched, edited segment by segment, and deleted.

Economy datasets are searched by keyword; high_quality ones embed through the fake
OpenAI-compatible server (``gateway``), whose vectors come from a hash of the text, so a query
equal to a segment's text finds exactly that segment.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.dataset_helpers import V1, add_text, dataset_key, new_dataset
from tests.fakes.openai_server import FakeLLMServer
from tideflow.activities.knowledge.vector_store import close_vector_stores

INDEXING_TIMEOUT_S = 60.0
ANIMALS = (
    "Sea otters hold hands while sleeping so that they do not drift apart.\n\n"
    "The Pacific salmon swims back to the river where it hatched in order to spawn."
)
COASTS = "Lighthouses guided sailors along rocky coasts long before satellite navigation."
RULE = {
    "mode": "custom",
    "rules": {
        "pre_processing_rules": [],
        "segmentation": {"separator": "\n\n", "max_tokens": 100, "chunk_overlap": 0},
    },
}


@pytest.fixture(autouse=True)
def _close_vector_store() -> Iterator[None]:
    """The worker's vector store (Qdrant local mode locks its folder) is closed after."""
    yield
    close_vector_stores()


async def _indexed(api: Api, key: dict[str, str], dataset_id: str, batch: str) -> None:
    """Wait until every document of the batch is ``completed`` (failing on ``error``)."""
    deadline = time.monotonic() + INDEXING_TIMEOUT_S
    url = f"{V1}/datasets/{dataset_id}/documents/{batch}/indexing-status"
    while True:
        response = await api.http.get(url, headers=key)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        states = [d["indexing_status"] for d in data]
        assert "error" not in states, data
        if all(s == "completed" for s in states):
            assert all(d["completed_segments"] == d["total_segments"] > 0 for d in data), data
            return
        assert time.monotonic() < deadline, f"not indexed in {INDEXING_TIMEOUT_S} s: {data}"
        await asyncio.sleep(0.2)


async def _search(
    api: Api, key: dict[str, str], dataset_id: str, query: str, method: str
) -> dict[str, Any]:
    response = await api.http.post(
        f"{V1}/datasets/{dataset_id}/retrieve",
        json={"query": query, "retrieval_model": {"search_method": method, "top_k": 3}},
        headers=key,
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def _segments(api: Api, key: dict[str, str], dataset_id: str, document_id: str) -> list[Any]:
    url = f"{V1}/datasets/{dataset_id}/documents/{document_id}/segments"
    response = await api.http.get(url, headers=key)
    assert response.status_code == 200, response.text
    segments: list[Any] = response.json()["data"]
    return segments


async def test_economy_ingest_search_edit_delete(api: Api) -> None:
    key = await dataset_key(api)
    dataset = await new_dataset(api, key)
    animals = await add_text(
        api, key, dataset["id"], name="animals", text=ANIMALS, process_rule=RULE
    )
    coasts = await add_text(api, key, dataset["id"], name="coasts", text=COASTS, process_rule=RULE)
    await _indexed(api, key, dataset["id"], animals["batch"])
    await _indexed(api, key, dataset["id"], coasts["batch"])
    animal_id = animals["document"]["id"]

    segments = await _segments(api, key, dataset["id"], animal_id)
    assert segments and all(s["status"] == "completed" for s in segments)
    done = f"{V1}/datasets/{dataset['id']}/documents/{animal_id}/processing"
    for action in ("pause", "resume"):
        refused = await api.http.patch(f"{done}/{action}", headers=key)
        assert refused.status_code == 400 and refused.json()["code"] == "document_indexing"
    assert "salmon" in " ".join(s["content"] for s in segments)

    found = await _search(api, key, dataset["id"], "salmon river", "keyword_search")
    assert found["records"], found
    top = found["records"][0]["segment"]
    assert "salmon" in top["content"] and top["document"]["id"] == animal_id
    assert found["search_method"] and isinstance(found["notes"], list)
    # Bad search settings are a 400 naming the field, not a retried failure.
    for model, field in (
        (
            {
                "reranking_mode": "weighted_score",
                "weights": {"vector_setting": {"vector_weight": -1}},
            },
            "vector_weight",
        ),
        (
            {
                "metadata_filtering_conditions": {
                    "conditions": [{"name": "year", "comparison_operator": ">", "value": "abc"}]
                }
            },
            "conditions[0].value",
        ),
    ):
        refused = await api.http.post(
            f"{V1}/datasets/{dataset['id']}/retrieve",
            json={
                "query": "salmon",
                "retrieval_model": {"search_method": "hybrid_search", **model},
            },
            headers=key,
        )
        assert refused.status_code == 400 and field in refused.json()["message"], refused.text
    # No embedding model (economy): a semantic search still answers, full-text, and says so.
    found = await _search(api, key, dataset["id"], "salmon river", "semantic_search")
    assert "salmon" in found["records"][0]["segment"]["content"]
    [note] = found["notes"]
    assert "no embedding model" in note and "full-text search used" in note

    # A segment added through the API is indexed and found.
    base = f"{V1}/datasets/{dataset['id']}/documents/{animal_id}/segments"
    added = await api.http.post(
        base, json={"segments": [{"content": "Puffins dive deep to catch sand eels."}]}, headers=key
    )
    assert added.status_code == 200, added.text
    puffin = added.json()["data"][0]
    assert puffin["status"] == "completed", puffin
    found = await _search(api, key, dataset["id"], "puffins sand eels", "keyword_search")
    assert puffin["id"] in [r["segment"]["id"] for r in found["records"]]

    # Edited text is indexed again; a disabled segment is not returned.
    edited = await api.http.post(
        f"{base}/{puffin['id']}",
        json={"segment": {"content": "Albatrosses glide for hours without flapping."}},
        headers=key,
    )
    assert edited.status_code == 200 and edited.json()["data"]["status"] == "completed"
    found = await _search(api, key, dataset["id"], "albatrosses glide", "keyword_search")
    assert found["records"][0]["segment"]["id"] == puffin["id"]
    await api.http.post(f"{base}/{puffin['id']}", json={"segment": {"enabled": False}}, headers=key)
    found = await _search(api, key, dataset["id"], "albatrosses glide", "keyword_search")
    assert puffin["id"] not in [r["segment"]["id"] for r in found["records"]]

    # Deleting a segment removes only its vectors: the document's others are still found.
    salmon = next(s for s in segments if "salmon" in s["content"])
    otters = next(s for s in segments if "otters" in s["content"])
    assert (await api.http.delete(f"{base}/{salmon['id']}", headers=key)).status_code == 204
    found = await _search(api, key, dataset["id"], "salmon river", "keyword_search")
    assert salmon["id"] not in [r["segment"]["id"] for r in found["records"]]
    found = await _search(api, key, dataset["id"], "otters sleeping", "keyword_search")
    assert found["records"][0]["segment"]["id"] == otters["id"]

    # Deleting the document removes it from search; the other document stays.
    deleted = await api.http.delete(
        f"{V1}/datasets/{dataset['id']}/documents/{animal_id}", headers=key
    )
    assert deleted.status_code == 204
    found = await _search(api, key, dataset["id"], "otters sleeping", "keyword_search")
    assert all(r["segment"]["document"]["id"] != animal_id for r in found["records"])
    found = await _search(api, key, dataset["id"], "lighthouses sailors", "keyword_search")
    assert found["records"][0]["segment"]["document"]["id"] == coasts["document"]["id"]


async def test_high_quality_ingest_search_delete(api: Api, gateway: FakeLLMServer) -> None:
    del gateway  # model calls of the worker go to the fake server
    key = await dataset_key(api)
    dataset = await new_dataset(
        api,
        key,
        indexing_technique="high_quality",
        embedding_model="text-embedding-3-small",
        embedding_model_provider="openai",
    )
    animals = await add_text(
        api, key, dataset["id"], name="animals", text=ANIMALS, process_rule=RULE
    )
    coasts = await add_text(api, key, dataset["id"], name="coasts", text=COASTS, process_rule=RULE)
    await _indexed(api, key, dataset["id"], animals["batch"])
    await _indexed(api, key, dataset["id"], coasts["batch"])
    animal_id = animals["document"]["id"]

    segments = await _segments(api, key, dataset["id"], animal_id)
    assert segments
    target = segments[-1]
    found = await _search(api, key, dataset["id"], target["content"], "semantic_search")
    assert found["records"], found
    best = found["records"][0]
    assert best["segment"]["id"] == target["id"] and best["score"] > 0.99
    assert best["segment"]["document"] == {
        "id": animal_id,
        "data_source_type": "upload_file",
        "name": "animals",
        "doc_type": None,
        "doc_metadata": None,
    }

    deleted = await api.http.delete(
        f"{V1}/datasets/{dataset['id']}/documents/{animal_id}", headers=key
    )
    assert deleted.status_code == 204
    found = await _search(api, key, dataset["id"], target["content"], "semantic_search")
    assert all(r["segment"]["document"]["id"] != animal_id for r in found["records"])
    # Deleting the dataset drops its vectors and rows.
    assert (await api.http.delete(f"{V1}/datasets/{dataset['id']}", headers=key)).status_code == 204


async def test_parent_child_chunks(api: Api, gateway: FakeLLMServer) -> None:
    del gateway
    key = await dataset_key(api)
    dataset = await new_dataset(
        api,
        key,
        indexing_technique="high_quality",
        embedding_model="text-embedding-3-small",
        embedding_model_provider="openai",
    )
    rule = {
        "mode": "hierarchical",
        "rules": {
            "segmentation": {"separator": "\n\n", "max_tokens": 200},
            "parent_mode": "paragraph",
            "subchunk_segmentation": {"separator": ". ", "max_tokens": 50},
        },
    }
    text = ANIMALS.replace("apart.", "apart. They also wrap themselves in kelp.")
    created = await add_text(
        api, key, dataset["id"], text=text, doc_form="hierarchical_model", process_rule=rule
    )
    await _indexed(api, key, dataset["id"], created["batch"])
    document_id = created["document"]["id"]
    segments = await _segments(api, key, dataset["id"], document_id)
    parent = next(s for s in segments if "otters" in s["content"])
    assert len(parent["child_chunks"]) >= 2, parent

    # A child chunk's text finds its parent, with the child that matched.
    child = parent["child_chunks"][-1]
    found = await _search(api, key, dataset["id"], child["content"], "semantic_search")
    best = found["records"][0]
    assert best["segment"]["id"] == parent["id"]
    assert child["id"] in [c["id"] for c in best["child_chunks"]]

    url = f"{V1}/datasets/{dataset['id']}/documents/{document_id}/segments/{parent['id']}"
    added = await api.http.post(
        f"{url}/child_chunks", json={"content": "Walruses haul out onto sea ice."}, headers=key
    )
    assert added.status_code == 200, added.text
    new_child = added.json()["data"]
    assert new_child["type"] == "customized"
    found = await _search(api, key, dataset["id"], new_child["content"], "semantic_search")
    assert new_child["id"] in [c["id"] for c in found["records"][0]["child_chunks"]]

    changed = await api.http.patch(
        f"{url}/child_chunks/{new_child['id']}",
        json={"content": "Walruses use their tusks to climb."},
        headers=key,
    )
    assert changed.status_code == 200 and changed.json()["data"]["type"] == "customized"
    found = await _search(
        api, key, dataset["id"], "Walruses use their tusks to climb.", "semantic_search"
    )
    assert new_child["id"] in [c["id"] for c in found["records"][0]["child_chunks"]]

    listed = (await api.http.get(f"{url}/child_chunks?limit=100", headers=key)).json()
    assert listed["total"] == len(parent["child_chunks"]) + 1 and listed["total_pages"] == 1
    gone = await api.http.delete(f"{url}/child_chunks/{new_child['id']}", headers=key)
    assert gone.status_code == 204
    listed = (await api.http.get(f"{url}/child_chunks", headers=key)).json()
    assert new_child["id"] not in [c["id"] for c in listed["data"]]
    text_only = await api.http.get(f"{url}/child_chunks/{new_child['id']}", headers=key)
    assert text_only.status_code in (404, 405)
