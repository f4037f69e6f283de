"""SSE responses that hold no database connection while they stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse
from sqlmodel import Session

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event_stream(stream: AsyncIterator[str], session: Session) -> StreamingResponse:
    """A ``text/event-stream`` response of ``stream``.

    The request's session is closed first: FastAPI closes it only after the response, and a
    stream lasts as long as its run, so each open stream would keep a pooled connection (15
    concurrent streams exhausted the pool). The stream reads through the run service's own
    short sessions; rows loaded before stay readable (detached).
    """
    session.close()
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
