"""Documents of a knowledge base: list, read, delete, follow their ingestion, enable /
disable / archive them, and pause, resume or retry their ingestion (Dify's console paths,
also under /v1)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from tideflow.activities.knowledge.models import VectorOpInput
from tideflow.platform.api.deps import SessionDep, SettingsDep, TemporalClientDep
from tideflow.platform.api.errors import ApiError, invalid_param, not_found
from tideflow.platform.api.knowledge_requests import (
    begin_ingestion,
    discard_files,
    reset_for_reindex,
)
from tideflow.platform.api.knowledge_schemas import (
    document_detail_json,
    indexing_status_json,
)
from tideflow.platform.api.routes.dataset_access import TenantDataset, TenantDocument
from tideflow.platform.api.routes.dataset_views import documents_view
from tideflow.platform.api.schemas import MAX_PAGE, page_of
from tideflow.platform.db.crud import dataset_documents as document_crud
from tideflow.platform.db.crud import datasets as dataset_crud
from tideflow.platform.db.crud.dataset_documents import IN_PROGRESS_STATES
from tideflow.platform.db.ids import utcnow
from tideflow.platform.db.knowledge_models import Dataset, DatasetDocument
from tideflow.platform.knowledge import (
    ingestion_running,
    run_vector_op,
    signal_ingestion,
    stop_ingestion,
)

router = APIRouter(tags=["knowledge: documents"])

DisplayStatus = Literal[
    "queuing", "indexing", "paused", "error", "available", "disabled", "archived"
]


class DocumentIdsBody(BaseModel):
    """``{document_ids}`` of a batch operation."""

    document_ids: list[str] = Field(default_factory=list[str], max_length=1000)


def _documents(session: Session, dataset: Dataset, ids: list[str]) -> list[DatasetDocument]:
    """The named documents, in order; 404 naming the first that is not the dataset's."""
    found = document_crud.documents_by_ids(session, dataset, ids)
    for index, document_id in enumerate(ids):
        if document_id not in found:
            raise not_found(f"document_ids[{index}]: document {document_id}")
    return [found[i] for i in dict.fromkeys(ids)]


@router.get("/datasets/{dataset_id}/documents")
def list_documents(
    dataset: TenantDataset,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1)] = 20,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
    status: DisplayStatus | None = None,
) -> dict[str, Any]:
    """The dataset's documents, newest first, by name keyword and display status
    (``limit`` is capped at 100, as Dify does)."""
    limit = min(limit, 100)
    rows, total = document_crud.list_documents(session, dataset, page, limit, keyword, status)
    return page_of(documents_view(session, dataset, rows), page, limit, total)


@router.get("/datasets/{dataset_id}/documents/{document_id}")
def get_document(
    dataset: TenantDataset,
    document: TenantDocument,
    session: SessionDep,
    metadata: Literal["all", "only", "without"] = "all",
) -> dict[str, Any]:
    """A document with its process rule and segment statistics; ``metadata=only`` gives
    ``{id, doc_type, doc_metadata}``, ``without`` leaves those out."""
    fields = dataset_crud.metadata_fields(session, [dataset.id])[dataset.id]
    count, average = document_crud.segment_stats(session, document)
    detail = document_detail_json(
        document,
        fields,
        dataset.built_in_field_enabled,
        hit_count=document_crud.hit_counts(session, [document.id]).get(document.id, 0),
        segment_count=count,
        average_segment_length=average,
    )
    if metadata == "only":
        return {k: detail[k] for k in ("id", "doc_type", "doc_metadata")}
    if metadata == "without":
        return {k: v for k, v in detail.items() if k not in ("doc_type", "doc_metadata")}
    return detail


