"""Documents of a dataset: lookups, pages filtered by display status, counts, deletion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func
from sqlmodel import Session, col, select

from tideflow.platform.db.ids import utcnow
from tideflow.platform.db.knowledge_models import (
    ChildChunk,
    Dataset,
    DatasetDocument,
    DocumentSegment,
)

# The ingestion stages Dify shows as "indexing".
INDEXING_STATES = ("parsing", "cleaning", "splitting", "indexing")
# States in which a document's ingestion workflow is (or should be) running.
IN_PROGRESS_STATES = ("waiting", *INDEXING_STATES)


def get_document(session: Session, dataset: Dataset, document_id: str) -> DatasetDocument | None:
    """One of the dataset's documents."""
    document = session.get(DatasetDocument, document_id)
    if document is None or document.dataset_id != dataset.id:
        return None
    return document


def documents_by_ids(
    session: Session, dataset: Dataset, document_ids: Sequence[str]
) -> dict[str, DatasetDocument]:
    """The dataset's documents among ``document_ids``, by id (others are left out)."""
    if not document_ids:
        return {}
    query = select(DatasetDocument).where(
        DatasetDocument.dataset_id == dataset.id, col(DatasetDocument.id).in_(document_ids)
    )
    return {d.id: d for d in session.exec(query)}


def all_documents(session: Session, dataset: Dataset) -> list[DatasetDocument]:
    """Every document of the dataset, by position."""
    query = (
        select(DatasetDocument)
        .where(DatasetDocument.dataset_id == dataset.id)
        .order_by(col(DatasetDocument.position))
    )
    return list(session.exec(query))


def documents_of_batch(session: Session, dataset: Dataset, batch: str) -> list[DatasetDocument]:
    """The dataset's documents created (or last re-indexed) in ``batch``, by position."""
    query = (
        select(DatasetDocument)
        .where(DatasetDocument.dataset_id == dataset.id, DatasetDocument.batch == batch)
        .order_by(col(DatasetDocument.position))
    )
    return list(session.exec(query))


def _display_condition(status: str) -> ColumnElement[bool]:
    indexing_status = col(DatasetDocument.indexing_status)
    completed = indexing_status == "completed"
    archived = col(DatasetDocument.archived)
    enabled = col(DatasetDocument.enabled)
    conditions: dict[str, ColumnElement[bool]] = {
        "queuing": indexing_status == "waiting",
        "indexing": indexing_status.in_(INDEXING_STATES),
        "paused": indexing_status == "paused",
        "error": indexing_status == "error",
        "available": completed & enabled & ~archived,
        "disabled": completed & ~enabled & ~archived,
        "archived": completed & archived,
    }
    return conditions[status]


def list_documents(
    session: Session,
    dataset: Dataset,
    page: int,
    limit: int,
    keyword: str | None = None,
    display_status: str | None = None,
) -> tuple[list[DatasetDocument], int]:
    """One page of the dataset's documents, newest first, and the total."""
    where: list[ColumnElement[bool]] = [col(DatasetDocument.dataset_id) == dataset.id]
    if keyword:
        where.append(col(DatasetDocument.name).ilike(f"%{keyword}%"))
    if display_status:
        where.append(_display_condition(display_status))
    total = session.exec(select(func.count()).select_from(DatasetDocument).where(*where)).one()
    query = (
        select(DatasetDocument)
        .where(*where)
        .order_by(col(DatasetDocument.created_at).desc(), col(DatasetDocument.position).desc())
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return list(session.exec(query)), int(total)


def next_position(session: Session, dataset: Dataset) -> int:
    """The position after the dataset's last document."""
    last = session.exec(
        select(func.max(DatasetDocument.position)).where(DatasetDocument.dataset_id == dataset.id)
    ).one()
    return int(last or 0) + 1


def latest_process_rule(session: Session, dataset: Dataset) -> dict[str, Any] | None:
    """The process rule of the dataset's newest document (Dify reuses the dataset's latest)."""
    query = (
        select(DatasetDocument)
        .where(DatasetDocument.dataset_id == dataset.id)
        .order_by(col(DatasetDocument.created_at).desc(), col(DatasetDocument.position).desc())
    )
    newest = session.exec(query.limit(1)).first()
    return dict(newest.process_rule) if newest is not None and newest.process_rule else None


def save_documents(
    session: Session, documents: Sequence[DatasetDocument], dataset: Dataset | None = None
) -> None:
    """Insert or update documents (and the dataset they changed) in one commit."""
    now = utcnow()
    if dataset is not None:
        dataset.updated_at = now
        session.add(dataset)
    for document in documents:
        document.updated_at = now
        session.add(document)
    session.commit()
    for document in documents:
        session.refresh(document)
    if dataset is not None:
        session.refresh(dataset)


def hit_counts(session: Session, document_ids: Sequence[str]) -> dict[str, int]:
    """Sum of the segments' hit counts, per document."""
    if not document_ids:
        return {}
    rows = session.exec(
        select(DocumentSegment.document_id, func.coalesce(func.sum(DocumentSegment.hit_count), 0))
        .where(col(DocumentSegment.document_id).in_(document_ids))
        .group_by(col(DocumentSegment.document_id))
    )
    return {document_id: int(hits) for document_id, hits in rows}


def segment_progress(session: Session, document_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(completed, total) segments per document that has segment rows."""
    if not document_ids:
        return {}
    done = func.sum(case((col(DocumentSegment.status) == "completed", 1), else_=0))
    rows = session.exec(
        select(DocumentSegment.document_id, done, func.count())
        .where(col(DocumentSegment.document_id).in_(document_ids))
        .group_by(col(DocumentSegment.document_id))
    )
    return {
        document_id: (int(completed or 0), int(total)) for document_id, completed, total in rows
    }


def segment_stats(session: Session, document: DatasetDocument) -> tuple[int, float]:
    """(segment count, average segment length in characters) of a document."""
    count, average = session.exec(
        select(func.count(), func.avg(DocumentSegment.word_count)).where(
            DocumentSegment.document_id == document.id
        )
    ).one()
    return int(count), float(average or 0.0)


def has_segments(session: Session, dataset: Dataset) -> bool:
    """Whether any segment of the dataset exists (so it may have points in the vector store)."""
    query = select(DocumentSegment.id).where(DocumentSegment.dataset_id == dataset.id)
    return session.exec(query.limit(1)).first() is not None


def point_ids_of_documents(session: Session, document_ids: Sequence[str]) -> list[str]:
    """The vector store point ids of the documents' segments and child chunks."""
    if not document_ids:
        return []
    segments = session.exec(
        select(DocumentSegment.index_node_id).where(
            col(DocumentSegment.document_id).in_(document_ids)
        )
    ).all()
    children = session.exec(
        select(ChildChunk.index_node_id).where(col(ChildChunk.document_id).in_(document_ids))
    ).all()
    return [*segments, *children]


def delete_documents(session: Session, documents: Sequence[DatasetDocument]) -> list[str]:
    """Delete documents with their segments and child chunks; the file-store ids they held."""
    ids = [d.id for d in documents]
    if not ids:
        return []
    stored = [s for d in documents for s in (d.source_store_id, d.parsed_store_id) if s]
    session.exec(delete(ChildChunk).where(col(ChildChunk.document_id).in_(ids)))
    session.exec(delete(DocumentSegment).where(col(DocumentSegment.document_id).in_(ids)))
    session.exec(delete(DatasetDocument).where(col(DatasetDocument.id).in_(ids)))
    session.commit()
    return stored
