"""Qdrant behind the built-in vector store ``qdrant`` (``vector_store.open_vector_store``).

Kept apart from ``vector_store`` because qdrant_client takes seconds to import: a worker loads
it when a knowledge activity first opens the store, not while it starts.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import UnexpectedResponse

from tideflow.activities.knowledge.vector_store import (
    DENSE_VECTOR,
    TEXT_FIELD,
    Hit,
    IndexPoint,
    collection_name,
)

_REQUIRED_PAYLOAD = ("document_id", "segment_id")
_KEYWORD_FIELDS = ("dataset_id", "document_id", "segment_id")
_UPSERT_BATCH = 256  # keeps one server request well under Qdrant's 32 MB body limit


def qdrant_client(qdrant_url: str | None, qdrant_api_key: str | None, path: Path) -> QdrantClient:
    """A client of the server at ``qdrant_url``, else of local mode in the folder ``path``."""
    if qdrant_url:
        return QdrantClient(url=qdrant_url, api_key=qdrant_api_key or None)
    path.mkdir(parents=True, exist_ok=True)
    # Calls come from asyncio.to_thread's pool; the store's lock serializes them.
    return QdrantClient(path=str(path), force_disable_check_same_thread=True)


_SYNCHRONOUS_NORMAL = 1  # what PRAGMA synchronous reads for NORMAL


class VectorStore:
    """Datasets' points in Qdrant: upsert, delete and search, one collection per dataset."""

    def __init__(self, client: QdrantClient) -> None:
        self._client = client
        options = client.init_options
        self._local = options.get("path") is not None or options.get("location") == ":memory:"
        self._create_lock = threading.RLock()
        self._calls: AbstractContextManager[Any] = (
            self._create_lock if self._local else nullcontext()
        )

    def upsert(self, dataset_id: str, points: Sequence[IndexPoint]) -> None:
        """Write points, creating the dataset's collection on first use.

        The collection gets a dense vector when the first points that create it carry one.
        Points without a vector may go into any collection (they are found by full text
        only). A vector into a collection made without one (the dataset had no embedding
        model) is refused with ValueError unless the collection is empty, in which case it is
        made again with a dense vector: drop the dataset's collection and re-index to switch.
        """
        name = collection_name(dataset_id)
        if not points:
            return
        structs = [_point_struct(dataset_id, point) for point in points]
        sizes = {len(point.vector) for point in points if point.vector is not None}
        if len(sizes) > 1:
            raise ValueError(f"points: vectors of different sizes {sorted(sizes)}")
        size = next(iter(sizes), None)
        with self._calls:
            existing = self._ensure_collection(dataset_id, name, size)
            self._tune_local_storage(name)
            if size is not None and existing != size:
                raise ValueError(
                    f"points: vectors of size {size}, but dataset {dataset_id}'s collection "
                    f"holds vectors of size {existing}; drop it and re-index"
                )
            for start in range(0, len(structs), _UPSERT_BATCH):
                self._client.upsert(name, structs[start : start + _UPSERT_BATCH], wait=True)

    def delete_points(self, dataset_id: str, ids: Sequence[str]) -> None:
        """Remove points by id; unknown ids and a missing collection are ignored."""
        name = collection_name(dataset_id)
        if not ids:
            return
        selector = qm.PointIdsList(points=[_point_id(point_id) for point_id in ids])
        with self._calls:
            if self._client.collection_exists(name):
                self._client.delete(name, points_selector=selector, wait=True)

    def delete_documents(self, dataset_id: str, document_ids: Sequence[str]) -> None:
        """Remove every point of these documents; a missing collection is ignored."""
        name = collection_name(dataset_id)
        if not document_ids:
            return
        selector = qm.FilterSelector(filter=qm.Filter(must=[_any_of("document_id", document_ids)]))
        with self._calls:
            if self._client.collection_exists(name):
                self._client.delete(name, points_selector=selector, wait=True)

    def drop(self, dataset_id: str) -> None:
        """Delete the dataset's collection; a missing one is fine."""
        name = collection_name(dataset_id)
        with self._calls, self._create_lock:
            if self._client.collection_exists(name):
                self._client.delete_collection(name)

    def has_dense(self, dataset_id: str) -> bool:
        """Whether the dataset's collection exists and holds dense vectors."""
        name = collection_name(dataset_id)
        with self._calls:
            return self._dense_size(name) is not None

    def count(self, dataset_id: str) -> int:
        """Points in the dataset's collection (0 when it does not exist)."""
        name = collection_name(dataset_id)
        with self._calls:
            if not self._client.collection_exists(name):
                return 0
            return self._client.count(name, exact=True).count

    def search_dense(
        self,
        dataset_id: str,
        vector: Sequence[float],
        limit: int,
        *,
        document_ids: Sequence[str] | None = None,
        exclude_ids: Sequence[str] | None = None,
    ) -> list[Hit]:
        """The ``limit`` points nearest ``vector``, best first, scored by cosine similarity.

        ``document_ids``: only points of these documents (None: all; empty: none).
        ``exclude_ids``: segment ids to skip. No collection, or one without dense vectors: [].
        """
        name = collection_name(dataset_id)
        if _nothing_allowed(limit, document_ids):
            return []
        with self._calls:
            size = self._dense_size(name)
            if size is None:
                return []
            if len(vector) != size:
                raise ValueError(
                    f"vector: size {len(vector)}, but dataset {dataset_id}'s collection holds "
                    f"vectors of size {size}"
                )
            response = self._client.query_points(
                name,
                query=list(vector),
                using=DENSE_VECTOR,
                limit=limit,
                query_filter=_search_filter(document_ids, exclude_ids),
                with_payload=True,
            )
        return [_hit(point) for point in response.points]

    def search_full_text(
        self,
        dataset_id: str,
        query: str,
        limit: int,
        *,
        document_ids: Sequence[str] | None = None,
        exclude_ids: Sequence[str] | None = None,
    ) -> list[Hit]:
        """The ``limit`` points best matching ``query`` by BM25 (words: runs of letters and
        digits, lower-cased), best first; filters as in ``search_dense``. A point scores when
        it holds any query word. No collection, or a query without words: []."""
        name = collection_name(dataset_id)
        if _nothing_allowed(limit, document_ids) or not re.search(r"[^\W_]", query):
            return []
        with self._calls:
            if not self._client.collection_exists(name):
                return []
            response = self._client.query_points(
                name,
                query=qm.TextQuery(text=query),
                using=TEXT_FIELD,
                limit=limit,
                query_filter=_search_filter(document_ids, exclude_ids),
                with_payload=True,
            )
        return [_hit(point) for point in response.points]

    def close(self) -> None:
        """Release the client (local mode: the folder's lock)."""
        with self._calls:
            self._client.close()

    def _tune_local_storage(self, name: str) -> None:
        """Local mode stores each point in its own SQLite transaction with SQLite's defaults:
        a sync to disk per point (~500-750 points/s here). WAL with ``synchronous=NORMAL``,
        as the embedded Temporal server runs, keeps every committed write across a crash of
        the process (kill -9) and syncs at checkpoints: ~4,000 points/s. An OS crash or power
        loss may lose the last writes; production runs a Qdrant server (TIDEFLOW_QDRANT_URL).
        The connection is qdrant-client's own (no public handle): when its internals differ,
        nothing is changed."""
        if not self._local:
            return
        local: Any = getattr(self._client, "_client", None)
        collection: Any = getattr(local, "collections", {}).get(name)
        persistence: Any = getattr(collection, "storage", None)
        connection: Any = getattr(persistence, "storage", None)
        if not isinstance(connection, sqlite3.Connection):
            return
        if connection.execute("PRAGMA synchronous").fetchone() != (_SYNCHRONOUS_NORMAL,):
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")

    def _dense_size(self, name: str) -> int | None:
        """The dense vector size of a collection; None when it or its dense vector is absent."""
        if not self._client.collection_exists(name):
            return None
        vectors = self._client.get_collection(name).config.params.vectors
        params = vectors.get(DENSE_VECTOR) if isinstance(vectors, dict) else None
        return params.size if params is not None else None

    def _ensure_collection(self, dataset_id: str, name: str, size: int | None) -> int | None:
        """Create the collection when missing; its dense size (None: text only)."""
        with self._create_lock:
            if self._client.collection_exists(name):
                existing = self._dense_size(name)
                if size is None or existing == size:
                    return existing
                # Vectors of another size (or none before): an empty collection is made
                # again (a re-index after a model change); one holding points is refused.
                if self._client.count(name, exact=True).count:
                    made = f"vectors of size {existing}" if existing else "no dense vectors"
                    raise ValueError(
                        f"points: vectors of size {size}, but dataset {dataset_id}'s collection "
                        f"holds {made}; drop it and re-index"
                    )
                self._client.delete_collection(name)
            vectors = (
                {DENSE_VECTOR: qm.VectorParams(size=size, distance=qm.Distance.COSINE)}
                if size is not None
                else {}
            )
            try:
                self._client.create_collection(name, vectors_config=vectors)
            except UnexpectedResponse as exc:
                if exc.status_code != 409:  # 409: another worker made it just now
                    raise
                return self._dense_size(name)
            text_index = qm.TextIndexParams(type=qm.TextIndexType.TEXT, scoring=True)
            self._client.create_payload_index(name, TEXT_FIELD, text_index, wait=True)
            if not self._local:  # local mode ignores keyword indexes (and warns)
                for field in _KEYWORD_FIELDS:
                    self._client.create_payload_index(
                        name, field, qm.PayloadSchemaType.KEYWORD, wait=True
                    )
            return size


