"""The token stream store: model output chunks on their way from a worker to SSE clients.

The ``llm_invoke`` activity appends the chunks a model streams (``append_chunks``); the API's
SSE relay reads a run's chunks after the last sequence number it has seen (``read_chunks``) and
deletes them once the run has ended (``delete_chunks``). Each call opens its own short
transaction on the process's cached engine, so the activity (a worker thread) and the API (an
event loop, through ``asyncio.to_thread``) share nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import delete, insert
from sqlmodel import Session, col, select

from tideflow.platform.db.ids import utcnow
from tideflow.platform.db.model_models import StreamChunk
from tideflow.platform.db.session import get_engine

ChunkKind = Literal["text", "reasoning"]


class NewChunk(BaseModel):
    """A piece of one attempt's output, as the activity received it."""

    run_id: str
    node_id: str
    node_run_id: str
    # The activity attempt that streamed it: a retried call streams again from offset 0.
    attempt: int
    kind: ChunkKind
    # Characters of this attempt's output (of this kind) before this chunk.
    offset: int
    text: str


class StoredChunk(NewChunk):
    """A chunk as read back, with its store-wide sequence number (increasing by append)."""

    seq: int


def append_chunks(db_url: str, chunks: Sequence[NewChunk]) -> None:
    """Store ``chunks`` in one transaction (nothing happens for an empty sequence)."""
    if not chunks:
        return
    rows = [chunk.model_dump() for chunk in chunks]
    now = utcnow()
    for row in rows:
        row["created_at"] = now
    with get_engine(db_url).begin() as conn:
        conn.execute(insert(StreamChunk), rows)


def read_chunks(
    db_url: str, run_id: str, after_seq: int = 0, node_id: str | None = None
) -> list[StoredChunk]:
    """The run's chunks (of one node, when ``node_id`` is given) with a sequence number above
    ``after_seq``, in append order."""
    query = select(StreamChunk).where(
        StreamChunk.run_id == run_id, col(StreamChunk.seq) > after_seq
    )
    if node_id is not None:
        query = query.where(StreamChunk.node_id == node_id)
    with Session(get_engine(db_url)) as session:
        return [_stored(row) for row in session.exec(query.order_by(col(StreamChunk.seq)))]


def delete_chunks(db_url: str, run_id: str) -> int:
    """Delete the run's chunks; returns how many there were."""
    with get_engine(db_url).begin() as conn:
        result = conn.execute(delete(StreamChunk).where(col(StreamChunk.run_id) == run_id))
        return result.rowcount


def _stored(row: StreamChunk) -> StoredChunk:
    kind: ChunkKind = "reasoning" if row.kind == "reasoning" else "text"
    return StoredChunk(
        seq=row.seq or 0,
        run_id=row.run_id,
        node_id=row.node_id,
        node_run_id=row.node_run_id,
        attempt=row.attempt,
        kind=kind,
        offset=row.offset,
        text=row.text,
    )
