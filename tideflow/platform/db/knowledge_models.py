"""Knowledge bases: datasets, their documents, segments (chunks), child chunks, metadata fields.

A ``DatasetDocument``'s source (an uploaded file, or the text of ``create-by-text`` saved as a
``.txt``) and its parsed text live in the file store, referenced by id; the ingestion workflow
(``DocumentIngestionWorkflow``, id ``ingest-<document id>``) passes those ids, never the text.
Its stages write the document's status and stamps here as Dify's lifecycle names them
(``waiting, parsing, cleaning, splitting, indexing, completed, error, paused``).

Segments are the chunks that are searched. In parent-child mode (``hierarchical_model``) the
``ChildChunk`` rows are what is embedded and matched, and a hit returns its parent segment.
Vectors live in the vector store (Qdrant, opened by the worker only), one collection per
dataset, one point per segment (or child chunk) keyed by its ``index_node_id``.

Metadata values of a document are in ``DatasetDocument.doc_metadata`` by field name; a metadata
filter is resolved here into the allowed document ids before the vector store is queried.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from tideflow.platform.db.ids import new_id, utcnow


class Dataset(SQLModel, table=True):
    """A knowledge base of one workspace."""

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    name: str = Field(max_length=255)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # vendor (documents indexed here) or external (not supported yet).
    provider: str = Field(default="vendor", max_length=32)
    permission: str = Field(default="only_me", max_length=32)
    # high_quality (embeddings) or economy (keywords only); None until the first document.
    indexing_technique: str | None = Field(default=None, max_length=32)
    # Dify's provider name ("langgenius/openai/openai") and model; None: the workspace default.
    embedding_model_provider: str | None = Field(default=None, max_length=255)
    embedding_model: str | None = Field(default=None, max_length=255)
    # Dify's retrieval_model dict (search_method, top_k, reranking...), {} for the defaults.
    retrieval_model: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    # text_model, hierarchical_model or qa_model; fixed by the first document.
    doc_form: str | None = Field(default=None, max_length=32)
    enable_api: bool = True
    built_in_field_enabled: bool = False
    created_by: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DatasetDocument(SQLModel, table=True):
    """One document of a dataset and where its ingestion stands."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    dataset_id: str = Field(foreign_key="dataset.id", index=True, max_length=36)
    # Documents created together share a batch (the indexing-status endpoint takes it).
    batch: str = Field(max_length=64, index=True)
    position: int = 1
    name: str = Field(max_length=255)
    # upload_file or text (Dify's data_source_type).
    data_source_type: str = Field(default="upload_file", max_length=32)
    # The source in the file store, and what it was.
    source_store_id: str = Field(max_length=128)
    source_name: str = Field(max_length=255)
    source_extension: str = Field(default="", max_length=32)
    source_mime_type: str = Field(default="", max_length=255)
    source_size: int = 0
    # The parsed (partitioned) text in the file store, once parsed.
    parsed_store_id: str | None = Field(default=None, max_length=128)
    # Dify's process_rule ({mode, rules{pre_processing_rules, segmentation...}}).
    process_rule: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    doc_form: str = Field(default="text_model", max_length=32)
    doc_language: str = Field(default="English", max_length=64)
    # waiting, parsing, cleaning, splitting, indexing, completed, error, paused.
    indexing_status: str = Field(default="waiting", max_length=16, index=True)
    error: str | None = Field(default=None, sa_column=Column(Text))
    enabled: bool = True
    archived: bool = False
    word_count: int = 0
    tokens: int = 0
    completed_segments: int = 0
    total_segments: int = 0
    # Metadata values by field name.
    doc_metadata: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    # Bumped on every (re)index request: an ingestion run of an older generation stops.
    generation: int = 1
    indexing_latency: float | None = None
    created_by: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    processing_started_at: datetime | None = None
    parsing_completed_at: datetime | None = None
    cleaning_completed_at: datetime | None = None
    splitting_completed_at: datetime | None = None
    completed_at: datetime | None = None
    paused_at: datetime | None = None
    stopped_at: datetime | None = None
    disabled_at: datetime | None = None
    archived_at: datetime | None = None


class DocumentSegment(SQLModel, table=True):
    """A chunk of a document: searched itself, or (parent-child) through its child chunks."""

    __table_args__ = (UniqueConstraint("document_id", "position"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    dataset_id: str = Field(foreign_key="dataset.id", index=True, max_length=36)
    document_id: str = Field(foreign_key="datasetdocument.id", index=True, max_length=36)
    position: int
    content: str = Field(sa_column=Column(Text, nullable=False))
    # Q&A mode: the answer of the question in ``content``.
    answer: str | None = Field(default=None, sa_column=Column(Text))
    word_count: int = 0
    tokens: int = 0
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The vector store point id (a UUID) and a SHA-256 of the indexed text.
    index_node_id: str = Field(default_factory=new_id, max_length=36)
    index_node_hash: str = Field(default="", max_length=64)
    # waiting, indexing, completed, error.
    status: str = Field(default="waiting", max_length=16, index=True)
    enabled: bool = True
    hit_count: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    indexing_at: datetime | None = None
    completed_at: datetime | None = None
    disabled_at: datetime | None = None


class ChildChunk(SQLModel, table=True):
    """A child chunk of a parent-child segment: what is embedded and matched."""

    __table_args__ = (UniqueConstraint("segment_id", "position"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    dataset_id: str = Field(foreign_key="dataset.id", index=True, max_length=36)
    document_id: str = Field(foreign_key="datasetdocument.id", index=True, max_length=36)
    segment_id: str = Field(foreign_key="documentsegment.id", index=True, max_length=36)
    position: int
    content: str = Field(sa_column=Column(Text, nullable=False))
    word_count: int = 0
    index_node_id: str = Field(default_factory=new_id, max_length=36)
    index_node_hash: str = Field(default="", max_length=64)
    # automatic (made by splitting) or customized (made through the API).
    type: str = Field(default="automatic", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DatasetMetadataField(SQLModel, table=True):
    """A metadata field of a dataset (string, number or time)."""

    __table_args__ = (UniqueConstraint("dataset_id", "name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    dataset_id: str = Field(foreign_key="dataset.id", index=True, max_length=36)
    name: str = Field(max_length=255)
    type: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