def _point_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"id: expected a UUID string, got {value!r}") from None


def _point_struct(dataset_id: str, point: IndexPoint) -> qm.PointStruct:
    for field in _REQUIRED_PAYLOAD:
        if not isinstance(point.payload.get(field), str) or not point.payload[field]:
            raise ValueError(f"payload.{field}: required for point {point.id}")
    if point.vector is not None and not point.vector:
        raise ValueError(f"vector: empty for point {point.id}")
    payload = {**point.payload, "dataset_id": dataset_id, TEXT_FIELD: point.text}
    vector: dict[str, qm.Vector] = (
        {DENSE_VECTOR: list(point.vector)} if point.vector is not None else {}
    )
    return qm.PointStruct(id=_point_id(point.id), vector=vector, payload=payload)


def _any_of(field: str, values: Sequence[str]) -> qm.FieldCondition:
    return qm.FieldCondition(key=field, match=qm.MatchAny(any=list(values)))


def _nothing_allowed(limit: int, document_ids: Sequence[str] | None) -> bool:
    """Whether a search can match nothing (an empty document list); checks ``limit``."""
    if limit < 1:
        raise ValueError(f"limit: expected at least 1, got {limit}")
    return document_ids is not None and not document_ids


def _search_filter(
    document_ids: Sequence[str] | None, exclude_ids: Sequence[str] | None
) -> qm.Filter | None:
    """Only these documents' points, without these segments' (None: no restriction)."""
    if not document_ids and not exclude_ids:
        return None
    must = _any_of("document_id", document_ids) if document_ids else None
    must_not = _any_of("segment_id", exclude_ids) if exclude_ids else None
    return qm.Filter(must=must, must_not=must_not)


def _hit(point: qm.ScoredPoint) -> Hit:
    return Hit(id=str(point.id), score=float(point.score), payload=dict(point.payload or {}))
