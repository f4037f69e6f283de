"""A round trip through Temporal and a worker: the deep health check and the smoke test."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tideflow.activities.ping import PingInput, PingResult, ping


@workflow.defn(name="PingWorkflow")
class PingWorkflow:
    """Calls the ``ping`` activity once and returns what it answered."""

    @workflow.run
    async def run(self, request: PingInput) -> PingResult:
        """Echo ``request.message`` through one activity."""
        return await workflow.execute_activity(
            ping,
            request,
            start_to_close_timeout=timedelta(seconds=10),
            summary="ping",
        )
