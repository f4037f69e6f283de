"""App database tables (SQLModel). Temporal history stays the source of truth for runs;
these rows are what the API lists and the console shows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def new_id() -> str:
    """A new primary key: a UUID4 string, as Dify uses."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """Timezone-aware now, for created/updated stamps."""
    return datetime.now(UTC)


class Tenant(SQLModel, table=True):
    """A workspace: every other row belongs to exactly one."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


class App(SQLModel, table=True):
    """A workflow or chatflow app with its editable draft graph."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    name: str = Field(max_length=255)
    mode: str = Field(max_length=32)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    draft_dsl: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AppVersion(SQLModel, table=True):
    """A published, immutable version: the compiled plan that runs execute."""

    __table_args__ = (UniqueConstraint("app_id", "version"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    app_id: str = Field(foreign_key="app.id", index=True, max_length=36)
    version: int
    plan_hash: str = Field(max_length=64, index=True)
    plan: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class WorkflowRun(SQLModel, table=True):
    """One run of an app version, projected from its Temporal workflow."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    app_id: str = Field(foreign_key="app.id", index=True, max_length=36)
    app_version_id: str | None = Field(default=None, foreign_key="appversion.id", max_length=36)
    temporal_workflow_id: str = Field(max_length=255, unique=True)
    status: str = Field(default="running", max_length=32, index=True)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    outputs: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    error: str | None = Field(default=None, sa_column=Column(Text))
    elapsed_s: float | None = None
    total_tokens: int = 0
    total_steps: int = 0
    created_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = None
