"""The token stream store on SQLite and Postgres: append in order, read after a sequence
number (per node), delete a run's chunks, and the projection's and start-up's clean-ups."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from tideflow.platform.db.crud import runs as crud
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.model_models import StreamChunk
from tideflow.platform.db.models import App, Tenant, WorkflowRun
from tideflow.platform.db.session import get_engine
from tideflow.platform.streams import NewChunk, append_chunks, delete_chunks, read_chunks
from tideflow.workflows.engine.models import GraphRunResult


def _chunk(run_id: str, text: str, offset: int, **extra: object) -> NewChunk:
    fields: dict[str, object] = {
        "run_id": run_id,
        "node_id": "llm",
        "node_run_id": "nr-1",
        "attempt": 1,
        "kind": "text",
        "offset": offset,
        "text": text,
    }
    fields.update(extra)
    return NewChunk.model_validate(fields)


def test_append_read_delete(db_url: str) -> None:
    upgrade_database(db_url)
    append_chunks(db_url, [])  # nothing to write: no transaction, no error
    append_chunks(db_url, [_chunk("r-1", "Hel", 0), _chunk("r-1", "lo", 3)])
    append_chunks(db_url, [_chunk("r-2", "other run", 0)])
    append_chunks(
        db_url,
        [
            _chunk("r-1", "hmm", 0, kind="reasoning"),
            _chunk("r-1", " wörld ✓", 5, attempt=2),
            _chunk("r-1", "x", 0, node_id="llm2", node_run_id="nr-2"),
        ],
    )
    chunks = read_chunks(db_url, "r-1")
    assert [(c.node_id, c.kind, c.attempt, c.offset, c.text) for c in chunks] == [
        ("llm", "text", 1, 0, "Hel"),
        ("llm", "text", 1, 3, "lo"),
        ("llm", "reasoning", 1, 0, "hmm"),
        ("llm", "text", 2, 5, " wörld ✓"),
        ("llm2", "text", 1, 0, "x"),
    ]
    seqs = [c.seq for c in chunks]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5 and seqs[0] > 0
    assert chunks[0].run_id == "r-1" and chunks[0].node_run_id == "nr-1"
    # After a sequence number, and per node.
    assert [c.text for c in read_chunks(db_url, "r-1", seqs[1])] == ["hmm", " wörld ✓", "x"]
    assert [c.text for c in read_chunks(db_url, "r-1", 0, "llm2")] == ["x"]
    assert read_chunks(db_url, "r-1", seqs[-1]) == []
    assert read_chunks(db_url, "nope") == []

    assert delete_chunks(db_url, "r-1") == 5
    assert read_chunks(db_url, "r-1") == []
    assert [c.text for c in read_chunks(db_url, "r-2")] == ["other run"]
    assert delete_chunks(db_url, "r-1") == 0


def test_run_end_and_start_up_clean_up(db_url: str) -> None:
    upgrade_database(db_url)
    with Session(get_engine(db_url)) as session:
        tenant = Tenant(name="acme")
        app = App(tenant_id=tenant.id, name="a", mode="workflow")
        runs = [
            WorkflowRun(tenant_id=tenant.id, app_id=app.id, temporal_workflow_id=f"wf-{i}")
            for i in range(3)
        ]
        for row in (tenant, app, *runs):
            session.add(row)
            session.flush()
        session.commit()
        ids = [run.id for run in runs]
    for run_id in ids:
        append_chunks(db_url, [_chunk(run_id, "a", 0), _chunk(run_id, "b", 1)])

    # Projecting a run's end (a result, or a failure) deletes its chunks, and only its.
    with Session(get_engine(db_url)) as session:
        crud.project_result(session, ids[0], GraphRunResult(status="succeeded", run_id=ids[0]))
        crud.fail_run(session, ids[1], "failed", "boom")
    assert read_chunks(db_url, ids[0]) == [] and read_chunks(db_url, ids[1]) == []
    assert len(read_chunks(db_url, ids[2])) == 2

    # At start, chunks over a day old go (by their write time).
    with Session(get_engine(db_url)) as session:
        assert crud.delete_stale_chunks(session) == 0
        old = session.exec(select(StreamChunk).where(StreamChunk.run_id == ids[2])).first()
        assert old is not None and old.created_at is not None
        old.created_at = old.created_at - timedelta(days=2)
        session.add(old)
        session.commit()
        assert crud.delete_stale_chunks(session) == 1
    assert [c.text for c in read_chunks(db_url, ids[2])] == ["b"]
