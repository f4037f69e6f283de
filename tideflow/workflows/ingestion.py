"""DocumentIngestionWorkflow: one document from its file to searchable chunks, durably.

parse -> split (clean + chunk) -> index (embed in batches, upsert) -> completed, each stage an
activity that reads and writes by reference (file store, database), so no document text rides
in the history. The document's row follows Dify's lifecycle (waiting, parsing, cleaning,
splitting, indexing, completed; paused; error).

- A worker that dies mid-stage: the stage's attempt is retried (heartbeat timeout), and the
  index stage starts at the first batch not yet marked done.
- ``pause``: the document shows ``paused`` at once; the index stage stops after its current
  batch (keeping the finished ones), parse and split are cancelled; then the workflow waits,
  holding no worker, for ``resume``.
- A stage that fails for good (an unreadable file, a refused model) leaves the document in
  ``error`` with the message; retrying is a new run of the same workflow id.
- A re-index bumps the document's generation and starts a new run in place of this one;
  stages of an older generation write nothing and this run ends.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from tideflow.activities.knowledge.models import (
        INDEX_ACTIVITY,
        INGESTION_WORKFLOW,
        PARSE_ACTIVITY,
        PAUSE_SIGNAL,
        RESUME_SIGNAL,
        SPLIT_ACTIVITY,
        STATUS_ACTIVITY,
        IngestionInput,
        StageInput,
        StageResult,
        StatusInput,
    )
    from tideflow.workflows.task_queues import activity_queue

# A stage's attempt: heartbeats every second; a silent worker is given up on after this long.
HEARTBEAT_TIMEOUT = timedelta(seconds=10)
# Embedding a large document can take long; each attempt resumes where the last one stopped.
STAGE_TIMEOUT = timedelta(hours=2)
STAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=6,
)
STATUS_TIMEOUT = timedelta(seconds=30)
STATUS_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=20)

# (stage activity, the status shown while it runs)
STAGES = (
    (PARSE_ACTIVITY, "parsing"),
    (SPLIT_ACTIVITY, "cleaning"),
    (INDEX_ACTIVITY, "indexing"),
)


class Paused(Exception):
    """The running stage was cancelled by ``pause``."""


@workflow.defn(name=INGESTION_WORKFLOW)
class DocumentIngestionWorkflow:
    """Ingests one document (see the module doc)."""

    def __init__(self) -> None:
        self._paused = False

    @workflow.signal(name=PAUSE_SIGNAL)
    def pause(self) -> None:
        """Pause after cancelling the stage in progress."""
        self._paused = True

    @workflow.signal(name=RESUME_SIGNAL)
    def resume(self) -> None:
        """Go on from where the pause stopped."""
        self._paused = False

    @workflow.run
    async def run(self, request: IngestionInput) -> str:
        """The document's final status: completed, error, or stale (replaced by a re-index)."""
        self._request = request
        for activity_name, status in STAGES:
            while True:
                await self._wait_if_paused()
                if not await self._status(status):
                    return "stale"
                try:
                    result = await self._stage(activity_name)
                except Paused:
                    continue
                except ActivityError as err:
                    await self._status("error", _message(err))
                    return "error"
                if result.stale:
                    return "stale"
                break
        return "completed" if await self._status("completed") else "stale"

    async def _wait_if_paused(self) -> None:
        if self._paused:
            await self._status("paused")
            await workflow.wait_condition(lambda: not self._paused)

    async def _stage(self, activity_name: str) -> StageResult:
        """Run one stage; raise Paused when ``pause`` cancelled it."""
        request = self._request
        handle = workflow.start_activity(
            activity_name,
            StageInput(
                document_id=request.document_id,
                generation=request.generation,
                reparse=request.reparse,
                resplit=request.resplit,
            ),
            result_type=StageResult,
            start_to_close_timeout=STAGE_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=STAGE_RETRY,
            # A cancelled stage has stopped writing before the pause is shown.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=f"{activity_name} {request.document_id}",
            task_queue=activity_queue(activity_name, request.activity_queues),
        )
        await workflow.wait_condition(lambda: handle.done() or self._paused)
        cancelled = False
        if not handle.done():
            # The index stage reads the status between batches and stops at the next one;
            # parse and split are cancelled (the cancellation lands with a heartbeat, maybe
            # after a resume: it is still the pause's).
            await self._status("paused")
            if activity_name != INDEX_ACTIVITY:
                handle.cancel()
                cancelled = True
        try:
            result = await handle
        except ActivityError as err:
            if cancelled and isinstance(err.cause, CancelledError):
                raise Paused from None
            raise
        if result.paused:
            raise Paused
        return result

    async def _status(self, status: str, error: str | None = None) -> bool:
        request = self._request
        return await workflow.execute_activity(
            STATUS_ACTIVITY,
            StatusInput(
                document_id=request.document_id,
                generation=request.generation,
                status=status,  # pyright: ignore[reportArgumentType]
                error=error,
            ),
            result_type=bool,
            start_to_close_timeout=STATUS_TIMEOUT,
            retry_policy=STATUS_RETRY,
        )


def _message(err: ActivityError) -> str:
    """The stage's own error message (an ApplicationError under the ActivityError)."""
    cause = err.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    return cause.message if isinstance(cause, ApplicationError) else str(err)
