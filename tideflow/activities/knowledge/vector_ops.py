"""The ``knowledge_vector_op`` activity: changes the API makes to indexed data, applied by the
worker (the only process that opens the vector store)."""

from __future__ import annotations

import asyncio

from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tideflow.activities.knowledge import records
from tideflow.activities.knowledge.embedder import open_embedder
from tideflow.activities.knowledge.ingest import index_points, upsert_points, vector_store
from tideflow.activities.knowledge.models import VECTOR_OP_ACTIVITY, VectorOpInput, VectorOpResult
from tideflow.platform.db.knowledge_models import Dataset, DocumentSegment
from tideflow.platform.db.session import get_engine
from tideflow.platform.settings import get_settings


@activity.defn(name=VECTOR_OP_ACTIVITY)
async def knowledge_vector_op(op: VectorOpInput) -> VectorOpResult:
    """Delete a dataset's collection, documents' or segments' points, or (re)index segments."""
    settings = get_settings()
    store = await asyncio.to_thread(vector_store, settings)
    if op.op == "delete_dataset":
        await asyncio.to_thread(store.drop, op.dataset_id)
        return VectorOpResult()
    if op.op in ("delete_documents", "delete_segments"):
        if op.op == "delete_documents" and op.document_ids:
            await asyncio.to_thread(store.delete_documents, op.dataset_id, op.document_ids)
        if op.point_ids:
            await asyncio.to_thread(store.delete_points, op.dataset_id, op.point_ids)
        return VectorOpResult(points=len(op.point_ids))
    return await _index_segments(op)


def _load(
    db_url: str, op: VectorOpInput
) -> tuple[Dataset | None, tuple[str, str] | None, dict[str, list[records.PendingSegment]]]:
    """The dataset, its embedding model and the segments to index, by document."""
    with Session(get_engine(db_url)) as session:
        dataset = session.get(Dataset, op.dataset_id)
        if dataset is None or dataset.tenant_id != op.tenant_id:
            return None, None, {}
        rows = list(
            session.exec(
                select(DocumentSegment).where(
                    col(DocumentSegment.id).in_(op.segment_ids),
                    DocumentSegment.dataset_id == op.dataset_id,
                )
            )
        )
        by_document: dict[str, list[records.PendingSegment]] = {}
        for row in rows:
            by_document.setdefault(row.document_id, [])
        for document_id in by_document:
            mine = [row for row in rows if row.document_id == document_id]
            by_document[document_id] = records.segments_with_children(session, mine)
        embedding = records.embedding_model(session, dataset)
        session.expunge(dataset)
        return dataset, embedding, by_document


async def _index_segments(op: VectorOpInput) -> VectorOpResult:
    settings = get_settings()
    dataset, embedding, by_document = await asyncio.to_thread(_load, settings.db_url, op)
    if dataset is None:
        raise ApplicationError(
            f"dataset {op.dataset_id} not found in this workspace",
            type="DatasetNotFound",
            non_retryable=True,
        )
    embedder = None
    if embedding is not None:
        embedder = await open_embedder(settings, op.tenant_id, *embedding)
    store = await asyncio.to_thread(vector_store, settings)
    written = 0
    for document_id, segments in by_document.items():
        points, _tokens = await index_points(embedder, op.dataset_id, document_id, segments)
        if op.point_ids:  # points of child chunks that were replaced
            await asyncio.to_thread(store.delete_points, op.dataset_id, op.point_ids)
        await upsert_points(store, op.dataset_id, points)
        await asyncio.to_thread(_mark_completed, settings.db_url, [s.id for s in segments])
        written += len(points)
    return VectorOpResult(points=written)


def _mark_completed(db_url: str, segment_ids: list[str]) -> None:
    with Session(get_engine(db_url)) as session:
        records.complete_segments(session, segment_ids)
        session.commit()
