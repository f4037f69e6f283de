"""Child chunks of parent-child (``hierarchical_model``) segments: what is embedded and
matched, a hit returning the parent. Chunks made here are typed ``customized``; a change
indexes the parent segment again."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from tideflow.activities.knowledge.models import VectorOpInput
from tideflow.platform.api.deps import SessionDep, SettingsDep, TemporalClientDep
from tideflow.platform.api.errors import invalid_param, not_found
from tideflow.platform.api.knowledge_schemas import child_chunk_json
from tideflow.platform.api.routes.dataset_access import TenantDocument, TenantSegment
from tideflow.platform.api.routes.dataset_segments import SEGMENTS, index_segments
from tideflow.platform.api.schemas import MAX_PAGE
from tideflow.platform.db.crud import segments as segment_crud
from tideflow.platform.db.crud.segments import content_hash
from tideflow.platform.db.knowledge_models import ChildChunk, DatasetDocument, DocumentSegment
from tideflow.platform.knowledge import run_vector_op

router = APIRouter(tags=["knowledge: segments"])
CHILD_CHUNKS = SEGMENTS + "/{segment_id}/child_chunks"


class ChildChunkBody(BaseModel):
    """A child chunk's text."""

    content: str = Field(min_length=1)


def _parent_child(document: DatasetDocument) -> None:
    if document.doc_form != "hierarchical_model":
        raise invalid_param(
            f"child chunks belong to parent-child (hierarchical_model) documents; document "
            f"{document.name} is {document.doc_form}"
        )


def _child(session: Session, segment: DocumentSegment, child_chunk_id: str) -> ChildChunk:
    chunk = segment_crud.get_child_chunk(session, segment, child_chunk_id)
    if chunk is None:
        raise not_found("child chunk")
    return chunk


@router.post(CHILD_CHUNKS)
async def create_child_chunk(
    body: ChildChunkBody,
    document: TenantDocument,
    segment: TenantSegment,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> dict[str, Any]:
    """Add a ``customized`` child chunk and index its segment again."""
    _parent_child(document)
    if not body.content.strip():
        raise invalid_param("content: cannot be blank")
    chunk = segment_crud.add_child_chunk(session, segment, body.content)
    await index_segments(client, settings, session, document, [segment])
    return {"data": child_chunk_json(chunk)}


@router.get(CHILD_CHUNKS)
def list_child_chunks(
    segment: TenantSegment,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1)] = 20,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    """The segment's child chunks by position (``limit`` capped at 100)."""
    limit = min(limit, 100)
    rows, total = segment_crud.list_child_chunks(session, segment, page, limit, keyword)
    return {
        "data": [child_chunk_json(c) for c in rows],
        "total": total,
        "total_pages": math.ceil(total / limit),
        "page": page,
        "limit": limit,
    }


@router.patch(CHILD_CHUNKS + "/{child_chunk_id}")
async def update_child_chunk(
    child_chunk_id: str,
    body: ChildChunkBody,
    document: TenantDocument,
    segment: TenantSegment,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> dict[str, Any]:
    """Change a child chunk's text (it becomes ``customized``) and index its segment again."""
    _parent_child(document)
    chunk = _child(session, segment, child_chunk_id)
    if not body.content.strip():
        raise invalid_param("content: cannot be blank")
    chunk.content, chunk.word_count = body.content, len(body.content)
    chunk.index_node_hash, chunk.type = content_hash(body.content), "customized"
    segment_crud.save_child_chunk(session, chunk)
    await index_segments(client, settings, session, document, [segment])
    return {"data": child_chunk_json(chunk)}


@router.delete(CHILD_CHUNKS + "/{child_chunk_id}", status_code=204)
async def delete_child_chunk(
    child_chunk_id: str,
    document: TenantDocument,
    segment: TenantSegment,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> Response:
    """Delete a child chunk and its vector."""
    _parent_child(document)
    chunk = _child(session, segment, child_chunk_id)
    # Only this chunk's point: naming the segment would remove all of its children's.
    op = VectorOpInput(
        op="delete_segments",
        tenant_id=document.tenant_id,
        dataset_id=document.dataset_id,
        point_ids=[chunk.index_node_id],
    )
    await run_vector_op(client, settings, op)
    segment_crud.delete_child_chunk(session, chunk)
    return Response(status_code=204)
