"""The ``knowledge_retrieve`` activity: search datasets as Dify's retrieval_model asks.

Per dataset: semantic (dense vectors), full-text (BM25), or hybrid (both, fused by weighted
score or reciprocal rank). A dataset without an embedding model is searched full-text, and the
result says so in ``notes``. Hits of all datasets are then reranked (when a rerank model is
set), cut by the score threshold and ``top_k``. Only documents that finished indexing, are
enabled, unarchived and pass the metadata filter answer; disabled segments never do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tideflow.activities.knowledge import search_records
from tideflow.activities.knowledge.embedder import Embedder, open_embedder, rerank_texts
from tideflow.activities.knowledge.fusion import fuse_rrf, fuse_weighted, threshold_top_k
from tideflow.activities.knowledge.ingest import vector_store
from tideflow.activities.knowledge.metadata_filter import MetadataFilterError, check_conditions
from tideflow.activities.knowledge.models import (
    RETRIEVE_ACTIVITY,
    RetrievedChildChunk,
    RetrievedSegment,
    RetrieveInput,
    RetrieveResult,
)
from tideflow.activities.knowledge.vector_store import Hit, VectorStoreBackend
from tideflow.activities.llm.route import bad_request
from tideflow.platform.settings import Settings, get_settings
from tideflow.workflows.nodes._common import as_dict

# Dify's defaults for a retrieval_model that leaves things out (the API's top_k is 4).
DEFAULTS: dict[str, Any] = {
    "search_method": "semantic_search",
    "top_k": 4,
    "score_threshold_enabled": False,
    "score_threshold": None,
    "reranking_enable": False,
}
METHODS = ("semantic_search", "full_text_search", "hybrid_search", "keyword_search")


def _bad(message: str) -> ApplicationError:
    return bad_request(message, "RetrievalRequestError")


def _settings_of(
    request: RetrieveInput, scopes: list[search_records.SearchScope]
) -> dict[str, Any]:
    """The search settings: the request's, else (one dataset) the dataset's, else Dify's
    defaults. With no search_method asked, each dataset is searched by its own method."""
    own = scopes[0].retrieval_model if len(scopes) == 1 else {}
    asked = {k: v for k, v in request.retrieval_model.items() if v is not None}
    merged = {**DEFAULTS, **own, **asked}
    merged["asked_method"] = asked.get("search_method")
    for method in [
        merged["search_method"],
        *(s.retrieval_model.get("search_method") for s in scopes),
    ]:
        if method is not None and method not in METHODS:
            raise _bad(
                f"{request.caller}: retrieval_model.search_method: expected one of {METHODS}"
            )
    try:
        merged["top_k"] = max(1, int(merged["top_k"]))
    except (TypeError, ValueError, OverflowError):
        raise _bad(f"{request.caller}: retrieval_model.top_k: expected an integer") from None
    if merged.get("reranking_mode") == "weighted_score":
        _weights(merged)  # checked even when no dataset ends up searched both ways
    if merged.get("score_threshold_enabled"):
        raw = merged.get("score_threshold")
        try:
            merged["score_threshold"] = float(raw if raw is not None else 0.0)
        except (TypeError, ValueError, OverflowError):
            raise _bad(
                f"{request.caller}: retrieval_model.score_threshold: expected a number, got {raw!r}"
            ) from None
    return merged


@activity.defn(name=RETRIEVE_ACTIVITY)
async def knowledge_retrieve(request: RetrieveInput) -> RetrieveResult:
    """Search ``request.dataset_ids`` for ``request.query``; hits best first."""
    settings = get_settings()
    filtering: Mapping[str, Any] = (
        request.retrieval_model.get("metadata_filtering_conditions") or {}
    )
    try:
        conditions = check_conditions(filtering)
    except MetadataFilterError as exc:
        raise _bad(f"{request.caller}: {exc}") from None
    scopes, unknown = await asyncio.to_thread(
        search_records.search_scopes,
        settings.db_url,
        request.tenant_id,
        request.dataset_ids,
        conditions,
        str(filtering.get("logical_operator") or "and"),
    )
    if unknown:
        raise _bad(f"{request.caller}: dataset {', '.join(unknown)} not found in this workspace")
    config = _settings_of(request, scopes)
    result = RetrieveResult(search_method=str(config["search_method"]))
    if not request.query.strip() or not scopes:
        return result
    # Candidates per search (fusion and rerank pick from them), bounded for a huge top_k.
    limit = min(max(config["top_k"] * 4, 20), 1000)
    hits: list[Hit] = []
    store = await asyncio.to_thread(vector_store, settings)
    embedders: dict[tuple[str, str], Embedder] = {}
    vectors: dict[tuple[str, str], list[float]] = {}
    for scope in scopes:
        embedder = None
        if scope.embedding is not None:
            if scope.embedding not in embedders:
                embedders[scope.embedding] = await open_embedder(
                    settings, request.tenant_id, *scope.embedding
                )
            embedder = embedders[scope.embedding]
        hits += await _search_dataset(
            store, scope, request.query, config, embedder, vectors, limit, result
        )
    hits.sort(key=lambda hit: hit.score, reverse=True)
    hits = await _rerank(settings, request, config, hits, limit)
    threshold = config["score_threshold"] if config.get("score_threshold_enabled") else None
    hits = threshold_top_k(hits, len(hits), threshold)
    # top_k counts segments that still exist: a point whose rows were deleted a moment ago
    # (a re-index or delete under way) takes no place.
    records = await asyncio.to_thread(_records, settings, hits)
    result.records = records[: config["top_k"]]
    if request.count_hits and result.records:
        kept = [record.segment_id for record in result.records]
        await asyncio.to_thread(search_records.count_hits, settings.db_url, kept)
    return result


async def _search_dataset(
    store: VectorStoreBackend,
    scope: search_records.SearchScope,
    query: str,
    config: dict[str, Any],
    embedder: Embedder | None,
    vectors: dict[tuple[str, str], list[float]],
    limit: int,
    result: RetrieveResult,
) -> list[Hit]:
    method = str(
        config["asked_method"]
        or scope.retrieval_model.get("search_method")
        or config["search_method"]
    )
    if not scope.document_ids:
        return []
    where: dict[str, Any] = {
        "document_ids": scope.document_ids,
        "exclude_ids": scope.excluded_segment_ids or None,
    }
    dense_wanted = method in ("semantic_search", "hybrid_search")
    has_dense = await asyncio.to_thread(store.has_dense, scope.id)
    if dense_wanted and (embedder is None or not has_dense):
        result.notes.append(
            f"dataset {scope.name} ({scope.id}) has no embedding model or vectors: "
            f"full-text search used instead of {method}"
        )
        method = "full_text_search"
    text_hits: list[Hit] = []
    dense_hits: list[Hit] = []
    if method in ("full_text_search", "keyword_search", "hybrid_search"):
        text_hits = await asyncio.to_thread(store.search_full_text, scope.id, query, limit, **where)
    if method in ("semantic_search", "hybrid_search") and embedder is not None:
        key = (embedder.provider, embedder.model)
        if key not in vectors:
            embedded, _tokens = await embedder.embed([query])
            vectors[key] = embedded[0]
        dense_hits = await asyncio.to_thread(
            store.search_dense, scope.id, vectors[key], limit, **where
        )
    if method != "hybrid_search":
        return dense_hits or text_hits
    if config.get("reranking_mode") == "weighted_score":
        vector_weight, keyword_weight = _weights(config)
        return fuse_weighted(dense_hits, text_hits, vector_weight, keyword_weight)
    return fuse_rrf([dense_hits, text_hits])


def _weights(config: Mapping[str, Any]) -> tuple[float, float]:
    """Hybrid search's (vector, keyword) weights: numbers from 0 to 1 (Dify's defaults 0.7
    and 0.3); anything else is a bad request naming the field."""
    weights = as_dict(config.get("weights"))
    found: list[float] = []
    for setting, name, default in (
        ("vector_setting", "vector_weight", 0.7),
        ("keyword_setting", "keyword_weight", 0.3),
    ):
        raw = as_dict(weights.get(setting)).get(name, default)
        try:
            value = float(raw)
        except (TypeError, ValueError, OverflowError):
            value = -1.0
        if isinstance(raw, bool) or not 0 <= value <= 1:
            raise _bad(
                f"retrieval_model.weights.{setting}.{name}: expected a number from 0 to 1, "
                f"got {raw!r}"
            )
        found.append(value)
    return found[0], found[1]


def _rerank_model(config: Mapping[str, Any]) -> tuple[str, str] | None:
    if not config.get("reranking_enable") or config.get("reranking_mode") == "weighted_score":
        return None
    model = as_dict(config.get("reranking_model"))
    provider = model.get("reranking_provider_name") or model.get("provider")
    name = model.get("reranking_model_name") or model.get("model")
    return (str(provider), str(name)) if provider and name else None


async def _rerank(
    settings: Settings,
    request: RetrieveInput,
    config: Mapping[str, Any],
    hits: list[Hit],
    limit: int,
) -> list[Hit]:
    chosen = _rerank_model(config)
    if chosen is None or not hits:
        return hits
    candidates = hits[:limit]
    ranked = await rerank_texts(
        settings,
        request.tenant_id,
        chosen[0],
        chosen[1],
        request.query,
        [str(hit.payload.get("text", "")) for hit in candidates],
        None,
    )
    return [Hit(candidates[i].id, score, candidates[i].payload) for i, score in ranked]


def _records(settings: Settings, hits: list[Hit]) -> list[RetrievedSegment]:
    """One record per segment (child hits gather under their parent, scored by the best)."""
    order: dict[str, float] = {}
    child_scores: dict[str, float] = {}
    for hit in hits:
        segment_id = str(hit.payload["segment_id"])
        order.setdefault(segment_id, hit.score)
        if hit.payload.get("child_id"):
            child_scores[str(hit.payload["child_id"])] = hit.score
    rows = search_records.segment_rows(settings.db_url, list(order), list(child_scores))
    records: list[RetrievedSegment] = []
    for segment_id, score in order.items():
        row = rows.get(segment_id)
        if row is None:  # deleted since it was indexed
            continue
        segment, document = row.segment, row.document
        children = [
            RetrievedChildChunk(
                id=child.id,
                content=child.content,
                position=child.position,
                score=child_scores[child.id],
            )
            for child in row.children.values()
        ]
        records.append(
            RetrievedSegment(
                dataset_id=segment.dataset_id,
                dataset_name=row.dataset_name,
                document_id=document.id,
                document_name=document.name,
                data_source_type=document.data_source_type,
                segment_id=segment.id,
                position=segment.position,
                content=segment.content,
                answer=segment.answer,
                score=score,
                word_count=segment.word_count,
                tokens=segment.tokens,
                keywords=list(segment.keywords or []),
                hit_count=segment.hit_count,
                index_node_id=segment.index_node_id,
                index_node_hash=segment.index_node_hash,
                doc_metadata=dict(document.doc_metadata or {}),
                child_chunks=sorted(children, key=lambda c: c.score, reverse=True),
            )
        )
    return records
