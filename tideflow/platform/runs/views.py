"""Dify's shapes of a run record (blocking body, ``workflow_finished``, run detail, logs)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from tideflow.platform.db.models import EndUser, WorkflowRun
from tideflow.platform.runs.sse import mask_secrets


def unix(moment: datetime | None) -> int | None:
    """Seconds since the epoch (naive datetimes read back from SQLite are UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


class WorkflowRunData(BaseModel):
    """``data`` of the blocking response and of ``workflow_finished``."""

    id: str
    workflow_id: str | None
    status: str
    outputs: dict[str, Any] | None = None
    error: str | None = None
    elapsed_time: float = 0.0
    total_tokens: int = 0
    total_steps: int = 0
    created_at: int | None = None
    finished_at: int | None = None
    created_by: dict[str, Any] = Field(default_factory=dict[str, Any])
    exceptions_count: int = 0
    files: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])


class WorkflowRunResponse(BaseModel):
    """``POST /workflows/run`` (blocking, and async with status running)."""

    task_id: str
    workflow_run_id: str
    data: WorkflowRunData


def run_data(run: WorkflowRun, secrets: tuple[str, ...] = ()) -> WorkflowRunData:
    """The run as Dify's ``data`` block (secret values masked in outputs and error)."""
    created_by: dict[str, Any] = {}
    if run.end_user_id:
        created_by = {"id": run.end_user_id, "user": "end_user"}
    elif run.created_by_account_id:
        created_by = {"id": run.created_by_account_id, "user": "account"}
    return WorkflowRunData(
        id=run.id,
        workflow_id=run.app_version_id,
        status=run.status,
        outputs=mask_secrets(run.outputs, secrets),
        error=mask_secrets(run.error, secrets),
        elapsed_time=run.elapsed_s or 0.0,
        total_tokens=run.total_tokens,
        total_steps=run.total_steps,
        created_at=unix(run.created_at),
        finished_at=unix(run.finished_at),
        created_by=created_by,
        exceptions_count=run.exceptions_count,
    )


def run_response(run: WorkflowRun, secrets: tuple[str, ...] = ()) -> WorkflowRunResponse:
    """The blocking body."""
    return WorkflowRunResponse(task_id=run.id, workflow_run_id=run.id, data=run_data(run, secrets))


def log_entry(run: WorkflowRun, user: EndUser | None) -> dict[str, Any]:
    """One item of ``GET /workflows/logs``."""
    return {
        "id": run.id,
        "workflow_run": {
            "id": run.id,
            "version": run.version,
            "status": run.status,
            "error": run.error,
            "elapsed_time": run.elapsed_s or 0.0,
            "total_tokens": run.total_tokens,
            "total_steps": run.total_steps,
            "created_at": unix(run.created_at),
            "finished_at": unix(run.finished_at),
            "exceptions_count": run.exceptions_count,
            "triggered_from": run.triggered_from,
        },
        "created_from": "service-api" if run.triggered_from == "app-run" else "console",
        "created_by_role": "end_user" if user else "account",
        "created_by_account": (
            {"id": run.created_by_account_id} if run.created_by_account_id else None
        ),
        "created_by_end_user": (
            {"id": user.id, "type": user.type, "is_anonymous": False, "session_id": user.session_id}
            if user
            else None
        ),
        "created_at": unix(run.created_at),
        "details": None,
    }
