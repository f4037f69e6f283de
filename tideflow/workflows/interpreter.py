"""GraphWorkflow: one generic Temporal workflow that runs any compiled app plan.

Inline nodes run in workflow code; side-effecting nodes call activities by registered name
with the node title as the activity summary. The engine (``tideflow.workflows.engine``) does
the walking; this module only supplies a Temporal-backed Executor.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    RetryState,
    TerminatedError,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from tideflow.workflows.engine.executor import (
        ATTEMPT_DETAIL,
        ActivityCallError,
        ActivityRetry,
        ChildRunError,
    )
    from tideflow.workflows.engine.models import (
        SUBMIT_HUMAN_INPUT,
        GraphRunInput,
        GraphRunResult,
        HumanInputSubmission,
        RunEvent,
    )
    from tideflow.workflows.engine.recorder import RunRecorder
    from tideflow.workflows.engine.run import run_graph
    from tideflow.workflows.task_queues import activity_queue

T = TypeVar("T")
_TENANT_ID = SearchAttributeKey.for_keyword("TenantId")
_APP_ID = SearchAttributeKey.for_keyword("AppId")

__all__ = ["GraphRunInput", "GraphRunResult", "GraphWorkflow", "TemporalExecutor"]


def _failure_of(err: ActivityError, maximum_attempts: int) -> ActivityCallError:
    """The node's error, with the attempts made where the workflow can know them.

    Temporal hands the workflow the final failure only. An activity that limits its own attempts
    names the attempt that raised it in its last detail (``{ATTEMPT_DETAIL: n}``): that many
    were made. Otherwise, retries used up (or a policy of one attempt) means every allowed
    attempt ran; a non-retryable failure does not say which attempt raised it, so ``attempts``
    stays None and the node counts it as its first.
    """
    cause = err.cause
    attempts = _reported_failed_attempt(cause)
    if attempts is None and (
        err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED or maximum_attempts == 1
    ):
        attempts = maximum_attempts
    if isinstance(cause, ApplicationError):
        return ActivityCallError(cause.message, cause.type or "ApplicationError", attempts)
    message = str(cause) if cause is not None else str(err)
    error_type = type(cause).__name__ if cause else "ActivityError"
    return ActivityCallError(message, error_type, attempts)


def _reported_failed_attempt(cause: BaseException | None) -> int | None:
    """The attempt an activity's ApplicationError names in its last detail, if it names one."""
    if not isinstance(cause, ApplicationError) or not cause.details:
        return None
    last: Any = cause.details[-1]
    if isinstance(last, dict):
        number: Any = cast(dict[str, Any], last).get(ATTEMPT_DETAIL)
        if isinstance(number, int) and number >= 1:
            return number
    return None


