"""CheckModelCredentialsWorkflow: one cheap model call that tells whether credentials work.

The console API starts it before saving a tenant's provider credentials (the API never calls a
model itself), and awaits its end: a result means the credentials work, a failure carries the
provider's message (an ``ActivityError`` whose cause is the activity's ``ApplicationError``).

The credentials travel sealed (encrypted with TIDEFLOW_SECRET_KEY, as they are stored) in this
workflow's input and the activity's, so its Temporal history never holds them in clear.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from tideflow.activities.llm.models import CHECK_CREDENTIALS_ACTIVITY, CredentialCheck
    from tideflow.workflows.task_queues import activity_queue

# One model call, answered in seconds by a working provider; the user is waiting on it.
CHECK_TIMEOUT = timedelta(seconds=30)


@workflow.defn(name="CheckModelCredentialsWorkflow")
class CheckModelCredentialsWorkflow:
    """Runs the ``check_model_credentials`` activity once and returns what it answered."""

    @workflow.run
    async def run(self, check: CredentialCheck) -> dict[str, Any]:
        """Check ``check.credentials`` of ``check.provider`` (one attempt, no retries):
        ``{"ok": True}`` when they work."""
        return await workflow.execute_activity(
            CHECK_CREDENTIALS_ACTIVITY,
            check,
            result_type=dict[str, Any],
            start_to_close_timeout=CHECK_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=1),
            summary=f"check {check.provider} credentials",
            task_queue=activity_queue(CHECK_CREDENTIALS_ACTIVITY, check.activity_queues),
        )
