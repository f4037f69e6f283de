"""Where the API reads a run's events from while it runs.

The first channel asks the workflow itself (its ``events(since)`` query), so Temporal is the
channel and the API and the worker may be separate processes with nothing else between them.
A push channel (Redis streams, Postgres LISTEN/NOTIFY) can replace it behind ``EventChannel``.
"""

from __future__ import annotations

from typing import Protocol

from temporalio.client import Client

from tideflow.workflows.engine.models import RunEvent


class EventChannel(Protocol):
    """Reads the events of one run (by Temporal workflow id) from an index on."""

    async def events(self, workflow_id: str, since: int) -> list[RunEvent]:
        """Events with ``index >= since`` that exist now (maybe none)."""
        ...


class TemporalQueryChannel:
    """Polls ``GraphWorkflow.events(since)``: each call is one query round trip."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def events(self, workflow_id: str, since: int) -> list[RunEvent]:
        """The workflow's events from ``since`` (raises the SDK's errors as they come)."""
        handle = self._client.get_workflow_handle(workflow_id)
        return await handle.query("events", since, result_type=list[RunEvent])
