"""Knowledge API responses in Dify's JSON shapes (timestamps as unix seconds)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tideflow.activities.knowledge.models import RetrievedSegment, RetrieveResult
from tideflow.platform.db.crud.dataset_documents import INDEXING_STATES
from tideflow.platform.db.crud.datasets import DatasetStats
from tideflow.platform.db.knowledge_models import (
    ChildChunk,
    Dataset,
    DatasetDocument,
    DatasetMetadataField,
    DocumentSegment,
)
from tideflow.platform.runs.views import unix

# Dify's retrieval settings of a dataset that has none of its own.
DEFAULT_RETRIEVAL_MODEL: dict[str, Any] = {
    "search_method": "semantic_search",
    "reranking_enable": False,
    "reranking_mode": None,
    "reranking_model": {"reranking_provider_name": "", "reranking_model_name": ""},
    "weights": None,
    "top_k": 2,
    "score_threshold_enabled": False,
    "score_threshold": None,
}
# Dify's built-in metadata fields, with their types.
BUILT_IN_FIELDS: tuple[tuple[str, str], ...] = (
    ("document_name", "string"),
    ("uploader", "string"),
    ("upload_date", "time"),
    ("last_update_date", "time"),
    ("source", "string"),
)
# The stage stamps of a document's ingestion.
STAGE_STAMPS = (
    "processing_started_at",
    "parsing_completed_at",
    "cleaning_completed_at",
    "splitting_completed_at",
    "completed_at",
    "paused_at",
    "stopped_at",
)
# Dify's name of a data source in the built-in ``source`` field.
_SOURCE_NAMES = {
    "upload_file": "file_upload",
    "notion_import": "notion",
    "website_crawl": "website",
}


def display_status(document: DatasetDocument) -> str:
    """Dify's display status: queuing, indexing, paused, error, available, disabled, archived."""
    status = document.indexing_status
    if status == "waiting":
        return "queuing"
    if status in INDEXING_STATES:
        return "indexing"
    if status in ("paused", "error"):
        return status
    if document.archived:
        return "archived"
    return "available" if document.enabled else "disabled"


def retrieval_model_dict(dataset: Dataset) -> dict[str, Any]:
    """The dataset's retrieval settings over Dify's defaults (keyword search for economy)."""
    merged = {**DEFAULT_RETRIEVAL_MODEL, **(dataset.retrieval_model or {})}
    if dataset.indexing_technique == "economy":
        merged["search_method"] = "keyword_search"
    return merged


def metadata_field_json(field: DatasetMetadataField) -> dict[str, Any]:
    """A metadata field: ``{id, name, type}``."""
    return {"id": field.id, "name": field.name, "type": field.type}


def dataset_json(
    dataset: Dataset,
    stats: DatasetStats,
    fields: Sequence[DatasetMetadataField],
    author_name: str | None = None,
) -> dict[str, Any]:
    """Dify's dataset detail object."""
    return {
        "id": dataset.id,
        "name": dataset.name,
        "description": dataset.description,
        "provider": dataset.provider,
        "permission": dataset.permission,
        "data_source_type": "upload_file" if stats.document_count else None,
        "indexing_technique": dataset.indexing_technique,
        "app_count": 0,
        "document_count": stats.document_count,
        "word_count": stats.word_count,
        "created_by": dataset.created_by,
        "author_name": author_name,
        "created_at": unix(dataset.created_at),
        "updated_by": None,
        "updated_at": unix(dataset.updated_at),
        "embedding_model": dataset.embedding_model,
        "embedding_model_provider": dataset.embedding_model_provider,
        "embedding_available": True,
        "retrieval_model_dict": retrieval_model_dict(dataset),
        "summary_index_setting": None,
        "tags": [],
        "doc_form": dataset.doc_form,
        "external_knowledge_info": None,
        "external_retrieval_model": None,
        "doc_metadata": [metadata_field_json(f) for f in fields],
        "built_in_field_enabled": dataset.built_in_field_enabled,
        "pipeline_id": None,
        "runtime_mode": "general",
        "chunk_structure": None,
        "icon_info": None,
        "is_published": False,
        "total_documents": stats.document_count,
        "total_available_documents": stats.available_count,
        "enable_api": dataset.enable_api,
        "is_multimodal": False,
    }


def built_in_values(document: DatasetDocument, uploader: str) -> dict[str, Any]:
    """The built-in metadata values of a document (stored with it while they are enabled)."""
    return {
        "document_name": document.name,
        "uploader": uploader,
        "upload_date": unix(document.created_at),
        "last_update_date": unix(document.updated_at),
        "source": _SOURCE_NAMES.get(document.data_source_type, document.data_source_type),
    }


def doc_metadata_details(
    document: DatasetDocument, fields: Sequence[DatasetMetadataField], built_in_enabled: bool
) -> list[dict[str, Any]]:
    """``[{id, name, type, value}]``: the custom fields the document has a value for, then the
    built-in ones (id ``built-in``) when enabled."""
    values = document.doc_metadata or {}
    details = [
        {"id": f.id, "name": f.name, "type": f.type, "value": values[f.name]}
        for f in fields
        if f.name in values
    ]
    if built_in_enabled:
        built_in = built_in_values(document, str(values.get("uploader") or ""))
        details += [
            {"id": "built-in", "name": name, "type": type_, "value": built_in[name]}
            for name, type_ in BUILT_IN_FIELDS
        ]
    return details


