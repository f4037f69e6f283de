"""The ingestion's reads and writes of the app database (synchronous: activities call them in a
thread). Every write checks the document's ``generation``: a stage of a run that a re-index
replaced, or of a deleted document, writes nothing and reports itself stale."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, update
from sqlmodel import Session, col, select

from tideflow.platform.db.crud.model_providers import list_defaults
from tideflow.platform.db.ids import new_id, utcnow
from tideflow.platform.db.knowledge_models import (
    ChildChunk,
    Dataset,
    DatasetDocument,
    DocumentSegment,
)
from tideflow.platform.db.session import get_engine

# The stamp each status sets (Dify's indexing-status fields).
_STAMPS = {
    "parsing": "processing_started_at",
    "cleaning": "parsing_completed_at",
    "splitting": "cleaning_completed_at",
    "indexing": "splitting_completed_at",
    "completed": "completed_at",
    "paused": "paused_at",
    "error": "stopped_at",
}


@dataclasses.dataclass(frozen=True)
class DocumentSnapshot:
    """What a stage needs to know of a document and its dataset."""

    id: str
    tenant_id: str
    dataset_id: str
    generation: int
    source_store_id: str
    source_name: str
    parsed_store_id: str | None
    process_rule: dict[str, Any]
    doc_form: str
    indexing_technique: str
    embedding: tuple[str, str] | None
    total_segments: int = 0


@dataclasses.dataclass(frozen=True)
class PendingSegment:
    """A segment still to index, with the texts to embed: its own, or its child chunks'."""

    id: str
    index_node_id: str
    content: str
    # (child id, point id, content) in parent-child mode.
    children: list[tuple[str, str, str]]


def content_hash(text: str) -> str:
    """Dify's index_node_hash: SHA-256 of the indexed text."""
    return hashlib.sha256(text.encode()).hexdigest()


def embedding_model(session: Session, dataset: Dataset) -> tuple[str, str] | None:
    """(provider, model) a dataset embeds with: its own, else the workspace's default
    text-embedding model; None for economy datasets or when neither is set."""
    if dataset.indexing_technique == "economy":
        return None
    if dataset.embedding_model and dataset.embedding_model_provider:
        return dataset.embedding_model_provider, dataset.embedding_model
    defaults = list_defaults(session, dataset.tenant_id, "text-embedding")
    if defaults:
        return defaults[0].provider, defaults[0].model
    return None


def load_document(db_url: str, document_id: str) -> DocumentSnapshot | None:
    """The document with its dataset's settings; None when it was deleted."""
    with Session(get_engine(db_url)) as session:
        document = session.get(DatasetDocument, document_id)
        dataset = session.get(Dataset, document.dataset_id) if document else None
        if document is None or dataset is None:
            return None
        return DocumentSnapshot(
            id=document.id,
            tenant_id=document.tenant_id,
            dataset_id=document.dataset_id,
            generation=document.generation,
            source_store_id=document.source_store_id,
            source_name=document.source_name,
            parsed_store_id=document.parsed_store_id,
            process_rule=dict(document.process_rule or {}),
            doc_form=document.doc_form,
            indexing_technique=dataset.indexing_technique or "high_quality",
            embedding=embedding_model(session, dataset),
            total_segments=document.total_segments,
        )


def _current(session: Session, document_id: str, generation: int) -> DatasetDocument | None:
    """The document, locked for this transaction, when it is still at ``generation``.

    The check is a write (``UPDATE ... WHERE generation = :g``), so it takes the row's write
    lock at once: on SQLite a plain read would not, and a re-index committed between the
    read and this transaction's write would be overwritten.
    """
    claimed = session.exec(
        update(DatasetDocument)
        .where(
            col(DatasetDocument.id) == document_id,
            col(DatasetDocument.generation) == generation,
        )
        .values(updated_at=utcnow())
    )
    if claimed.rowcount != 1:
        return None
    return session.get(DatasetDocument, document_id, populate_existing=True)


def is_current(db_url: str, document_id: str, generation: int) -> bool:
    """Whether the document still exists at this generation (a re-index bumps it)."""
    with Session(get_engine(db_url)) as session:
        document = session.get(DatasetDocument, document_id)
        return document is not None and document.generation == generation


def set_status(
    db_url: str, document_id: str, generation: int, status: str, error: str | None
) -> bool:
    """Move the document to ``status`` and stamp it; False when stale."""
    with Session(get_engine(db_url)) as session:
        document = _current(session, document_id, generation)
        if document is None:
            return False
        now = utcnow()
        if document.indexing_status == "paused" and status != "paused":
            document.paused_at = None
        document.indexing_status = status
        document.error = error if status == "error" else None
        stamp = _STAMPS.get(status)
        if stamp is not None:
            setattr(document, stamp, now)
        if status == "completed" and document.processing_started_at is not None:
            started = _aware(document.processing_started_at)
            document.indexing_latency = (now - started).total_seconds()
        document.updated_at = now
        session.add(document)
        session.commit()
        return True


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


def save_parsed(
    db_url: str, document_id: str, generation: int, parsed_store_id: str, word_count: int
) -> bool:
    """Record the parsed text's file-store id; False when stale."""
    with Session(get_engine(db_url)) as session:
        document = _current(session, document_id, generation)
        if document is None:
            return False
        document.parsed_store_id = parsed_store_id
        document.word_count = word_count
        document.updated_at = utcnow()
        session.add(document)
        session.commit()
        return True


