"""Migrations run on SQLite and on Postgres; the tables hold what the models say."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlmodel import Session, select

from tideflow.platform.db.migrate import alembic_config, upgrade_database
from tideflow.platform.db.models import App, AppVersion, Tenant, WorkflowRun
from tideflow.platform.db.session import get_engine

POSTGRES_URL = os.environ.get("TIDEFLOW_TEST_POSTGRES_URL")
TABLES = {"tenant", "app", "appversion", "workflowrun", "alembic_version"}


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind; Postgres gets a schema of its own per test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("TIDEFLOW_TEST_POSTGRES_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = get_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    upgrade_database(db_url)
    assert set(inspect(get_engine(db_url)).get_table_names()) >= TABLES
    command.downgrade(alembic_config(db_url), "base")
    assert set(inspect(get_engine(db_url)).get_table_names()) <= {"alembic_version"}
    upgrade_database(db_url)
    upgrade_database(db_url)  # idempotent at head
    assert set(inspect(get_engine(db_url)).get_table_names()) >= TABLES


def test_rows_round_trip(db_url: str) -> None:
    upgrade_database(db_url)
    with Session(get_engine(db_url)) as session:
        tenant = Tenant(name="acme")
        app = App(tenant_id=tenant.id, name="greeter", mode="workflow")
        version = AppVersion(app_id=app.id, version=1, plan_hash="ab" * 32, plan={"nodes": {}})
        run = WorkflowRun(
            tenant_id=tenant.id,
            app_id=app.id,
            app_version_id=version.id,
            temporal_workflow_id=f"app-{app.id}-1",
            inputs={"name": "Ada", "nested": {"n": [1, 2]}},
        )
        # No relationships are declared, so flush parents before children.
        for row in (tenant, app, version, run):
            session.add(row)
            session.flush()
        session.commit()
        app_id = app.id
    with Session(get_engine(db_url)) as session:
        stored = session.exec(select(WorkflowRun).where(WorkflowRun.app_id == app_id)).one()
        assert stored.inputs == {"name": "Ada", "nested": {"n": [1, 2]}}
        assert stored.status == "running"
        assert session.exec(select(AppVersion)).one().plan == {"nodes": {}}
