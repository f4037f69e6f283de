"""Alembic environment: the URL comes from the caller's config, the metadata from SQLModel."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import tideflow.platform.db.models  # noqa: F401  # pyright: ignore[reportUnusedImport]  (registers the tables)
from tideflow.platform.db.session import get_engine

config = context.config
url = config.get_main_option("sqlalchemy.url")
if not url:
    from tideflow.platform.settings import get_settings

    url = get_settings().db_url


def run_migrations_online() -> None:
    """Migrate through a live connection (SQLite needs batch mode for ALTERs)."""
    engine = get_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
