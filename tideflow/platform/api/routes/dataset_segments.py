"""Segments (Dify's chunks) of a document.

A change to indexed text commits the rows first (status ``indexing``), then has the worker
embed them (``index_segments``) and answers with the rows as the worker left them. Enabling
or disabling a segment changes its row only: retrieval skips disabled segments itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlmodel import Session
from temporalio.client import Client

from tideflow.activities.knowledge.models import VectorOpInput
from tideflow.platform.api.deps import SessionDep, SettingsDep, TemporalClientDep
from tideflow.platform.api.errors import ApiError, invalid_param, not_found
from tideflow.platform.api.knowledge_schemas import segment_json
from tideflow.platform.api.routes.dataset_access import TenantDocument, TenantSegment
from tideflow.platform.api.schemas import MAX_PAGE, page_of
from tideflow.platform.db.crud import segments as segment_crud
from tideflow.platform.db.crud.segments import NewSegment, content_hash
from tideflow.platform.db.ids import utcnow
from tideflow.platform.db.knowledge_models import DatasetDocument, DocumentSegment
from tideflow.platform.knowledge import run_vector_op
from tideflow.platform.settings import Settings

router = APIRouter(tags=["knowledge: segments"])
SEGMENTS = "/datasets/{dataset_id}/documents/{document_id}/segments"


class SegmentIn(BaseModel):
    """A new segment."""

    content: str = Field(min_length=1)
    answer: str | None = None
    keywords: list[str] | None = Field(default=None, max_length=100)
    attachment_ids: list[str] | None = None


class SegmentsBody(BaseModel):
    """``POST .../segments``."""

    segments: list[SegmentIn] = Field(min_length=1, max_length=1000)


class SegmentChange(BaseModel):
    """What ``POST .../segments/{id}`` changes."""

    content: str | None = Field(default=None, min_length=1)
    answer: str | None = None
    keywords: list[str] | None = Field(default=None, max_length=100)
    enabled: bool | None = None
    regenerate_child_chunks: bool = False
    attachment_ids: list[str] | None = None
    summary: str | None = None


class SegmentUpdateBody(BaseModel):
    """``POST .../segments/{id}``."""

    segment: SegmentChange


async def index_segments(
    client: Client,
    settings: Settings,
    session: Session,
    document: DatasetDocument,
    segments: Sequence[DocumentSegment],
) -> None:
    """Have the worker embed the segments as stored; on failure they are marked ``error``."""
    op = VectorOpInput(
        op="index_segments",
        tenant_id=document.tenant_id,
        dataset_id=document.dataset_id,
        document_ids=[document.id],
        segment_ids=[s.id for s in segments],
    )
    try:
        await run_vector_op(client, settings, op)
    except ApiError as err:
        for segment in segments:
            segment.status, segment.error = "error", err.message
        segment_crud.save_segments(session, segments)
        raise


def _fresh(session: Session, segments: Sequence[DocumentSegment]) -> list[dict[str, Any]]:
    """The segments as the worker left them, with their child chunks, as Dify shows them."""
    for segment in segments:
        session.refresh(segment)
    children = segment_crud.child_chunks_of(session, [s.id for s in segments])
    return [segment_json(s, children[s.id]) for s in segments]


@router.post(SEGMENTS)
async def create_segments(
    body: SegmentsBody,
    document: TenantDocument,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> dict[str, Any]:
    """Add segments to a completed, enabled document and index them."""
    if document.indexing_status != "completed":
        raise not_found(f"document {document.name} is not completed yet; its segments are")
    if not document.enabled:
        raise not_found(f"document {document.name} is disabled; its segments are")
    for index, item in enumerate(body.segments):
        if not item.content.strip():
            raise invalid_param(f"segments[{index}].content: cannot be blank")
        if document.doc_form == "qa_model" and not (item.answer or "").strip():
            raise invalid_param(f"segments[{index}].answer: required in Q&A mode")
    new = [NewSegment(s.content, s.answer, tuple(s.keywords or ())) for s in body.segments]
    rows = segment_crud.add_segments(session, document, new)
    await index_segments(client, settings, session, document, rows)
    return {"data": _fresh(session, rows), "doc_form": document.doc_form}


@router.get(SEGMENTS)
def list_segments(
    document: TenantDocument,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1)] = 20,
    status: Annotated[list[str] | None, Query()] = None,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    """The document's segments by position, by status and content keyword (``limit`` is
    capped at 100, as Dify does)."""
    limit = min(limit, 100)
    rows, total = segment_crud.list_segments(session, document, page, limit, status or (), keyword)
    children = segment_crud.child_chunks_of(session, [s.id for s in rows])
    data = [segment_json(s, children[s.id]) for s in rows]
    return {**page_of(data, page, limit, total), "doc_form": document.doc_form}


@router.get(SEGMENTS + "/{segment_id}")
def get_segment(
    document: TenantDocument, segment: TenantSegment, session: SessionDep
) -> dict[str, Any]:
    """One segment with its child chunks."""
    return {"data": _fresh(session, [segment])[0], "doc_form": document.doc_form}


@router.post(SEGMENTS + "/{segment_id}")
async def update_segment(
    body: SegmentUpdateBody,
    document: TenantDocument,
    segment: TenantSegment,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> dict[str, Any]:
    """Change a segment: new text is indexed again; ``enabled`` only flips the row."""
    change = body.segment
    if change.regenerate_child_chunks:
        raise invalid_param(
            "segment.regenerate_child_chunks: not supported; edit the child chunks through "
            ".../child_chunks"
        )
    if change.content is not None and not change.content.strip():
        raise invalid_param("segment.content: cannot be blank")
    edits = change.model_fields_set & {"content", "answer", "keywords"}
    if edits and not segment.enabled and change.enabled is not True:
        raise invalid_param("segment.enabled: a disabled segment cannot be edited; enable it")
    reindex = False
    if change.content is not None and change.content != segment.content:
        segment.content, segment.index_node_hash = change.content, content_hash(change.content)
        reindex = True
    if "answer" in change.model_fields_set and change.answer != segment.answer:
        if document.doc_form == "qa_model" and not (change.answer or "").strip():
            raise invalid_param("segment.answer: required in Q&A mode")
        segment.answer, reindex = change.answer, True
    if change.keywords is not None and change.keywords != list(segment.keywords or []):
        segment.keywords, reindex = list(change.keywords), True
    if change.enabled is not None and change.enabled != segment.enabled:
        segment.enabled, segment.disabled_at = change.enabled, None if change.enabled else utcnow()
    if reindex:
        segment.status, segment.error, segment.indexing_at = "indexing", None, utcnow()
    segment_crud.update_segment(session, document, segment)
    if reindex:
        await index_segments(client, settings, session, document, [segment])
    return {"data": _fresh(session, [segment])[0], "doc_form": document.doc_form}


@router.delete(SEGMENTS + "/{segment_id}", status_code=204)
async def delete_segment(
    document: TenantDocument,
    segment: TenantSegment,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> Response:
    """Delete a segment, its child chunks and their vectors."""
    # No document_ids: the worker would remove every point of the document.
    op = VectorOpInput(
        op="delete_segments",
        tenant_id=document.tenant_id,
        dataset_id=document.dataset_id,
        segment_ids=[segment.id],
        point_ids=segment_crud.point_ids_of_segment(session, segment),
    )
    await run_vector_op(client, settings, op)
    segment_crud.delete_segment(session, document, segment)
    return Response(status_code=204)
