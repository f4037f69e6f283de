"""Console run history (Dify's ``/console/api/apps/{id}/workflow-runs``): the app's runs, one
run with a link to its workflow in the Temporal UI, and its node executions."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tideflow.platform.api.deps import SessionDep, SettingsDep, TenantApp
from tideflow.platform.api.errors import not_found
from tideflow.platform.api.schemas import MAX_PAGE, page_of
from tideflow.platform.db.crud import envvars
from tideflow.platform.db.crud import runs as run_crud
from tideflow.platform.db.models import App, NodeExecution, WorkflowRun
from tideflow.platform.drafts import secret_values
from tideflow.platform.runs.sse import mask_secrets
from tideflow.platform.runs.views import unix
from tideflow.platform.settings import Settings

router = APIRouter(prefix="/console/api/apps/{app_id}/workflow-runs", tags=["console: runs"])

RUN_STATUSES = "^(running|succeeded|failed|stopped|partial-succeeded|paused)$"
# Hosts a server binds to that a browser cannot open.
_ANY_HOST = frozenset({"0.0.0.0", "::", "[::]"})


class RunListItem(BaseModel):
    """One run in the list."""

    id: str
    version: str
    status: str
    error: str | None = None
    elapsed_time: float = 0.0
    total_tokens: int = 0
    total_steps: int = 0
    exceptions_count: int = 0
    triggered_from: str
    created_at: int | None = None
    finished_at: int | None = None
    # The run's workflow in the Temporal UI (None: no UI is known).
    temporal_ui_url: str | None = None


class RunDetailPublic(RunListItem):
    """One run with its inputs, outputs and where to see its workflow in the Temporal UI."""

    workflow_id: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict[str, Any])
    outputs: dict[str, Any] | None = None
    temporal_workflow_id: str


class NodeExecutionPublic(BaseModel):
    """One node's execution in a run."""

    id: str
    index: int
    node_id: str
    node_type: str
    title: str
    status: str
    inputs: dict[str, Any]
    process_data: dict[str, Any]
    outputs: dict[str, Any]
    error: str | None = None
    elapsed_time: float
    execution_metadata: dict[str, Any]
    attempts: int = 1
    created_at: int | None = None


def temporal_ui_base(settings: Settings) -> str | None:
    """The Temporal UI's address: ``temporal_ui_url``, else the embedded server's UI (None
    with an external cluster whose UI is not configured)."""
    if settings.temporal_ui_url:
        return settings.temporal_ui_url.rstrip("/")
    if not settings.embedded_temporal:
        return None
    host = "127.0.0.1" if settings.host in _ANY_HOST else settings.host
    return f"http://{host}:{settings.temporal_ui_port}"


def temporal_ui_link(settings: Settings, workflow_id: str) -> str | None:
    """The page of a workflow in the Temporal UI (its latest execution)."""
    base = temporal_ui_base(settings)
    if base is None:
        return None
    namespace = quote(settings.temporal_namespace, safe="")
    return f"{base}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}"


def _item_fields(run: WorkflowRun, secrets: tuple[str, ...]) -> dict[str, Any]:
    return {
        "id": run.id,
        "version": run.version,
        "status": run.status,
        "error": mask_secrets(run.error, secrets),
        "elapsed_time": run.elapsed_s or 0.0,
        "total_tokens": run.total_tokens,
        "total_steps": run.total_steps,
        "exceptions_count": run.exceptions_count,
        "triggered_from": run.triggered_from,
        "created_at": unix(run.created_at),
        "finished_at": unix(run.finished_at),
    }


def _node_public(node: NodeExecution, secrets: tuple[str, ...]) -> NodeExecutionPublic:
    metadata = {"total_tokens": 0, **node.execution_metadata}
    if node.container_id is not None:  # Dify names the container in the metadata
        metadata.setdefault("container_id", node.container_id)
        metadata.setdefault("container_index", node.container_index)
    return NodeExecutionPublic(
        id=node.id,
        index=node.index,
        node_id=node.node_id,
        node_type=node.node_type,
        title=node.title,
        status=node.status,
        inputs=mask_secrets(node.inputs, secrets),
        process_data=mask_secrets(node.process_data, secrets),
        outputs=mask_secrets(node.outputs, secrets),
        error=mask_secrets(node.error, secrets),
        elapsed_time=node.elapsed_s,
        execution_metadata=mask_secrets(metadata, secrets),
        attempts=node.attempts,
        created_at=unix(node.created_at),
    )


def _secrets(session: SessionDep, app: App, settings: Settings) -> tuple[str, ...]:
    return secret_values(envvars.list_env(session, app), settings.secret_key)


def _run_of(session: SessionDep, app: App, run_id: str) -> WorkflowRun:
    run = run_crud.get_run(session, app, run_id)
    if run is None:
        raise not_found("workflow run")
    return run


@router.get("")
def list_workflow_runs(
    app: TenantApp,
    session: SessionDep,
    settings: SettingsDep,
    status: Annotated[str | None, Query(pattern=RUN_STATUSES)] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The app's runs (draft test runs, service API, triggers), newest first."""
    where = run_crud.RunFilter(status=status)
    rows, total = run_crud.list_runs(session, app, where, page, limit)
    secrets = _secrets(session, app, settings)
    items = [
        RunListItem(
            **_item_fields(run, secrets),
            temporal_ui_url=temporal_ui_link(settings, run.temporal_workflow_id),
        )
        for run, _user in rows
    ]
    return page_of(items, page, limit, total)


@router.get("/{run_id}")
def get_workflow_run(
    run_id: str, app: TenantApp, session: SessionDep, settings: SettingsDep
) -> RunDetailPublic:
    """One run: inputs, outputs, error, counts, and its page in the Temporal UI."""
    run = _run_of(session, app, run_id)
    secrets = _secrets(session, app, settings)
    return RunDetailPublic(
        **_item_fields(run, secrets),
        workflow_id=run.app_version_id,
        inputs=mask_secrets(run.inputs, secrets),
        outputs=mask_secrets(run.outputs, secrets),
        temporal_workflow_id=run.temporal_workflow_id,
        temporal_ui_url=temporal_ui_link(settings, run.temporal_workflow_id),
    )


@router.get("/{run_id}/node-executions")
def list_node_executions(
    run_id: str, app: TenantApp, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """The run's node executions in the order they finished (none while it runs)."""
    run = _run_of(session, app, run_id)
    secrets = _secrets(session, app, settings)
    nodes = run_crud.node_executions(session, run.id)
    return {"data": [_node_public(node, secrets) for node in nodes]}
