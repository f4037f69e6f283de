"""Request and response bodies of the console and service APIs (Dify's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from tideflow.platform.db.models import App as AppRow
from tideflow.platform.db.models import AppEnvironmentVariable, AppVersion
from tideflow.platform.runs.views import unix
from tideflow.platform.security import HIDDEN_VALUE


class LoginBody(BaseModel):
    """``POST /console/api/login``."""

    email: str = Field(min_length=3, max_length=255)
    password: str = Field(min_length=1, max_length=1024)


class AppCreate(BaseModel):
    """A new, empty app."""

    name: str = Field(min_length=1, max_length=255)
    mode: Literal["workflow", "advanced-chat"] = "workflow"
    description: str = Field(default="", max_length=4000)


class AppPublic(BaseModel):
    """An app as the console lists it."""

    id: str
    name: str
    mode: str
    description: str
    created_at: int | None
    updated_at: int | None

    @classmethod
    def of(cls, app: AppRow) -> AppPublic:
        """From the table row."""
        return cls(
            id=app.id,
            name=app.name,
            mode=app.mode,
            description=app.description,
            created_at=unix(app.created_at),
            updated_at=unix(app.updated_at),
        )


class ImportBody(BaseModel):
    """``POST /console/api/apps/imports`` as JSON (Dify's shape; no URL fetching)."""

    mode: Literal["yaml-content", "yaml-url"] = "yaml-content"
    yaml_content: str = Field(default="", max_length=10_000_000)
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=4000)


class DraftBody(BaseModel):
    """``POST /console/api/apps/{id}/workflows/draft`` (Dify's sync-draft fields)."""

    graph: dict[str, Any]
    features: dict[str, Any] = Field(default_factory=dict[str, Any])
    conversation_variables: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])


class VersionPublic(BaseModel):
    """A published version."""

    id: str
    version: int
    plan_hash: str
    created_at: int | None

    @classmethod
    def of(cls, version: AppVersion) -> VersionPublic:
        """From the table row."""
        return cls(
            id=version.id,
            version=version.version,
            plan_hash=version.plan_hash,
            created_at=unix(version.created_at),
        )


class EnvVarBody(BaseModel):
    """Create or update an environment variable."""

    name: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value_type: Literal["string", "number", "secret"] = "string"
    value: str | int | float = ""
    description: str = Field(default="", max_length=255)


class EnvVarPublic(BaseModel):
    """An environment variable; a secret's value is always ``[__HIDDEN__]``."""

    id: str
    name: str
    value_type: str
    value: str
    description: str
    updated_at: int | None

    @classmethod
    def of(cls, var: AppEnvironmentVariable, clear: str) -> EnvVarPublic:
        """From the row and its clear value (masked here when secret)."""
        value = HIDDEN_VALUE if var.value_type == "secret" else clear
        return cls(
            id=var.id,
            name=var.name,
            value_type=var.value_type,
            value=value,
            description=var.description,
            updated_at=unix(var.updated_at),
        )


class ApiKeyPublic(BaseModel):
    """An API key; ``token`` is the full key only in the creation response."""

    id: str
    type: str
    token: str
    created_at: int | None
    last_used_at: int | None


class DraftRunBody(BaseModel):
    """``POST /console/api/apps/{id}/workflows/draft/run``: a test run, blocking or streamed
    (SSE, as the service API streams)."""

    inputs: dict[str, Any] = Field(default_factory=dict[str, Any])
    pins: dict[str, dict[str, Any]] = Field(default_factory=dict[str, dict[str, Any]])
    mock_external: bool = False
    response_mode: Literal["blocking", "streaming"] = "blocking"


class WorkflowRunBody(BaseModel):
    """``POST /v1/workflows/run``."""

    inputs: dict[str, Any] = Field(default_factory=dict[str, Any])
    user: str = Field(min_length=1, max_length=255)
    response_mode: Literal["blocking", "streaming", "async"] = "blocking"
    files: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])


class StopBody(BaseModel):
    """``POST /v1/workflows/tasks/{task_id}/stop``."""

    user: str = ""


class RunDetail(BaseModel):
    """``GET /v1/workflows/run/{id}`` (inputs as a JSON string, as Dify sends them)."""

    id: str
    workflow_id: str | None
    status: str
    inputs: str
    outputs: dict[str, Any] | None
    error: str | None
    total_steps: int
    total_tokens: int
    created_at: int | None
    finished_at: int | None
    elapsed_time: float


# Pages past this are refused (400), not sent to the database as an overflowing OFFSET.
MAX_PAGE = 1_000_000


def page_of(items: list[Any], page: int, limit: int, total: int) -> dict[str, Any]:
    """Dify's page envelope."""
    return {
        "page": page,
        "limit": limit,
        "total": total,
        "has_more": page * limit < total,
        "data": items,
    }


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO time filter; the caller's ``name`` for the 400."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        from tideflow.platform.api.errors import invalid_param

        raise invalid_param(f"{name}: not an ISO 8601 time: {value!r}") from None
