"""The two database steps of a scheduled run: record it, then record how it ended.

``open_scheduled_run`` writes the WorkflowRun row (``triggered_from="schedule"``) for the app's
newest published version and returns the run's input; its run id comes from the firing's
workflow id, so a retried attempt finds the row it wrote instead of writing a second.
``finish_scheduled_run`` projects the result (once: ``project_result`` leaves an ended run be).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session
from temporalio import activity

from tideflow.platform.db.crud import apps, envvars
from tideflow.platform.db.crud import runs as crud
from tideflow.platform.db.models import App
from tideflow.platform.db.session import get_engine
from tideflow.platform.drafts import runnable_plan
from tideflow.platform.runs.launch import new_run
from tideflow.platform.settings import Settings, get_settings
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult
from tideflow.workflows.graph.plan import ExecutionPlan

OPEN_SCHEDULED_RUN = "open_scheduled_run"
FINISH_SCHEDULED_RUN = "finish_scheduled_run"
# sys.user_id of a scheduled run (no person started it).
SCHEDULE_USER = "schedule"


class OpenScheduledRun(BaseModel):
    """Which app fired, for which time, under which key (the firing's workflow id)."""

    app_id: str
    scheduled_at: datetime
    key: str


class OpenedScheduledRun(BaseModel):
    """The run to start; ``run_input`` None: nothing to run (``skipped`` says why)."""

    run_id: str = ""
    workflow_id: str = ""
    run_input: GraphRunInput | None = None
    skipped: str = ""


class FinishScheduledRun(BaseModel):
    """How the run ended: its result, or (no result) a status and error."""

    run_id: str
    result: GraphRunResult | None = None
    status: str = "failed"
    error: str = ""


def _open(settings: Settings, request: OpenScheduledRun) -> OpenedScheduledRun:
    with Session(get_engine(settings.db_url)) as session:
        app = session.get(App, request.app_id)
        if app is None:
            return OpenedScheduledRun(skipped="the app no longer exists")
        version = apps.latest_version(session, app)
        if version is None:
            return OpenedScheduledRun(skipped="the app has no published version")
        variables = envvars.list_env(session, app)
        plan = ExecutionPlan.model_validate(version.plan)
        root = plan.nodes.get(plan.root_id)
        if root is None or root.type != "trigger-schedule":
            return OpenedScheduledRun(skipped="the published version has no schedule trigger")
        plan = runnable_plan(plan, variables, settings.secret_key)
        start = new_run(
            app,
            plan,
            version,
            {},
            user=SCHEDULE_USER,
            idempotency_key=request.key,
            triggered_from="schedule",
        )
        row, _created = crud.claim_run(session, start.row)
        if row.finished_at is not None:  # a retry after the run already ran to its end
            return OpenedScheduledRun(run_id=row.id, skipped="the run has already ended")
        timestamp = int(request.scheduled_at.timestamp())
        run_input = start.run_input.model_copy(update={"timestamp": timestamp})
        return OpenedScheduledRun(
            run_id=row.id, workflow_id=row.temporal_workflow_id, run_input=run_input
        )


def _finish(settings: Settings, request: FinishScheduledRun) -> None:
    with Session(get_engine(settings.db_url)) as session:
        if request.result is not None:
            crud.project_result(session, request.run_id, request.result)
        else:
            crud.fail_run(session, request.run_id, request.status, request.error)


@activity.defn(name=OPEN_SCHEDULED_RUN)
async def open_scheduled_run(request: OpenScheduledRun) -> OpenedScheduledRun:
    """Record the scheduled run of the app's newest published version (idempotent)."""
    return await asyncio.to_thread(_open, get_settings(), request)


@activity.defn(name=FINISH_SCHEDULED_RUN)
async def finish_scheduled_run(request: FinishScheduledRun) -> None:
    """Project how the scheduled run ended into its row (once)."""
    await asyncio.to_thread(_finish, get_settings(), request)