@dataclasses.dataclass(frozen=True)
class NewSegment:
    """A chunk to store: its text, tokens, and its child chunks' texts (parent-child)."""

    content: str
    tokens: int
    children: Sequence[str] = ()


def replace_segments(
    db_url: str, document_id: str, generation: int, chunks: Sequence[NewSegment]
) -> list[str] | None:
    """Replace the document's segments (and child chunks) with ``chunks``, in one transaction;
    the point ids of the replaced rows (to remove from the vector store), or None when stale."""
    with Session(get_engine(db_url)) as session:
        document = _current(session, document_id, generation)
        if document is None:
            return None
        old_points = list(
            session.exec(
                select(DocumentSegment.index_node_id).where(
                    DocumentSegment.document_id == document_id
                )
            )
        ) + list(
            session.exec(
                select(ChildChunk.index_node_id).where(ChildChunk.document_id == document_id)
            )
        )
        session.exec(delete(ChildChunk).where(col(ChildChunk.document_id) == document_id))
        session.exec(delete(DocumentSegment).where(col(DocumentSegment.document_id) == document_id))
        now = utcnow()
        segments: list[dict[str, Any]] = []
        children: list[dict[str, Any]] = []
        common = {
            "tenant_id": document.tenant_id,
            "dataset_id": document.dataset_id,
            "document_id": document_id,
            "created_at": now,
            "updated_at": now,
        }
        for position, chunk in enumerate(chunks, start=1):
            segment_id = new_id()
            segments.append(
                {
                    **common,
                    "id": segment_id,
                    "position": position,
                    "content": chunk.content,
                    "word_count": len(chunk.content),
                    "tokens": chunk.tokens,
                    "keywords": [],
                    "index_node_id": new_id(),
                    "index_node_hash": content_hash(chunk.content),
                    "status": "waiting",
                    "enabled": True,
                    "hit_count": 0,
                }
            )
            for child_position, text in enumerate(chunk.children, start=1):
                children.append(
                    {
                        **common,
                        "id": new_id(),
                        "segment_id": segment_id,
                        "position": child_position,
                        "content": text,
                        "word_count": len(text),
                        "index_node_id": new_id(),
                        "index_node_hash": content_hash(text),
                        "type": "automatic",
                    }
                )
        if segments:
            session.exec(insert(DocumentSegment), params=segments)
        if children:
            session.exec(insert(ChildChunk), params=children)
        document.total_segments = len(segments)
        document.completed_segments = 0
        document.tokens = sum(chunk.tokens for chunk in chunks)
        document.updated_at = now
        session.add(document)
        session.commit()
        return old_points


def pending_segments(db_url: str, document_id: str) -> tuple[list[PendingSegment], int]:
    """The document's segments not yet indexed, in order, and how many are already done."""
    with Session(get_engine(db_url)) as session:
        rows = list(
            session.exec(
                select(DocumentSegment)
                .where(DocumentSegment.document_id == document_id)
                .order_by(col(DocumentSegment.position))
            )
        )
        waiting = [row for row in rows if row.status != "completed"]
        return segments_with_children(session, waiting), len(rows) - len(waiting)


def segments_with_children(
    session: Session, rows: Sequence[DocumentSegment]
) -> list[PendingSegment]:
    """Segments as PendingSegment, each with its child chunks in order."""
    ids = [row.id for row in rows]
    children: dict[str, list[tuple[str, str, str]]] = {}
    if ids:
        for child in session.exec(
            select(ChildChunk)
            .where(col(ChildChunk.segment_id).in_(ids))
            .order_by(col(ChildChunk.segment_id), col(ChildChunk.position))
        ):
            children.setdefault(child.segment_id, []).append(
                (child.id, child.index_node_id, child.content)
            )
    return [
        PendingSegment(row.id, row.index_node_id, row.content, children.get(row.id, []))
        for row in rows
    ]


def complete_segments(session: Session, segment_ids: Sequence[str]) -> datetime:
    """Mark segments indexed (status ``completed``, stamps now), in the caller's transaction;
    the time stamped."""
    now = utcnow()
    session.exec(
        update(DocumentSegment)
        .where(col(DocumentSegment.id).in_(segment_ids))
        .values(status="completed", completed_at=now, indexing_at=now, error=None)
    )
    return now


def mark_indexed(
    db_url: str, document_id: str, generation: int, segment_ids: list[str]
) -> str | None:
    """Segments are in the vector store: completed, and counted on the document. The
    document's status after (``paused`` stops the index stage), None when stale."""
    with Session(get_engine(db_url)) as session:
        document = _current(session, document_id, generation)
        if document is None:
            return None
        now = complete_segments(session, segment_ids)
        # Counted, not added: two attempts marking the same batch count it once.
        document.completed_segments = session.exec(
            select(func.count())
            .select_from(DocumentSegment)
            .where(
                DocumentSegment.document_id == document_id,
                DocumentSegment.status == "completed",
            )
        ).one()
        document.updated_at = now
        status = document.indexing_status
        session.add(document)
        session.commit()
        return status
