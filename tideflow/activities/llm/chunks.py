"""Streamed output on its way to the stream store, batched by how fast the store writes.

The first piece is written at once; pieces arriving while a write runs are merged and written
together next, so a slow store gets few large writes and a fast one many small ones, never one
write per token when writes lag. Writes run in a thread (the store is synchronous). A failing
write is logged and dropped: the activity's result is the durable record, the stream a preview.
"""

from __future__ import annotations

import asyncio
import logging

from tideflow.activities.llm.models import StreamTarget
from tideflow.activities.llm.reasoning import PieceKind
from tideflow.platform.streams import NewChunk, append_chunks

log = logging.getLogger("tideflow.activities.llm")


class ChunkWriter:
    """Append one attempt's output pieces to the stream store, in order, batched."""

    def __init__(self, db_url: str, target: StreamTarget, attempt: int) -> None:
        self._db_url = db_url
        self._target = target
        self._attempt = attempt
        self._offsets: dict[PieceKind, int] = {"text": 0, "reasoning": 0}
        self._pending: list[NewChunk] = []
        self._task: asyncio.Task[None] | None = None
        # Batches written (for tests and logs).
        self.writes = 0

    def add(self, kind: PieceKind, text: str) -> None:
        """Queue a piece; starts a write when none is running."""
        if not text:
            return
        last = self._pending[-1] if self._pending else None
        if last is not None and last.kind == kind:
            last.text += text
        else:
            self._pending.append(
                NewChunk(
                    run_id=self._target.run_id,
                    node_id=self._target.node_id,
                    node_run_id=self._target.node_run_id,
                    attempt=self._attempt,
                    kind=kind,
                    offset=self._offsets[kind],
                    text=text,
                )
            )
        self._offsets[kind] += len(text)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def flush(self) -> None:
        """Wait until every queued piece is written (or its write has failed)."""
        while self._task is not None and not self._task.done():
            await self._task
        if self._pending:
            await self._drain()

    def abandon(self) -> None:
        """Stop writing (the attempt failed or was cancelled); queued pieces are dropped."""
        self._pending.clear()
        if self._task is not None:
            self._task.cancel()

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(append_chunks, self._db_url, batch)
                self.writes += 1
            except Exception as exc:  # the stream is a preview: never fail the call for it
                log.warning("stream store write failed for node %s: %s", self._target.node_id, exc)
