"""The ingestion's database writes on SQLite and Postgres: segments replaced in one go, batches
counted, statuses stamped, and every write refused once the document's generation moved on."""

from __future__ import annotations

from sqlmodel import Session, select

from tideflow.activities.knowledge import records, search_records
from tideflow.platform.db.knowledge_models import (
    ChildChunk,
    Dataset,
    DatasetDocument,
    DocumentSegment,
)
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.models import Tenant
from tideflow.platform.db.session import get_engine


def _document(db_url: str, **dataset: object) -> DatasetDocument:
    upgrade_database(db_url)
    with Session(get_engine(db_url), expire_on_commit=False) as session:
        tenant = Tenant(name="t")
        session.add(tenant)
        session.flush()
        row = Dataset(tenant_id=tenant.id, name="kb", **dataset)  # type: ignore[arg-type]
        session.add(row)
        session.flush()
        document = DatasetDocument(
            tenant_id=tenant.id,
            dataset_id=row.id,
            batch="b",
            name="d.txt",
            source_store_id="x",
            source_name="d.txt",
            doc_metadata={"year": 2024, "team": "search"},
        )
        session.add(document)
        session.commit()
        return document


def test_segments_are_replaced_counted_and_stale_writes_refused(db_url: str) -> None:
    document = _document(db_url, indexing_technique="high_quality")
    chunks = [
        records.NewSegment("first parent", 2, ["first", "parent"]),
        records.NewSegment("second", 1),
    ]
    assert records.replace_segments(db_url, document.id, 1, chunks) == []
    pending, done = records.pending_segments(db_url, document.id)
    assert done == 0
    assert [(p.content, [c[2] for c in p.children]) for p in pending] == [
        ("first parent", ["first", "parent"]),
        ("second", []),
    ]
    # Replacing again hands back every old point id (segments and child chunks).
    old_points = {p.index_node_id for p in pending} | {c[1] for p in pending for c in p.children}
    assert set(records.replace_segments(db_url, document.id, 1, chunks) or []) == old_points
    pending, _ = records.pending_segments(db_url, document.id)
    assert records.mark_indexed(db_url, document.id, 1, [pending[0].id]) == "waiting"
    pending_after, done = records.pending_segments(db_url, document.id)
    assert done == 1 and [p.id for p in pending_after] == [pending[1].id]
    assert records.set_status(db_url, document.id, 1, "paused", None)
    assert records.mark_indexed(db_url, document.id, 1, [pending[1].id]) == "paused"
    assert records.set_status(db_url, document.id, 1, "completed", None)

    with Session(get_engine(db_url)) as session:
        row = session.get(DatasetDocument, document.id)
        assert row is not None
        assert (row.total_segments, row.completed_segments, row.tokens) == (2, 2, 3)
        assert row.completed_at is not None and row.paused_at is None
        assert row.indexing_latency is None  # never started parsing in this test
        row.generation = 2  # a re-index was asked
        session.add(row)
        session.commit()
        assert len(list(session.exec(select(ChildChunk)))) == 2
    assert records.replace_segments(db_url, document.id, 1, chunks) is None
    assert records.mark_indexed(db_url, document.id, 1, [pending[0].id]) is None
    assert not records.set_status(db_url, document.id, 1, "error", "late")
    assert not records.save_parsed(db_url, document.id, 1, "y", 3)


def test_search_scope_filters_documents_by_status_and_metadata(db_url: str) -> None:
    document = _document(db_url, indexing_technique="economy")
    records.replace_segments(db_url, document.id, 1, [records.NewSegment("text", 1)])
    conditions = [{"name": "year", "comparison_operator": "≥", "value": "2020"}]
    scopes, unknown = search_records.search_scopes(
        db_url, document.tenant_id, [document.dataset_id, "nope"], conditions, "and"
    )
    assert unknown == ["nope"]
    assert scopes[0].document_ids == []  # not completed yet
    assert scopes[0].embedding is None  # economy
    records.set_status(db_url, document.id, 1, "completed", None)
    scopes, _ = search_records.search_scopes(
        db_url, document.tenant_id, [document.dataset_id], conditions, "and"
    )
    assert scopes[0].document_ids == [document.id]
    wrong = [{"name": "team", "comparison_operator": "is", "value": "ads"}]
    scopes, _ = search_records.search_scopes(
        db_url, document.tenant_id, [document.dataset_id], wrong + conditions, "or"
    )
    assert scopes[0].document_ids == [document.id]
    scopes, _ = search_records.search_scopes(
        db_url, document.tenant_id, [document.dataset_id], wrong + conditions, "and"
    )
    assert scopes[0].document_ids == []
    # Another tenant's id is unknown, not found.
    _, unknown = search_records.search_scopes(db_url, "other", [document.dataset_id], [], "and")
    assert unknown == [document.dataset_id]
    with Session(get_engine(db_url)) as session:
        segment = session.exec(select(DocumentSegment)).one()
    rows = search_records.segment_rows(db_url, [segment.id], [])
    assert rows[segment.id].document.name == "d.txt"
    search_records.count_hits(db_url, [segment.id])
    with Session(get_engine(db_url)) as session:
        assert session.exec(select(DocumentSegment)).one().hit_count == 1
