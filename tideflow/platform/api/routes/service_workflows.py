"""Service API for workflow apps (Dify's ``/v1/workflows...``), plus ``response_mode: async``
and the ``Idempotency-Key`` header."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from tideflow.platform.api.deps import (
    CurrentApp,
    RunServiceDep,
    SessionDep,
    SettingsDep,
    TemporalClientDep,
)
from tideflow.platform.api.errors import ApiError, not_found
from tideflow.platform.api.routes.console_apps import refuse_mode
from tideflow.platform.api.schemas import (
    MAX_PAGE,
    RunDetail,
    StopBody,
    WorkflowRunBody,
    page_of,
    parse_time,
)
from tideflow.platform.api.streaming import event_stream
from tideflow.platform.db.crud import apps, envvars
from tideflow.platform.db.crud import runs as run_crud
from tideflow.platform.db.models import App, AppVersion
from tideflow.platform.drafts import check_inputs, runnable_plan, secret_values
from tideflow.platform.runs.launch import new_run
from tideflow.platform.runs.service import RunStart
from tideflow.platform.runs.sse import DifyEventTranslator, mask_secrets
from tideflow.platform.runs.views import WorkflowRunResponse, log_entry, run_response, unix
from tideflow.platform.settings import Settings
from tideflow.platform.uploads import resolve_files, resolve_inputs
from tideflow.workflows.graph.plan import ExecutionPlan

router = APIRouter(prefix="/v1", tags=["service: workflows"])


def _workflow_app(app: CurrentApp) -> App:
    refuse_mode(app.mode, "workflow")
    return app


WorkflowApp = Annotated[App, Depends(_workflow_app)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


async def _run_version(
    app: App,
    version: AppVersion,
    body: WorkflowRunBody,
    idempotency_key: str | None,
    session: SessionDep,
    settings: Settings,
    runs: RunServiceDep,
) -> Response | WorkflowRunResponse:
    variables = envvars.list_env(session, app)
    plan = runnable_plan(ExecutionPlan.model_validate(version.plan), variables, settings.secret_key)
    check_inputs(plan, body.inputs)
    # Uploads named by upload_file_id become the file objects nodes read.
    inputs = resolve_inputs(session, app, plan, body.inputs)
    user = run_crud.end_user(session, app, body.user)
    start = new_run(
        app,
        plan,
        version,
        inputs,
        user=body.user,
        end_user_id=user.id,
        idempotency_key=idempotency_key,
        files=resolve_files(session, app, body.files, "files"),
    )
    secrets = secret_values(variables, settings.secret_key)
    return await respond(runs, start, secrets, body.response_mode, session)


async def respond(
    runs: RunServiceDep,
    start: RunStart,
    secrets: tuple[str, ...],
    mode: str,
    session: Session,
) -> Response | WorkflowRunResponse:
    """Start the run and answer as ``mode`` asks: blocking, streaming (SSE) or async (202)."""
    row, _created = await runs.start(start)
    if mode == "async":
        return JSONResponse(run_response(row, secrets).model_dump(), status_code=202)
    if mode == "streaming":
        plan = start.run_input.plan
        translator = DifyEventTranslator(row.id, start.run_input.workflow_id, plan, secrets)
        stream = runs.stream(row, translator)
        return event_stream(stream, session)
    # Release the request's pooled connection before waiting, as event_stream does: a blocking
    # request lasts as long as its run, and 16 at once exhausted the pool (15 on SQLite) and
    # failed with a 500 after its 30 s timeout. Rows loaded before stay readable (detached).
    session.close()
    # A run that pauses on a human-input form answers at once, status ``paused``.
    nodes = start.run_input.plan.nodes.values()
    if any(node.type == "human-input" for node in nodes):
        return run_response(await runs.wait_or_pause(row), secrets)
    return run_response(await runs.wait(row), secrets)


@router.post("/workflows/run", response_model=WorkflowRunResponse)
async def run_workflow(
    body: WorkflowRunBody,
    app: WorkflowApp,
    session: SessionDep,
    settings: SettingsDep,
    runs: RunServiceDep,
    _client: TemporalClientDep,
    idempotency_key: IdempotencyKey = None,
) -> Response | WorkflowRunResponse:
    """Run the newest published version: blocking, streaming (SSE) or async (202 at once)."""
    version = apps.latest_version(session, app)
    if version is None:
        raise ApiError(400, "app_unavailable", "the app has no published version; publish it")
    return await _run_version(app, version, body, idempotency_key, session, settings, runs)


@router.post("/workflows/{workflow_id}/run", response_model=WorkflowRunResponse)
async def run_workflow_version(
    workflow_id: str,
    body: WorkflowRunBody,
    app: WorkflowApp,
    session: SessionDep,
    settings: SettingsDep,
    runs: RunServiceDep,
    _client: TemporalClientDep,
    idempotency_key: IdempotencyKey = None,
) -> Response | WorkflowRunResponse:
    """Run one published version (its id from the console's version list)."""
    if workflow_id == "draft":
        raise ApiError(400, "bad_request", "the draft cannot be run through the service API")
    version = apps.get_version(session, app, workflow_id)
    if version is None:
        raise not_found("workflow version")
    return await _run_version(app, version, body, idempotency_key, session, settings, runs)


@router.get("/workflows/run/{workflow_run_id}")
def get_run(
    workflow_run_id: str, app: CurrentApp, session: SessionDep, settings: SettingsDep
) -> RunDetail:
    """A run's record (``inputs`` as a JSON string, as Dify answers)."""
    if app.mode not in ("workflow", "advanced-chat"):
        raise ApiError(400, "not_workflow_app", "the app has no workflow runs")
    run = run_crud.get_run(session, app, workflow_run_id)
    if run is None:
        raise not_found("workflow run")
    secrets = secret_values(envvars.list_env(session, app), settings.secret_key)
    return RunDetail(
        id=run.id,
        workflow_id=run.app_version_id,
        status=run.status,
        inputs=json.dumps(run.inputs, ensure_ascii=False),
        outputs=mask_secrets(run.outputs, secrets),
        error=mask_secrets(run.error, secrets),
        total_steps=run.total_steps,
        total_tokens=run.total_tokens,
        created_at=unix(run.created_at),
        finished_at=unix(run.finished_at),
        elapsed_time=run.elapsed_s or 0.0,
    )


@router.post("/workflows/tasks/{task_id}/stop")
async def stop_run(
    task_id: str,
    app: WorkflowApp,
    session: SessionDep,
    runs: RunServiceDep,
    _client: TemporalClientDep,
    _body: StopBody | None = None,
) -> dict[str, Any]:
    """Cancel a run (it ends ``stopped``); stopping a finished run changes nothing."""
    run = run_crud.get_run(session, app, task_id)
    if run is None:
        raise not_found("task")
    await runs.stop(run)
    return {"result": "success"}


@router.get("/workflows/logs")
def workflow_logs(
    app: CurrentApp,
    session: SessionDep,
    status: Annotated[
        str | None, Query(pattern="^(succeeded|failed|stopped|running|partial-succeeded)$")
    ] = None,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    created_at__before: str | None = None,
    created_at__after: str | None = None,
    created_by_end_user_session_id: str | None = None,
) -> dict[str, Any]:
    """The app's runs, newest first, filtered."""
    if app.mode not in ("workflow", "advanced-chat"):
        raise ApiError(400, "not_workflow_app", "the app has no workflow runs")
    where = run_crud.RunFilter(
        status=status,
        keyword=keyword,
        before=parse_time(created_at__before, "created_at__before"),
        after=parse_time(created_at__after, "created_at__after"),
        end_user_session_id=created_by_end_user_session_id,
    )
    rows, total = run_crud.list_runs(session, app, where, page, limit)
    return page_of([log_entry(run, user) for run, user in rows], page, limit, total)
