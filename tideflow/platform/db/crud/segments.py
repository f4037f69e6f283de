"""Segments (chunks) of a document and the child chunks of parent-child segments."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, update
from sqlmodel import Session, col, select

from tideflow.platform.db.ids import utcnow
from tideflow.platform.db.knowledge_models import ChildChunk, DatasetDocument, DocumentSegment


@dataclass(frozen=True)
class NewSegment:
    """What the API was given for one segment."""

    content: str
    answer: str | None = None
    keywords: tuple[str, ...] = ()


def content_hash(text: str) -> str:
    """The SHA-256 of indexed text (``index_node_hash``): a changed hash means re-embed."""
    return hashlib.sha256(text.encode()).hexdigest()


def word_count(content: str, answer: str | None = None) -> int:
    """Dify's word count of a chunk: its characters (question and answer in Q&A mode)."""
    return len(content) + len(answer or "")


def get_segment(
    session: Session, document: DatasetDocument, segment_id: str
) -> DocumentSegment | None:
    """One of the document's segments."""
    segment = session.get(DocumentSegment, segment_id)
    if segment is None or segment.document_id != document.id:
        return None
    return segment


def segments_by_ids(
    session: Session, tenant_id: str, segment_ids: Sequence[str]
) -> dict[str, DocumentSegment]:
    """The tenant's segments among ``segment_ids``, by id."""
    if not segment_ids:
        return {}
    query = select(DocumentSegment).where(
        DocumentSegment.tenant_id == tenant_id, col(DocumentSegment.id).in_(segment_ids)
    )
    return {s.id: s for s in session.exec(query)}


