"""The database side of a search: which datasets, which documents may answer, and the rows of
the segments that did (synchronous; the retrieval activity calls these in a thread)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from tideflow.activities.knowledge.metadata_filter import matches
from tideflow.activities.knowledge.records import embedding_model
from tideflow.platform.db.knowledge_models import (
    ChildChunk,
    Dataset,
    DatasetDocument,
    DocumentSegment,
)
from tideflow.platform.db.session import get_engine


@dataclasses.dataclass(frozen=True)
class SearchScope:
    """One dataset as a search sees it."""

    id: str
    name: str
    retrieval_model: dict[str, Any]
    embedding: tuple[str, str] | None
    # Completed, enabled, unarchived documents passing the metadata filter.
    document_ids: list[str]
    # Disabled segments of those documents.
    excluded_segment_ids: list[str]


def search_scopes(
    db_url: str,
    tenant_id: str,
    dataset_ids: Sequence[str],
    conditions: Sequence[Mapping[str, Any]],
    logical_operator: str,
) -> tuple[list[SearchScope], list[str]]:
    """The tenant's datasets among ``dataset_ids`` (in order) and the ids it does not have."""
    scopes: list[SearchScope] = []
    unknown: list[str] = []
    with Session(get_engine(db_url)) as session:
        for dataset_id in dict.fromkeys(dataset_ids):
            dataset = session.get(Dataset, dataset_id)
            if dataset is None or dataset.tenant_id != tenant_id:
                unknown.append(dataset_id)
                continue
            documents = session.exec(
                select(DatasetDocument).where(
                    DatasetDocument.dataset_id == dataset_id,
                    DatasetDocument.indexing_status == "completed",
                    col(DatasetDocument.enabled).is_(True),
                    col(DatasetDocument.archived).is_(False),
                )
            )
            allowed = [
                d.id
                for d in documents
                if matches(d.doc_metadata or {}, conditions, logical_operator)
            ]
            excluded = list(
                session.exec(
                    select(DocumentSegment.id).where(
                        DocumentSegment.dataset_id == dataset_id,
                        col(DocumentSegment.enabled).is_(False),
                    )
                )
            )
            scopes.append(
                SearchScope(
                    id=dataset.id,
                    name=dataset.name,
                    retrieval_model=dict(dataset.retrieval_model or {}),
                    embedding=embedding_model(session, dataset),
                    document_ids=allowed,
                    excluded_segment_ids=excluded,
                )
            )
    return scopes, unknown


@dataclasses.dataclass(frozen=True)
class SegmentRow:
    """A hit's segment with its document, dataset and child chunks by id."""

    segment: DocumentSegment
    document: DatasetDocument
    dataset_name: str
    children: dict[str, ChildChunk]


def count_hits(db_url: str, segment_ids: Sequence[str]) -> None:
    """One more hit for each of these segments (Dify's hit_count)."""
    with Session(get_engine(db_url)) as session:
        session.exec(
            update(DocumentSegment)
            .where(col(DocumentSegment.id).in_(segment_ids))
            .values(hit_count=DocumentSegment.hit_count + 1)
        )
        session.commit()


def segment_rows(
    db_url: str, segment_ids: Sequence[str], child_ids: Sequence[str]
) -> dict[str, SegmentRow]:
    """The rows of hit segments by id (deleted ones are missing)."""
    with Session(get_engine(db_url), expire_on_commit=False) as session:
        segments = list(
            session.exec(select(DocumentSegment).where(col(DocumentSegment.id).in_(segment_ids)))
        )
        documents = {
            d.id: d
            for d in session.exec(
                select(DatasetDocument).where(
                    col(DatasetDocument.id).in_({s.document_id for s in segments})
                )
            )
        }
        names = {
            d.id: d.name
            for d in session.exec(
                select(Dataset).where(col(Dataset.id).in_({s.dataset_id for s in segments}))
            )
        }
        children: dict[str, dict[str, ChildChunk]] = {}
        if child_ids:
            for child in session.exec(select(ChildChunk).where(col(ChildChunk.id).in_(child_ids))):
                children.setdefault(child.segment_id, {})[child.id] = child
        rows = {
            s.id: SegmentRow(
                s, documents[s.document_id], names.get(s.dataset_id, ""), children.get(s.id, {})
            )
            for s in segments
            if s.document_id in documents
        }
        return rows
