"""Heartbeats for long-running activities.

An activity learns that its workflow cancelled it only from the answer to a heartbeat, and a
worker that died mid-attempt is only noticed through a missed one. The workflow sets a heartbeat
timeout (``tideflow.workflows.engine.context.HEARTBEAT_TIMEOUT_SECONDS``) on the calls of the
activities that heartbeat; the SDK throttles the actual sends to a fraction of that timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

from temporalio import activity

HEARTBEAT_EVERY_SECONDS = 1.0


async def _beat(every: float) -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(every)


@contextlib.asynccontextmanager
async def heartbeating(every: float = HEARTBEAT_EVERY_SECONDS) -> AsyncGenerator[None]:
    """Heartbeat in the background while the body runs (inside an activity only)."""
    task = asyncio.create_task(_beat(every))
    try:
        yield
    finally:
        # Not awaited: awaiting here could swallow a cancellation of the activity itself.
        task.cancel()


def attempt() -> int:
    """This activity attempt's number (1 for the first), reported in results for the run log."""
    return activity.info().attempt