def list_segments(
    session: Session,
    document: DatasetDocument,
    page: int,
    limit: int,
    statuses: Sequence[str] = (),
    keyword: str | None = None,
) -> tuple[list[DocumentSegment], int]:
    """One page of the document's segments by position, and the total."""
    where: list[ColumnElement[bool]] = [col(DocumentSegment.document_id) == document.id]
    if statuses:
        where.append(col(DocumentSegment.status).in_(statuses))
    if keyword:
        where.append(col(DocumentSegment.content).ilike(f"%{keyword}%"))
    total = session.exec(select(func.count()).select_from(DocumentSegment).where(*where)).one()
    query = (
        select(DocumentSegment)
        .where(*where)
        .order_by(col(DocumentSegment.position))
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return list(session.exec(query)), int(total)


def add_segments(
    session: Session, document: DatasetDocument, new: Sequence[NewSegment]
) -> list[DocumentSegment]:
    """Append segments (status ``indexing``: the caller has them embedded next)."""
    last = session.exec(
        select(func.max(DocumentSegment.position)).where(DocumentSegment.document_id == document.id)
    ).one()
    now = utcnow()
    rows: list[DocumentSegment] = []
    for offset, item in enumerate(new, start=1):
        rows.append(
            DocumentSegment(
                tenant_id=document.tenant_id,
                dataset_id=document.dataset_id,
                document_id=document.id,
                position=int(last or 0) + offset,
                content=item.content,
                answer=item.answer,
                keywords=list(item.keywords),
                word_count=word_count(item.content, item.answer),
                index_node_hash=content_hash(item.content),
                status="indexing",
                indexing_at=now,
            )
        )
    document.word_count += sum(r.word_count for r in rows)
    document.updated_at = now
    session.add(document)
    session.add_all(rows)
    session.commit()
    for row in rows:
        session.refresh(row)
    return rows


def save_segments(session: Session, segments: Sequence[DocumentSegment]) -> None:
    """Write changed segments."""
    now = utcnow()
    for segment in segments:
        segment.updated_at = now
        session.add(segment)
    session.commit()
    for segment in segments:
        session.refresh(segment)


def update_segment(
    session: Session, document: DatasetDocument, segment: DocumentSegment
) -> DocumentSegment:
    """Write a changed segment and the document's word count that follows from it."""
    before = session.exec(
        select(func.coalesce(func.sum(DocumentSegment.word_count), 0)).where(
            DocumentSegment.document_id == document.id, DocumentSegment.id != segment.id
        )
    ).one()
    segment.word_count = word_count(segment.content, segment.answer)
    document.word_count = int(before) + segment.word_count
    session.add(document)
    save_segments(session, [segment])
    return segment


def delete_segment(session: Session, document: DatasetDocument, segment: DocumentSegment) -> None:
    """Delete a segment with its child chunks."""
    session.exec(delete(ChildChunk).where(col(ChildChunk.segment_id) == segment.id))
    document.word_count = max(0, document.word_count - segment.word_count)
    session.add(document)
    session.delete(segment)
    session.commit()


def point_ids_of_segment(session: Session, segment: DocumentSegment) -> list[str]:
    """The vector store point ids of a segment and its child chunks."""
    children = session.exec(
        select(ChildChunk.index_node_id).where(ChildChunk.segment_id == segment.id)
    ).all()
    return [segment.index_node_id, *children]


def child_chunks_of(session: Session, segment_ids: Sequence[str]) -> dict[str, list[ChildChunk]]:
    """The child chunks of each segment, by position."""
    found: dict[str, list[ChildChunk]] = {s: [] for s in segment_ids}
    if not segment_ids:
        return found
    query = (
        select(ChildChunk)
        .where(col(ChildChunk.segment_id).in_(segment_ids))
        .order_by(col(ChildChunk.position))
    )
    for chunk in session.exec(query):
        found[chunk.segment_id].append(chunk)
    return found


def get_child_chunk(
    session: Session, segment: DocumentSegment, child_chunk_id: str
) -> ChildChunk | None:
    """One of the segment's child chunks."""
    chunk = session.get(ChildChunk, child_chunk_id)
    return chunk if chunk is not None and chunk.segment_id == segment.id else None


def list_child_chunks(
    session: Session, segment: DocumentSegment, page: int, limit: int, keyword: str | None
) -> tuple[list[ChildChunk], int]:
    """One page of the segment's child chunks by position, and the total."""
    where: list[ColumnElement[bool]] = [col(ChildChunk.segment_id) == segment.id]
    if keyword:
        where.append(col(ChildChunk.content).ilike(f"%{keyword}%"))
    total = session.exec(select(func.count()).select_from(ChildChunk).where(*where)).one()
    query = (
        select(ChildChunk)
        .where(*where)
        .order_by(col(ChildChunk.position))
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return list(session.exec(query)), int(total)


def add_child_chunk(session: Session, segment: DocumentSegment, content: str) -> ChildChunk:
    """Append a ``customized`` child chunk to a segment."""
    last = session.exec(
        select(func.max(ChildChunk.position)).where(ChildChunk.segment_id == segment.id)
    ).one()
    chunk = ChildChunk(
        tenant_id=segment.tenant_id,
        dataset_id=segment.dataset_id,
        document_id=segment.document_id,
        segment_id=segment.id,
        position=int(last or 0) + 1,
        content=content,
        word_count=len(content),
        index_node_hash=content_hash(content),
        type="customized",
    )
    session.add(chunk)
    session.commit()
    session.refresh(chunk)
    return chunk


def save_child_chunk(session: Session, chunk: ChildChunk) -> ChildChunk:
    """Write a changed child chunk."""
    chunk.updated_at = utcnow()
    session.add(chunk)
    session.commit()
    session.refresh(chunk)
    return chunk


def delete_child_chunk(session: Session, chunk: ChildChunk) -> None:
    """Delete a child chunk."""
    session.delete(chunk)
    session.commit()


def mark_dataset_unindexed(session: Session, dataset_id: str) -> None:
    """Every segment of the dataset is to be embedded again (its embedding model changed);
    committed with the caller's next commit."""
    session.exec(
        update(DocumentSegment)
        .where(col(DocumentSegment.dataset_id) == dataset_id)
        .values(status="waiting", completed_at=None)
    )
