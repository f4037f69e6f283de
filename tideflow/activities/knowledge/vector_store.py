"""The knowledge bases' vector store: one Qdrant collection per dataset.

A collection (``tideflow_<dataset id without dashes>``) holds one point per indexed chunk, with
the named dense vector ``dense`` (cosine) when the dataset has an embedding model, and always
a BM25-scored full-text index over the payload field ``text``. Qdrant runs in local mode (a
folder, brute-force search, one process per folder) unless a server URL is configured.

Only the worker opens the store (``open_vector_store``; the Qdrant calls are in ``qdrant``, which
it imports on first use), and calls it through
``asyncio.to_thread``: local mode is not thread-safe, so every call to a local client holds a
lock; a server client is, so only collection creation is serialized.

The activities reach the store through ``configured_vector_store``: the factory that setting
``vector_store`` names among the entry points of group ``tideflow.vector_stores``, where
``qdrant`` (``qdrant_store``) is Tideflow's own and a plugin may add others.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from tideflow.platform.settings import Settings
from tideflow.plugins.registry import allowed, installed, plugins

if TYPE_CHECKING:
    from tideflow.activities.knowledge.qdrant import VectorStore

log = logging.getLogger("tideflow.plugins.vector_stores")

DENSE_VECTOR = "dense"
TEXT_FIELD = "text"
_DATASET_ID = re.compile(r"[A-Za-z0-9-]+")


@dataclass(frozen=True)
class IndexPoint:
    """A chunk to index. ``id`` is a UUID string; ``vector`` is None when the dataset has no
    embedding model; ``payload`` must name ``document_id`` and ``segment_id``."""

    id: str
    text: str
    vector: list[float] | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    """A found point: its id, its score (cosine similarity, or BM25) and its payload."""

    id: str
    score: float
    payload: dict[str, Any]


def collection_name(dataset_id: str) -> str:
    """The Qdrant collection of a dataset. Raises ValueError on an id Qdrant cannot name."""
    if not _DATASET_ID.fullmatch(dataset_id):
        raise ValueError(f"dataset_id: expected letters, digits and dashes, got {dataset_id!r}")
    return f"tideflow_{dataset_id.replace('-', '')}"


_STORES: dict[tuple[str, ...], VectorStore] = {}
_STORES_LOCK = threading.Lock()


def open_vector_store(
    qdrant_url: str | None, qdrant_api_key: str | None, path: Path
) -> VectorStore:
    """The process's store for a Qdrant server (``qdrant_url``), else for the local folder
    ``path``: one per target, since local mode locks its folder to a single client."""
    # qdrant_client takes seconds to import: not before the first knowledge activity needs it.
    from tideflow.activities.knowledge import qdrant

    key = ("url", qdrant_url, qdrant_api_key or "") if qdrant_url else ("path", str(path.resolve()))
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            client = qdrant.qdrant_client(qdrant_url, qdrant_api_key, path)
            store = _STORES[key] = qdrant.VectorStore(client)
        return store


def close_vector_stores() -> None:
    """Close every store ``open_vector_store`` made (tests, worker shutdown)."""
    with _STORES_LOCK:
        stores = list(_STORES.values())
        _STORES.clear()
    for store in stores:
        store.close()


class VectorStoreBackend(Protocol):
    """What the knowledge activities call on a vector store (``VectorStore`` is the built-in
    one; its docstrings say what each method must do). Calls come from worker threads."""

    def upsert(self, dataset_id: str, points: Sequence[IndexPoint]) -> None:
        """Write points (replacing those of the same id), creating the dataset's space."""
        ...

    def delete_points(self, dataset_id: str, ids: Sequence[str]) -> None:
        """Remove points by id; unknown ids and a missing dataset are ignored."""
        ...

    def delete_documents(self, dataset_id: str, document_ids: Sequence[str]) -> None:
        """Remove every point of these documents (payload ``document_id``)."""
        ...

    def drop(self, dataset_id: str) -> None:
        """Delete everything of the dataset."""
        ...

    def has_dense(self, dataset_id: str) -> bool:
        """Whether the dataset holds dense vectors."""
        ...

    def search_dense(
        self,
        dataset_id: str,
        vector: Sequence[float],
        limit: int,
        *,
        document_ids: Sequence[str] | None = None,
        exclude_ids: Sequence[str] | None = None,
    ) -> list[Hit]:
        """The ``limit`` points nearest ``vector`` by cosine similarity, best first."""
        ...

    def search_full_text(
        self,
        dataset_id: str,
        query: str,
        limit: int,
        *,
        document_ids: Sequence[str] | None = None,
        exclude_ids: Sequence[str] | None = None,
    ) -> list[Hit]:
        """The ``limit`` points best matching ``query``'s words, best first."""
        ...


# An entry point of group tideflow.vector_stores: called with the settings on every use of the
# store (so it returns a shared instance, as ``qdrant_store`` does).
VectorStoreFactory = Callable[[Settings], VectorStoreBackend]
GROUP = "tideflow.vector_stores"
BUILTIN_STORE = "qdrant"


class UnknownVectorStoreError(ValueError):
    """Setting ``vector_store`` names no installed and allowed vector store."""


def qdrant_store(settings: Settings) -> VectorStore:
    """The built-in vector store ``qdrant``: the server at TIDEFLOW_QDRANT_URL, else local
    mode in the data dir."""
    return open_vector_store(settings.qdrant_url, settings.qdrant_api_key, settings.qdrant_path)


def vector_store_factories(settings: Settings) -> dict[str, VectorStoreFactory]:
    """The installed and allowed vector stores by name: ``qdrant``, then plugins'. An entry
    point whose object is not callable is logged and left out."""
    factories: dict[str, VectorStoreFactory] = {BUILTIN_STORE: qdrant_store}
    for name, obj in plugins(GROUP, tuple(settings.plugins_allow)).items():
        if obj is qdrant_store or name in factories:
            continue  # the built-in's own entry point (a plugin cannot take its name)
        if callable(obj):
            factories[name] = cast(VectorStoreFactory, obj)
        else:
            kind = type(cast(object, obj)).__name__
            log.error("vector store plugin %s is a %s, not a factory: skipped", name, kind)
    return factories


def configured_vector_store(settings: Settings) -> VectorStoreBackend:
    """The store setting ``vector_store`` names. Opening one may load it from disk: call this
    in a thread. Raises UnknownVectorStoreError naming the setting and the choices."""
    factories = vector_store_factories(settings)
    factory = factories.get(settings.vector_store)
    if factory is None:
        allow = settings.plugins_allow
        barred = sorted({name for name, dist in installed(GROUP) if not allowed(name, dist, allow)})
        hint = f"; installed but not allowed by TIDEFLOW_PLUGINS_ALLOW: {', '.join(barred)}"
        raise UnknownVectorStoreError(
            f"TIDEFLOW_VECTOR_STORE: unknown vector store {settings.vector_store!r} "
            f"(available: {', '.join(sorted(factories))}{hint if barred else ''})"
        )
    return factory(settings)