class TemporalExecutor:
    """The engine's Executor inside a workflow: activities, timers, time and ids from Temporal.

    Forms waiting for a submission are keyed by their node execution id; ``GraphWorkflow``'s
    ``submit_human_input`` update delivers into ``submissions``.
    """

    def __init__(self) -> None:
        self.waiting: set[str] = set()
        self.submissions: dict[str, dict[str, Any]] = {}
        # The run's pool -> task queue routing (GraphRunInput.activity_queues).
        self.activity_queues: dict[str, str] = {}

    async def call_activity(
        self,
        name: str,
        arg: Any,
        *,
        result_type: type[T],
        summary: str,
        retry: ActivityRetry,
        timeout_seconds: float,
    ) -> T:
        """``workflow.execute_activity`` with the node's retry policy (fixed interval), on the
        task queue of the activity's worker pool (the run's own queue unless routed).

        Cancelling the calling task (the run is stopped) asks Temporal to cancel the activity
        and raises CancelledError at once; a heartbeating activity learns of it on its next
        heartbeat.
        """
        interval = timedelta(seconds=max(retry.interval_seconds, 0.001))
        maximum_attempts = retry.policy_attempts
        policy = RetryPolicy(
            maximum_attempts=maximum_attempts,
            initial_interval=interval,
            backoff_coefficient=1.0,
            maximum_interval=interval,
        )
        heartbeat = retry.heartbeat_seconds
        try:
            return await workflow.execute_activity(
                name,
                arg,
                result_type=result_type,
                start_to_close_timeout=timedelta(seconds=timeout_seconds),
                heartbeat_timeout=timedelta(seconds=heartbeat) if heartbeat else None,
                retry_policy=policy,
                summary=summary[:200],
                task_queue=activity_queue(name, self.activity_queues),
            )
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                raise asyncio.CancelledError from err
            raise _failure_of(err, maximum_attempts) from err

    async def sleep(self, seconds: float) -> None:
        """A durable timer."""
        await workflow.sleep(timedelta(seconds=seconds))

    async def wait_for_input(self, key: str, timeout_seconds: float) -> dict[str, Any] | None:
        """Wait for the form's update under a durable timer (no worker slot held meanwhile)."""
        self.waiting.add(key)
        try:
            await workflow.wait_condition(
                lambda: key in self.submissions, timeout=timedelta(seconds=timeout_seconds)
            )
        except TimeoutError:
            pass
        finally:
            self.waiting.discard(key)
        return self.submissions.pop(key, None)

    async def run_child(self, workflow_id: str, run_input: dict[str, Any]) -> dict[str, Any]:
        """A child GraphWorkflow on this task queue, with this run's activity routing unless it
        has its own; stopping this run asks it to stop too."""
        child_input = GraphRunInput.model_validate(run_input)
        if self.activity_queues and not child_input.activity_queues:
            child_input = child_input.model_copy(
                update={"activity_queues": dict(self.activity_queues)}
            )
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(_TENANT_ID, child_input.tenant_id),
                SearchAttributePair(_APP_ID, child_input.app_id),
            ]
        )
        try:
            result = await workflow.execute_child_workflow(
                "GraphWorkflow",
                child_input,
                id=workflow_id,
                result_type=GraphRunResult,
                search_attributes=attributes,
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            )
        except ChildWorkflowError as err:
            stopped = isinstance(err.cause, CancelledError | TerminatedError)
            raise ChildRunError(str(err.cause or err), stopped=stopped) from err
        return result.model_dump(mode="json")

    def stop_requested(self) -> bool:
        """Temporal received a cancellation request for this run."""
        return workflow.cancellation_reason() is not None

    def now(self) -> datetime:
        """Workflow time."""
        return workflow.now()

    def new_id(self) -> str:
        """A replay-safe uuid."""
        return str(workflow.uuid4())


@workflow.defn(name="GraphWorkflow")
class GraphWorkflow:
    """Runs one app plan to the end; ``events`` lets the API stream progress."""

    def __init__(self) -> None:
        self._recorder = RunRecorder()
        self._executor = TemporalExecutor()

    @workflow.run
    async def run(self, run_input: GraphRunInput) -> GraphRunResult:
        """Walk the plan; a failed run returns status ``failed`` (its records kept)."""
        self._executor.activity_queues = dict(run_input.activity_queues)
        try:
            return await run_graph(run_input, self._executor, self._recorder)
        except asyncio.CancelledError:
            recorder = self._recorder
            elapsed, total_steps = recorder.finish_run("stopped", {}, "stopped")
            return GraphRunResult(
                status="stopped",
                run_id=recorder.run_id,
                answer=recorder.answer,
                error="stopped",
                node_runs=list(recorder.node_runs),
                exceptions_count=recorder.exceptions_count,
                total_steps=total_steps,
                total_tokens=recorder.total_tokens,
                usage=recorder.usage,
                elapsed=elapsed,
            )

    @workflow.query(name="events")
    def events(self, since: int = 0) -> list[RunEvent]:
        """Events with index ``>= since`` (for SSE streaming and reattaching)."""
        return self._recorder.events_since(since)

    @workflow.update(name=SUBMIT_HUMAN_INPUT)
    def submit_human_input(self, submission: HumanInputSubmission) -> dict[str, Any]:
        """Deliver a human-input form's submission to the node waiting on it."""
        self._executor.submissions[submission.key] = {
            "action": submission.action,
            "inputs": submission.inputs,
        }
        return {"accepted": True}

    @submit_human_input.validator
    def _check_submission(self, submission: HumanInputSubmission) -> None:
        """Reject a form that is not (or no longer) waiting: the history stays clean."""
        executor = self._executor
        if submission.key not in executor.waiting or submission.key in executor.submissions:
            raise ValueError(f"form {submission.key} is not waiting for a submission")
