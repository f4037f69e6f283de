"""Migrations run on SQLite and on Postgres; the tables hold what the models say."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import Session, SQLModel, select

from tideflow.platform.db.migrate import alembic_config, upgrade_database
from tideflow.platform.db.models import App, AppVersion, Tenant, WorkflowRun
from tideflow.platform.db.session import get_engine

TABLES = {"tenant", "app", "appversion", "workflowrun", "alembic_version"}


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    upgrade_database(db_url)
    assert set(inspect(get_engine(db_url)).get_table_names()) >= TABLES
    command.downgrade(alembic_config(db_url), "base")
    assert set(inspect(get_engine(db_url)).get_table_names()) <= {"alembic_version"}
    upgrade_database(db_url)
    upgrade_database(db_url)  # idempotent at head
    assert set(inspect(get_engine(db_url)).get_table_names()) >= TABLES


def test_migrations_build_what_the_models_declare(db_url: str) -> None:
    upgrade_database(db_url)
    with get_engine(db_url).connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diffs == []


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
