"""Who may do what: console accounts and their tenants, API keys, end users, and the
environment variables (secrets among them) an app's runs read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from tideflow.platform.db.ids import new_id, utcnow


class Account(SQLModel, table=True):
    """A console user; belongs to tenants through ``TenantMember``."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    email: str = Field(max_length=255, unique=True)
    name: str = Field(max_length=255)
    # "scrypt$n$r$p$salt$hash" (see ``tideflow.platform.security``).
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


class TenantMember(SQLModel, table=True):
    """An account's role in a tenant: owner, admin or editor."""

    __table_args__ = (UniqueConstraint("tenant_id", "account_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=36)
    role: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    """An ``app-...`` key (one app) or a ``dataset-...`` key (the tenant's knowledge bases).

    Only the sha256 of the token is stored; ``prefix`` lets a list show which key is which.
    """

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    app_id: str | None = Field(default=None, foreign_key="app.id", index=True, max_length=36)
    kind: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class EndUser(SQLModel, table=True):
    """A caller of the service API, named by the ``user`` string it sends (per app)."""

    __table_args__ = (UniqueConstraint("app_id", "session_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    app_id: str = Field(foreign_key="app.id", index=True, max_length=36)
    type: str = Field(default="service-api", max_length=32)
    session_id: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


class AppEnvironmentVariable(SQLModel, table=True):
    """An ``env.<name>`` variable; a ``secret`` value is stored Fernet-encrypted."""

    __table_args__ = (UniqueConstraint("app_id", "name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    app_id: str = Field(foreign_key="app.id", index=True, max_length=36)
    name: str = Field(max_length=255)
    value_type: str = Field(max_length=16)
    value: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    description: str = Field(default="", max_length=255)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
