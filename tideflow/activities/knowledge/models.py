"""What crosses Temporal for knowledge bases (pure pydantic, importable by workflow code).

Ingestion of one document is ``DocumentIngestionWorkflow`` (id ``ingest-<document id>``):
``parse`` -> ``split`` (clean + chunk into segment rows) -> ``index`` (embed in batches and
upsert into the vector store) -> ``completed``. Every payload carries ids; the document's
text, parsed text and chunks stay in the file store and the database.

Retrieval (the knowledge-retrieval node, and the API's hit testing through
``KnowledgeRetrieveWorkflow``) is one ``knowledge_retrieve`` activity: only the worker opens the
vector store. Changes the API makes to indexed data (deleting a dataset, a document or
segments; adding or editing segments) are ``knowledge_vector_op`` activities run by
``KnowledgeVectorOpWorkflow``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

PARSE_ACTIVITY = "parse_dataset_document"
SPLIT_ACTIVITY = "split_dataset_document"
INDEX_ACTIVITY = "index_dataset_document"
STATUS_ACTIVITY = "set_dataset_document_status"
RETRIEVE_ACTIVITY = "knowledge_retrieve"
VECTOR_OP_ACTIVITY = "knowledge_vector_op"

INGESTION_WORKFLOW = "DocumentIngestionWorkflow"
RETRIEVE_WORKFLOW = "KnowledgeRetrieveWorkflow"
VECTOR_OP_WORKFLOW = "KnowledgeVectorOpWorkflow"

# Signals of DocumentIngestionWorkflow.
PAUSE_SIGNAL = "pause"
RESUME_SIGNAL = "resume"


def ingestion_workflow_id(document_id: str) -> str:
    """The Temporal workflow id of a document's ingestion (one live run per document)."""
    return f"ingest-{document_id}"


class IngestionInput(BaseModel):
    """Ingest one document. ``generation`` is the document's at the time of the request: a
    stage finding a newer one (a re-index was asked meanwhile) stops without writing."""

    tenant_id: str
    dataset_id: str
    document_id: str
    generation: int = 1
    # Re-index: parse again even when parsed text is stored (settings changed).
    reparse: bool = False
    # False (a retry): keep the document's segments when it has them, so batches that were
    # embedded before the failure are not embedded again.
    resplit: bool = True
    # Worker pool -> task queue of the stages (tideflow.workflows.task_queues); empty: the
    # workflow's own queue.
    activity_queues: dict[str, str] = Field(default_factory=dict[str, str])


class StageInput(BaseModel):
    """One stage of a document's ingestion."""

    document_id: str
    generation: int = 1
    reparse: bool = False
    resplit: bool = True


class StageResult(BaseModel):
    """What a stage did; ``stale`` when the document was re-indexed or deleted meanwhile."""

    stale: bool = False
    # index: stopped between batches because the document was paused.
    paused: bool = False
    # parse: characters of parsed text; split: segments; index: segments indexed now.
    count: int = 0
    # index: embedding batches sent now, and batches already done before this attempt.
    batches_sent: int = 0
    batches_skipped: int = 0
    tokens: int = 0


class StatusInput(BaseModel):
    """Set a document's ``indexing_status`` (and its stamp), unless its generation moved on."""

    document_id: str
    generation: int = 1
    status: Literal[
        "waiting", "parsing", "cleaning", "splitting", "indexing", "completed", "error", "paused"
    ]
    error: str | None = None


class RetrieveInput(BaseModel):
    """Search datasets of one tenant."""

    tenant_id: str
    dataset_ids: list[str]
    query: str
    # Dify's retrieval_model dict: search_method, top_k, score_threshold(_enabled),
    # reranking_enable/mode/model, weights, metadata_filtering_conditions. Missing keys take
    # the dataset's own retrieval_model, then Dify's defaults.
    retrieval_model: dict[str, Any] = Field(default_factory=dict[str, Any])
    # The node or endpoint asking (named in errors).
    caller: str = "retrieve"
    # Count a hit on every returned segment (hit_count), as Dify does for real queries.
    count_hits: bool = True


class RetrievedChildChunk(BaseModel):
    """A matched child chunk of a parent-child segment."""

    id: str
    content: str
    position: int
    score: float


class RetrievedSegment(BaseModel):
    """One hit: a segment with its document and dataset, and its score."""

    dataset_id: str
    dataset_name: str
    document_id: str
    document_name: str
    data_source_type: str
    segment_id: str
    position: int
    content: str
    answer: str | None = None
    score: float
    word_count: int = 0
    tokens: int = 0
    keywords: list[str] = Field(default_factory=list[str])
    hit_count: int = 0
    index_node_id: str = ""
    index_node_hash: str = ""
    doc_metadata: dict[str, Any] = Field(default_factory=dict[str, Any])
    child_chunks: list[RetrievedChildChunk] = Field(default_factory=list[RetrievedChildChunk])


class RetrieveResult(BaseModel):
    """Hits best first, and what the search could not do as asked (``notes``), e.g. no
    embedding model is configured, so full-text search was used."""

    records: list[RetrievedSegment] = Field(default_factory=list[RetrievedSegment])
    search_method: str = ""
    notes: list[str] = Field(default_factory=list[str])


class VectorOpInput(BaseModel):
    """Change indexed data: ``delete_dataset`` (its collection), ``delete_documents``,
    ``delete_segments`` (points by segment id, with their child chunks), ``index_segments``
    (embed and upsert these segments as they are stored now)."""

    op: Literal["delete_dataset", "delete_documents", "delete_segments", "index_segments"]
    tenant_id: str
    dataset_id: str
    document_ids: list[str] = Field(default_factory=list[str])
    segment_ids: list[str] = Field(default_factory=list[str])
    # delete_*: the vector store point ids to remove (rows may already be gone).
    point_ids: list[str] = Field(default_factory=list[str])


class VectorOpResult(BaseModel):
    """Points written or removed."""

    points: int = 0
