"""Heartbeats for long-running activities, and the attempts a node's own retry_config allows.

An activity learns that its workflow cancelled it only from the answer to a heartbeat, and a
worker that died mid-attempt is only noticed through a missed one. The workflow sets a heartbeat
timeout (``tideflow.workflows.engine.context.HEARTBEAT_TIMEOUT_SECONDS``) on the calls of the
activities that heartbeat; the SDK throttles the actual sends to a fraction of that timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tideflow.workflows.engine.executor import ATTEMPT_DETAIL

HEARTBEAT_EVERY_SECONDS = 1.0


def _first_beat_after(every: float) -> float:
    """Seconds before the first beat: ``every``, within half the heartbeat timeout. Temporal
    counts that timeout from the start, so a beat at once only costs an RPC per activity,
    and most calls end before their first beat is due."""
    timeout = activity.info().heartbeat_timeout
    if timeout is None or timeout.total_seconds() <= 0:
        return every
    return min(every, timeout.total_seconds() / 2)


async def _beat(every: float, details: Callable[[], Any] | None) -> None:
    await asyncio.sleep(_first_beat_after(every))
    while True:
        if details is None:
            activity.heartbeat()
        else:
            activity.heartbeat(details())
        await asyncio.sleep(every)


@contextlib.asynccontextmanager
async def heartbeating(
    every: float = HEARTBEAT_EVERY_SECONDS, details: Callable[[], Any] | None = None
) -> AsyncGenerator[None]:
    """Heartbeat in the background while the body runs (inside an activity only); each beat
    carries ``details()`` when given (progress shown on the pending activity)."""
    task = asyncio.create_task(_beat(every, details))
    try:
        yield
    finally:
        # Not awaited: awaiting here could swallow a cancellation of the activity itself.
        task.cancel()


def attempt() -> int:
    """This activity attempt's number (1 for the first), reported in results for the run log."""
    return activity.info().attempt


@contextlib.contextmanager
def node_attempts(max_attempts: int | None) -> Generator[None]:
    """Limit the node's *own* failures to ``max_attempts`` (its retry_config's retries + 1).

    The workflow's retry policy allows more attempts than that, so that an attempt lost to
    infrastructure (its worker died: heartbeat or start-to-close timeout) is always retried.
    A failure of the body (an ApplicationError, or any other exception, which becomes one typed
    by its class name) on attempt ``>= max_attempts`` is therefore raised non-retryable; every
    failure carries ``{ATTEMPT_DETAIL: attempt}`` as its last detail, so the workflow can count
    the attempts made. Attempts lost to infrastructure count toward ``max_attempts`` too.

    ``None`` (an input scheduled before the field existed, whose policy allowed exactly the
    retry_config's attempts, or a direct call): the retry policy decides, as it used to.
    """
    try:
        yield
    except ApplicationError as err:
        raise _with_attempt(
            err.message,
            err.type,
            err.details,
            err.non_retryable,
            max_attempts,
            err.next_retry_delay,
        ) from err.__cause__
    except Exception as exc:
        raise _with_attempt(str(exc), type(exc).__name__, (), False, max_attempts) from exc


def _with_attempt(
    message: str,
    error_type: str | None,
    details: Sequence[Any],
    non_retryable: bool,
    max_attempts: int | None,
    next_retry_delay: timedelta | None = None,
) -> ApplicationError:
    number = attempt()
    return ApplicationError(
        message,
        *details,
        {ATTEMPT_DETAIL: number},
        type=error_type,
        non_retryable=non_retryable or (max_attempts is not None and number >= max_attempts),
        # A delay the failure asked for (a rate limit's Retry-After) survives the re-raise.
        next_retry_delay=next_retry_delay,
    )
