"""``POST /v1/workflows/run/{id}/rerun``: a new run of the same version with the same inputs
that reuses the recorded outputs of the nodes before ``from_node``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from tideflow.platform.api.deps import (
    CurrentApp,
    RunServiceDep,
    SessionDep,
    SettingsDep,
    TemporalClientDep,
)
from tideflow.platform.api.errors import ApiError, not_found
from tideflow.platform.api.routes.console_apps import refuse_mode
from tideflow.platform.api.routes.service_workflows import respond
from tideflow.platform.db.crud import apps, envvars
from tideflow.platform.db.crud import runs as run_crud
from tideflow.platform.db.crud.forms import UNFINISHED_STATUSES
from tideflow.platform.db.models import EndUser
from tideflow.platform.drafts import runnable_plan, secret_values
from tideflow.platform.runs.launch import new_run
from tideflow.platform.runs.rerun import rerun_pins
from tideflow.platform.runs.views import WorkflowRunResponse
from tideflow.workflows.graph.plan import ExecutionPlan

router = APIRouter(prefix="/v1", tags=["service: workflows"])


class RerunBody(BaseModel):
    """Where to start again, and how to answer (as ``/workflows/run``)."""

    from_node: str = Field(min_length=1, max_length=255)
    response_mode: Literal["blocking", "streaming", "async"] = "blocking"


@router.post("/workflows/run/{workflow_run_id}/rerun", response_model=WorkflowRunResponse)
async def rerun(
    workflow_run_id: str,
    body: RerunBody,
    app: CurrentApp,
    session: SessionDep,
    settings: SettingsDep,
    runs: RunServiceDep,
    _client: TemporalClientDep,
) -> Response | WorkflowRunResponse:
    """A new run from ``from_node``: the nodes before it are pinned to their recorded outputs."""
    original = run_crud.get_run(session, app, workflow_run_id)
    if original is None:
        raise not_found("workflow run")
    refuse_mode(app.mode, "workflow")
    if original.status in UNFINISHED_STATUSES:
        raise ApiError(
            400, "bad_request", f"the run is still {original.status}; re-run it once it ends"
        )
    version = apps.get_version(session, app, original.app_version_id or "")
    if version is None:
        raise ApiError(400, "bad_request", "only runs of a published version can be re-run")
    variables = envvars.list_env(session, app)
    plan = runnable_plan(ExecutionPlan.model_validate(version.plan), variables, settings.secret_key)
    pins = rerun_pins(plan, run_crud.node_executions(session, original.id), body.from_node)
    user = session.get(EndUser, original.end_user_id) if original.end_user_id else None
    start = new_run(
        app,
        plan,
        version,
        original.inputs,
        user=user.session_id if user else "",
        end_user_id=original.end_user_id,
        pins=pins,
    )
    secrets = secret_values(variables, settings.secret_key)
    return await respond(runs, start, secrets, body.response_mode, session)
