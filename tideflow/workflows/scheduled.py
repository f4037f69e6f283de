"""ScheduledRunWorkflow: what an app's Temporal Schedule starts at each firing.

It records the run (activity ``open_scheduled_run``), runs the app's newest published version
as a child ``GraphWorkflow`` under the run's own workflow id (so the API streams, stops and
shows it like any run), then records how it ended (``finish_scheduled_run``). The run's
``sys.timestamp`` is the time the schedule fired for (Temporal's ``TemporalScheduledStartTime``:
the nominal time, also for trigger-now and backfills), not when the worker got to it.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.exceptions import (
    CancelledError,
    ChildWorkflowError,
    TerminatedError,
    WorkflowAlreadyStartedError,
)

with workflow.unsafe.imports_passed_through():
    from tideflow.activities.scheduled import (
        FINISH_SCHEDULED_RUN,
        OPEN_SCHEDULED_RUN,
        FinishScheduledRun,
        OpenedScheduledRun,
        OpenScheduledRun,
    )
    from tideflow.workflows.engine.models import GraphRunResult

SCHEDULED_RUN_WORKFLOW = "ScheduledRunWorkflow"
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
_TENANT_ID = SearchAttributeKey.for_keyword("TenantId")
_APP_ID = SearchAttributeKey.for_keyword("AppId")
# Database steps: retried for a while (the database may be restarting), then the firing fails.
_DB_TIMEOUT = timedelta(seconds=30)
_DB_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=20)


class ScheduledRunRequest(BaseModel):
    """The schedule action's argument: which app to run."""

    app_id: str
    # Worker pool -> task queue of the run's activities (GraphRunInput.activity_queues), as
    # the settings of whoever put the schedule said; empty: the workflow's own queue.
    activity_queues: dict[str, str] = Field(default_factory=dict[str, str])


class ScheduledRunOutcome(BaseModel):
    """The run this firing made (empty when ``skipped``) and how it ended."""

    run_id: str = ""
    status: str = ""
    skipped: str = ""


@workflow.defn(name=SCHEDULED_RUN_WORKFLOW)
class ScheduledRunWorkflow:
    """One firing of an app's schedule: record, run, project."""

    @workflow.run
    async def run(self, request: ScheduledRunRequest) -> ScheduledRunOutcome:
        """Run the app once for the time this firing stands for."""
        info = workflow.info()
        scheduled = info.typed_search_attributes.get(SCHEDULED_START) or info.start_time
        opened = await workflow.execute_activity(
            OPEN_SCHEDULED_RUN,
            OpenScheduledRun(app_id=request.app_id, scheduled_at=scheduled, key=info.workflow_id),
            result_type=OpenedScheduledRun,
            start_to_close_timeout=_DB_TIMEOUT,
            retry_policy=_DB_RETRY,
            summary="record the scheduled run",
        )
        run_input = opened.run_input
        if run_input is None:
            return ScheduledRunOutcome(run_id=opened.run_id, skipped=opened.skipped)
        if request.activity_queues and not run_input.activity_queues:
            run_input = run_input.model_copy(
                update={"activity_queues": dict(request.activity_queues)}
            )
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(_TENANT_ID, run_input.tenant_id),
                SearchAttributePair(_APP_ID, run_input.app_id),
            ]
        )
        finish = FinishScheduledRun(run_id=opened.run_id)
        try:
            result = await workflow.execute_child_workflow(
                "GraphWorkflow",
                run_input,
                id=opened.workflow_id,
                result_type=GraphRunResult,
                search_attributes=attributes,
            )
            finish.result = result
        except WorkflowAlreadyStartedError:  # an earlier execution of this firing started it
            return ScheduledRunOutcome(run_id=opened.run_id, skipped="the run already started")
        except ChildWorkflowError as err:
            stopped = isinstance(err.cause, CancelledError | TerminatedError)
            finish.status = "stopped" if stopped else "failed"
            finish.error = str(err.cause or err)
        await workflow.execute_activity(
            FINISH_SCHEDULED_RUN,
            finish,
            start_to_close_timeout=_DB_TIMEOUT,
            retry_policy=_DB_RETRY,
            summary="record how the run ended",
        )
        status = finish.result.status if finish.result is not None else finish.status
        return ScheduledRunOutcome(run_id=opened.run_id, status=status)
