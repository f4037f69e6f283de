"""Engines and sessions for the app database (SQLite or Postgres through psycopg)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine


@functools.cache
def get_engine(url: str) -> Engine:
    """One engine per URL per process."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # No overflow limit: a checkout never waits. Sync queries run on the event loop in
        # async routes; with a bounded pool (5 + 10) a checkout there blocked the loop while
        # the connections' holders waited for the loop, and 32 concurrent blocking run
        # requests failed with 500s after the 30 s pool timeout (bench/api_load.py). SQLite
        # connections are cheap; writers still queue on the database lock (30 s busy timeout).
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, max_overflow=-1
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:  # pyright: ignore[reportUnusedFunction]
            # WAL lets the API read while the worker's projection writes; foreign keys on
            # so SQLite enforces what Postgres does.
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")  # pyright: ignore[reportUnknownMemberType]
            cursor.execute("PRAGMA foreign_keys=ON")  # pyright: ignore[reportUnknownMemberType]
            cursor.close()  # pyright: ignore[reportUnknownMemberType]

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})


def session_scope(url: str) -> Iterator[Session]:
    """A session per request (used as a FastAPI dependency)."""
    with Session(get_engine(url)) as session:
        yield session


def ping(url: str) -> None:
    """Run ``SELECT 1``; raises when the database cannot be reached."""
    with get_engine(url).connect() as conn:
        conn.execute(text("SELECT 1"))