@router.delete("/datasets/{dataset_id}/documents/{document_id}", status_code=204)
async def delete_document(
    dataset: TenantDataset,
    document: TenantDocument,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> Response:
    """Delete a document: its ingestion run, its vectors, its rows and its files."""
    if document.archived:
        raise ApiError(403, "archived_document_immutable", "an archived document cannot change")
    await stop_ingestion(client, document.id)
    points = document_crud.point_ids_of_documents(session, [document.id])
    if points:
        op = VectorOpInput(
            op="delete_documents",
            tenant_id=dataset.tenant_id,
            dataset_id=dataset.id,
            document_ids=[document.id],
            point_ids=points,
        )
        await run_vector_op(client, settings, op)
    stored = document_crud.delete_documents(session, [document])
    await asyncio.to_thread(discard_files, settings, stored)
    return Response(status_code=204)


@router.get("/datasets/{dataset_id}/documents/{batch}/indexing-status")
def indexing_status(dataset: TenantDataset, batch: str, session: SessionDep) -> dict[str, Any]:
    """Where each document of a batch stands: its stage, stamps and segment counts."""
    documents = document_crud.documents_of_batch(session, dataset, batch)
    if not documents:
        raise not_found(f"documents of batch {batch}")
    progress = document_crud.segment_progress(session, [d.id for d in documents])
    data = [
        # Segment rows are counted as Dify does; before any exist, the stage's own counts.
        indexing_status_json(d, *progress.get(d.id, (d.completed_segments, d.total_segments)))
        for d in documents
    ]
    return {"data": data}


@router.patch("/datasets/{dataset_id}/documents/status/{action}")
def set_documents_status(
    action: str, body: DocumentIdsBody, dataset: TenantDataset, session: SessionDep
) -> dict[str, Any]:
    """Enable, disable, archive or un-archive documents (retrieval reads these flags)."""
    if action not in ("enable", "disable", "archive", "un_archive"):
        raise ApiError(
            400, "invalid_action", f"action: {action!r} is not enable, disable, archive, un_archive"
        )
    documents = _documents(session, dataset, body.document_ids)
    now = utcnow()
    for document in documents:
        if action == "disable" and document.enabled and document.indexing_status != "completed":
            raise ApiError(
                400, "invalid_action", f"document {document.name} is not completed; cannot disable"
            )
    for document in documents:
        if action in ("enable", "disable"):
            enabled = action == "enable"
            if document.enabled != enabled:
                document.enabled, document.disabled_at = enabled, None if enabled else now
        else:
            archived = action == "archive"
            if document.archived != archived:
                document.archived, document.archived_at = archived, now if archived else None
    document_crud.save_documents(session, documents, dataset)
    return {"result": "success"}


@router.patch("/datasets/{dataset_id}/documents/{document_id}/processing/{action}", status_code=204)
async def pause_or_resume(
    action: Literal["pause", "resume"], document: TenantDocument, client: TemporalClientDep
) -> Response:
    """Pause or resume a document's ingestion (a signal to its workflow, which records the
    ``paused`` status); 400 when it is not being ingested."""
    allowed = IN_PROGRESS_STATES if action == "pause" else (*IN_PROGRESS_STATES, "paused")
    running = document.indexing_status in allowed and await signal_ingestion(
        client, document.id, pause=action == "pause"
    )
    if not running:
        raise ApiError(
            400,
            "document_indexing",
            f"document {document.name} is not being indexed (status {document.indexing_status});"
            f" nothing to {action}",
        )
    return Response(status_code=204)


@router.post("/datasets/{dataset_id}/retry", status_code=204)
async def retry_documents(
    body: DocumentIdsBody,
    dataset: TenantDataset,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> Response:
    """Ingest again documents whose ingestion failed, was paused, or stopped without an end
    (no run going: say a worker pool gone for longer than the retries last). Segments already
    made are kept, and their embedded batches are not embedded again."""
    if not body.document_ids:
        raise invalid_param("document_ids: name at least one document")
    documents = _documents(session, dataset, body.document_ids)
    for document in documents:
        status = document.indexing_status
        stuck = status not in ("error", "paused", "completed") and not (
            await ingestion_running(client, document.id)
        )
        if status not in ("error", "paused") and not stuck:
            raise invalid_param(
                f"document_ids: document {document.id} ({document.name}) is {status}; only "
                "failed, paused or stalled documents are retried"
            )
    for document in documents:
        reset_for_reindex(document)
    document_crud.save_documents(session, documents)
    await begin_ingestion(client, settings, session, documents, reparse=False, resplit=False)
    return Response(status_code=204)
