"""The API's connection to Temporal: made in the background, so the API serves (and reports
itself degraded) while Temporal is still starting or is down."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from temporalio.client import Client

from tideflow.platform.temporal import TideflowTemporal

log = logging.getLogger("tideflow.api")


class TemporalLink:
    """Holds the client once connected; reconnects are the SDK's job after that."""

    def __init__(self, temporal: TideflowTemporal) -> None:
        self._temporal = temporal
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    @property
    def client(self) -> Client | None:
        """The connected client, or None while not yet connected."""
        return self._client

    def start(self) -> None:
        """Begin connecting in the background."""
        self._task = asyncio.create_task(self._connect_forever())

    async def _connect_forever(self) -> None:
        pause = 0.1  # soon after a start (``tideflow up``), then every second
        while self._client is None:
            try:
                self._client = await self._temporal.connect()
                self.last_error = None
            except RuntimeError as exc:
                self.last_error = str(exc)
                log.info("Temporal not reachable yet: %s", exc)
                await asyncio.sleep(pause)
                pause = min(2 * pause, 1.0)

    async def stop(self) -> None:
        """Stop trying to connect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
