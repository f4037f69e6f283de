"""The vector store over a real qdrant-client in local mode (a folder in tmp)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from tideflow.activities.knowledge.qdrant import VectorStore
from tideflow.activities.knowledge.vector_store import (
    IndexPoint,
    close_vector_stores,
    collection_name,
    open_vector_store,
)

DATASET = "0b9f6c1e-8a3d-4f57-9c2e-5d1f0a7b3c41"

# (document, segment, text, vector): two documents, vectors along three axes.
CHUNKS = [
    ("doc-a", "seg-1", "Tides rise twice a day along the coast", [1.0, 0.0, 0.0]),
    ("doc-a", "seg-2", "The moon pulls the ocean into tides", [0.9, 0.1, 0.0]),
    ("doc-b", "seg-3", "Bread rises when yeast ferments sugar", [0.0, 1.0, 0.0]),
    ("doc-b", "seg-4", "Sourdough bread needs a starter", [0.0, 0.8, 0.2]),
]


def points(with_vectors: bool = True) -> list[IndexPoint]:
    return [
        IndexPoint(
            id=str(uuid.uuid5(uuid.NAMESPACE_OID, segment)),
            text=text,
            vector=vector if with_vectors else None,
            payload={"document_id": document, "segment_id": segment, "position": i},
        )
        for i, (document, segment, text, vector) in enumerate(CHUNKS)
    ]


def segments(hits: list[Any]) -> list[str]:
    return [hit.payload["segment_id"] for hit in hits]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[VectorStore]:
    client = QdrantClient(path=str(tmp_path / "qdrant"))
    yield VectorStore(client)
    client.close()


def test_dense_search_scores_by_cosine(store: VectorStore) -> None:
    store.upsert(DATASET, points())
    assert store.has_dense(DATASET)
    assert store.count(DATASET) == 4
    hits = store.search_dense(DATASET, [1.0, 0.0, 0.0], 3)
    assert segments(hits)[:2] == ["seg-1", "seg-2"]
    assert hits[0].score == pytest.approx(1.0)
    assert hits[1].score == pytest.approx(0.9 / (0.81 + 0.01) ** 0.5)
    assert hits[2].score == pytest.approx(0.0)  # the bread chunks are orthogonal
    assert len(store.search_dense(DATASET, [1.0, 0.0, 0.0], 10)) == 4
    payload = hits[0].payload
    assert payload["dataset_id"] == DATASET
    assert payload["document_id"] == "doc-a"
    assert payload["text"] == CHUNKS[0][2]
    assert payload["position"] == 0
    assert hits[0].id == str(uuid.uuid5(uuid.NAMESPACE_OID, "seg-1"))


def test_full_text_search_ranks_by_bm25(store: VectorStore) -> None:
    store.upsert(DATASET, points())
    hits = store.search_full_text(DATASET, "bread starter", 10)
    # seg-4 holds both words, seg-3 only "bread"; the tide chunks hold neither.
    assert segments(hits) == ["seg-4", "seg-3"]
    assert hits[0].score > hits[1].score > 0
    # Both hold "tides" once; BM25 favours the shorter chunk.
    assert segments(store.search_full_text(DATASET, "TIDES", 10)) == ["seg-2", "seg-1"]
    assert store.search_full_text(DATASET, "volcano", 10) == []
    assert store.search_full_text(DATASET, " ?! ", 10) == []


def test_document_filter_and_exclusion(store: VectorStore) -> None:
    store.upsert(DATASET, points())
    query = [0.5, 0.5, 0.0]
    only_b = store.search_dense(DATASET, query, 10, document_ids=["doc-b"])
    assert set(segments(only_b)) == {"seg-3", "seg-4"}
    assert store.search_dense(DATASET, query, 10, document_ids=[]) == []
    assert store.search_full_text(DATASET, "bread", 10, document_ids=[]) == []
    skipped = store.search_dense(DATASET, query, 10, exclude_ids=["seg-1", "seg-3"])
    assert set(segments(skipped)) == {"seg-2", "seg-4"}
    text = store.search_full_text(
        DATASET, "tides bread", 10, document_ids=["doc-a", "doc-b"], exclude_ids=["seg-2"]
    )
    assert set(segments(text)) == {"seg-1", "seg-3", "seg-4"}


def test_delete_points_documents_and_drop(store: VectorStore) -> None:
    store.upsert(DATASET, points())
    store.delete_points(DATASET, [points()[0].id, str(uuid.uuid4())])
    assert store.count(DATASET) == 3
    assert "seg-1" not in segments(store.search_full_text(DATASET, "tides", 10))
    store.delete_documents(DATASET, ["doc-b"])
    assert store.count(DATASET) == 1
    assert segments(store.search_dense(DATASET, [0.0, 1.0, 0.0], 10)) == ["seg-2"]
    store.drop(DATASET)
    assert store.count(DATASET) == 0
    assert not store.has_dense(DATASET)
    assert store.search_dense(DATASET, [1.0, 0.0, 0.0], 5) == []
    assert store.search_full_text(DATASET, "tides", 5) == []
    # A missing collection: every change is a no-op.
    store.drop(DATASET)
    store.delete_points(DATASET, [points()[0].id])
    store.delete_documents(DATASET, ["doc-a"])


def test_upsert_replaces_a_point(store: VectorStore) -> None:
    store.upsert(DATASET, points())
    first = points()[0]
    store.upsert(DATASET, [IndexPoint(first.id, "volcanic ash", [0.0, 0.0, 1.0], first.payload)])
    assert store.count(DATASET) == 4
    assert segments(store.search_full_text(DATASET, "volcanic", 5)) == ["seg-1"]
    assert store.search_full_text(DATASET, "coast", 5) == []


def test_text_only_collection(store: VectorStore) -> None:
    store.upsert(DATASET, points(with_vectors=False))
    assert not store.has_dense(DATASET)
    assert store.count(DATASET) == 4
    assert store.search_dense(DATASET, [1.0, 0.0, 0.0], 5) == []
    assert segments(store.search_full_text(DATASET, "yeast", 5)) == ["seg-3"]
    # Vectors into it are refused while it holds points...
    with pytest.raises(ValueError, match="holds no dense vectors"):
        store.upsert(DATASET, points()[:1])
    # ...and accepted once it is empty: it is made again with a dense vector.
    store.delete_documents(DATASET, ["doc-a", "doc-b"])
    store.upsert(DATASET, points())
    assert store.has_dense(DATASET)
    assert segments(store.search_dense(DATASET, [0.0, 1.0, 0.0], 1)) == ["seg-3"]


def test_dense_collection_takes_points_without_vectors(store: VectorStore) -> None:
    store.upsert(DATASET, points()[:2])
    extra = points(with_vectors=False)[2:]
    store.upsert(DATASET, extra)
    assert store.count(DATASET) == 4
    assert set(segments(store.search_dense(DATASET, [0.0, 1.0, 0.0], 10))) == {"seg-1", "seg-2"}
    assert segments(store.search_full_text(DATASET, "sourdough", 5)) == ["seg-4"]


def test_bad_input_names_the_field(store: VectorStore) -> None:
    good = points()[0]
    with pytest.raises(ValueError, match="dataset_id"):
        store.upsert("not a/valid id", [good])
    with pytest.raises(ValueError, match="id: expected a UUID"):
        store.upsert(DATASET, [IndexPoint("seg-1", "x", None, good.payload)])
    with pytest.raises(ValueError, match=r"payload\.segment_id"):
        store.upsert(DATASET, [IndexPoint(good.id, "x", None, {"document_id": "d"})])
    with pytest.raises(ValueError, match="different sizes"):
        store.upsert(DATASET, [good, IndexPoint(str(uuid.uuid4()), "y", [1.0], good.payload)])
    store.upsert(DATASET, [good])
    with pytest.raises(ValueError, match="size 2"):
        store.upsert(DATASET, [IndexPoint(good.id, "x", [1.0, 0.0], good.payload)])
    with pytest.raises(ValueError, match="vector: size 2"):
        store.search_dense(DATASET, [1.0, 0.0], 5)
    with pytest.raises(ValueError, match="limit"):
        store.search_full_text(DATASET, "tides", 0)


def test_collection_name() -> None:
    assert collection_name(DATASET) == "tideflow_0b9f6c1e8a3d4f579c2e5d1f0a7b3c41"


async def test_open_vector_store_is_one_per_folder_and_persists(tmp_path: Path) -> None:
    folder = tmp_path / "vectors"
    try:
        store = open_vector_store(None, None, folder)
        assert open_vector_store(None, None, folder) is store
        # Calls from worker threads at once, as the activities make them.
        batches = [points()[:2], points()[2:]]
        await asyncio.gather(*(asyncio.to_thread(store.upsert, DATASET, b) for b in batches))
        found = await asyncio.gather(
            *(asyncio.to_thread(store.search_full_text, DATASET, "bread", 5) for _ in range(4))
        )
        assert all(segments(hits) == segments(found[0]) for hits in found)
        assert set(segments(found[0])) == {"seg-3", "seg-4"}
    finally:
        close_vector_stores()
    reopened = open_vector_store(None, None, folder)
    try:
        assert reopened is not store
        assert reopened.count(DATASET) == 4
        assert reopened.has_dense(DATASET)
        assert segments(reopened.search_dense(DATASET, [1.0, 0.0, 0.0], 1)) == ["seg-1"]
        assert segments(reopened.search_full_text(DATASET, "yeast", 5)) == ["seg-3"]
    finally:
        close_vector_stores()


def test_local_storage_runs_in_wal_mode(tmp_path: Path) -> None:
    """Local mode's per-point commits would sync the disk once per point; the store switches
    its SQLite file to WAL with synchronous=NORMAL (the embedded Temporal server's setting)."""
    store = open_vector_store(None, None, tmp_path / "q")
    try:
        store.upsert(DATASET, points())
        folder = tmp_path / "q" / "collection" / collection_name(DATASET)
        with sqlite3.connect(folder / "storage.sqlite") as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        close_vector_stores()