def document_json(
    document: DatasetDocument,
    fields: Sequence[DatasetMetadataField],
    built_in_enabled: bool,
    hit_count: int = 0,
) -> dict[str, Any]:
    """Dify's document object (as lists and create responses show it)."""
    upload = {
        "id": document.source_store_id,
        "name": document.source_name,
        "size": document.source_size,
        "extension": document.source_extension,
        "mime_type": document.source_mime_type,
        "created_by": document.created_by,
        "created_at": unix(document.created_at),
    }
    return {
        "id": document.id,
        "position": document.position,
        "data_source_type": document.data_source_type,
        "data_source_info": {"upload_file_id": document.source_store_id},
        "data_source_detail_dict": {"upload_file": upload},
        "dataset_process_rule_id": None,
        "name": document.name,
        "created_from": "web" if document.created_by else "api",
        "created_by": document.created_by,
        "created_at": unix(document.created_at),
        "tokens": document.tokens,
        "indexing_status": document.indexing_status,
        "error": document.error,
        "enabled": document.enabled,
        "disabled_at": unix(document.disabled_at),
        "disabled_by": None,
        "archived": document.archived,
        "display_status": display_status(document),
        "word_count": document.word_count,
        "hit_count": hit_count,
        "doc_form": document.doc_form,
        "doc_metadata": doc_metadata_details(document, fields, built_in_enabled),
        "summary_index_status": None,
        "need_summary": False,
    }


def document_detail_json(
    document: DatasetDocument,
    fields: Sequence[DatasetMetadataField],
    built_in_enabled: bool,
    *,
    hit_count: int,
    segment_count: int,
    average_segment_length: float,
) -> dict[str, Any]:
    """``GET .../documents/{id}``: the document object with its rules and statistics."""
    detail = document_json(document, fields, built_in_enabled, hit_count)
    del detail["data_source_detail_dict"]
    detail.update(
        {
            "dataset_process_rule": None,
            "document_process_rule": document.process_rule or None,
            "doc_language": document.doc_language,
            "doc_type": None,
            "completed_at": unix(document.completed_at),
            "updated_at": unix(document.updated_at),
            "indexing_latency": document.indexing_latency,
            "segment_count": segment_count,
            "average_segment_length": average_segment_length,
        }
    )
    return detail


def indexing_status_json(document: DatasetDocument, completed: int, total: int) -> dict[str, Any]:
    """One entry of ``GET .../documents/{batch}/indexing-status``."""
    return {
        "id": document.id,
        "indexing_status": document.indexing_status,
        **{stamp: unix(getattr(document, stamp)) for stamp in STAGE_STAMPS},
        "error": document.error,
        "completed_segments": completed,
        "total_segments": total,
    }


def child_chunk_json(chunk: ChildChunk) -> dict[str, Any]:
    """Dify's child chunk object."""
    return {
        "id": chunk.id,
        "segment_id": chunk.segment_id,
        "content": chunk.content,
        "position": chunk.position,
        "word_count": chunk.word_count,
        "type": chunk.type,
        "created_at": unix(chunk.created_at),
        "updated_at": unix(chunk.updated_at),
    }


def segment_json(segment: DocumentSegment, children: Sequence[ChildChunk] = ()) -> dict[str, Any]:
    """Dify's segment (chunk) object."""
    return {
        "id": segment.id,
        "position": segment.position,
        "document_id": segment.document_id,
        "content": segment.content,
        "sign_content": segment.content,
        "answer": segment.answer,
        "word_count": segment.word_count,
        "tokens": segment.tokens,
        "keywords": list(segment.keywords or []),
        "index_node_id": segment.index_node_id,
        "index_node_hash": segment.index_node_hash,
        "hit_count": segment.hit_count,
        "enabled": segment.enabled,
        "disabled_at": unix(segment.disabled_at),
        "disabled_by": None,
        "status": segment.status,
        "created_by": None,
        "created_at": unix(segment.created_at),
        "updated_at": unix(segment.updated_at),
        "updated_by": None,
        "indexing_at": unix(segment.indexing_at),
        "completed_at": unix(segment.completed_at),
        "error": segment.error,
        "stopped_at": None,
        "child_chunks": [child_chunk_json(c) for c in children],
        "attachments": [],
        "summary": None,
    }


def _hit_segment(hit: RetrievedSegment, row: DocumentSegment) -> dict[str, Any]:
    segment = segment_json(row)
    for key in ("child_chunks", "attachments", "summary"):
        del segment[key]
    segment["document"] = {
        "id": hit.document_id,
        "data_source_type": hit.data_source_type,
        "name": hit.document_name,
        "doc_type": None,
        "doc_metadata": hit.doc_metadata or None,
    }
    return segment


def retrieve_json(
    query: str, result: RetrieveResult, rows: Mapping[str, DocumentSegment]
) -> dict[str, Any]:
    """``POST .../retrieve``: Dify's ``{query, records}`` plus the search method used and
    ``notes`` on what could not be done as asked (e.g. a fallback to full-text search). A hit
    whose segment was deleted since the search is left out."""
    records = [
        {
            "segment": _hit_segment(hit, rows[hit.segment_id]),
            "child_chunks": [c.model_dump() for c in hit.child_chunks],
            "score": hit.score,
            "tsne_position": None,
            "files": [],
            "summary": None,
        }
        for hit in result.records
        if hit.segment_id in rows
    ]
    return {
        "query": {"content": query},
        "records": records,
        "search_method": result.search_method,
        "notes": list(result.notes),
    }
