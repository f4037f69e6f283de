"""What the engine needs from its host: activities, time and ids.

``GraphWorkflow`` implements it with ``temporalio.workflow``; tests implement it in plain asyncio.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

# Key of the detail that activities limiting their own attempts append, last, to each failure:
# ``{ATTEMPT_DETAIL: n}``, the attempt that raised it (``tideflow.activities.heartbeat``).
ATTEMPT_DETAIL = "tideflow_attempt"


@dataclasses.dataclass(frozen=True)
class ActivityRetry:
    """A node's retry_config as an activity retry policy (fixed interval, backoff 1.0).

    ``heartbeat_seconds`` is set for activities that heartbeat: a silent attempt is then retried
    (its worker died) and a cancelled run reaches the attempt in flight.

    ``infrastructure_attempts`` is set for activities that stop at ``maximum_attempts`` on
    their own failures (``tideflow.activities.heartbeat.node_attempts``): the host then allows
    up to that many attempts in all, so attempts lost with their worker are retried beyond the
    node's retry_config. None: ``maximum_attempts`` bounds every attempt.
    """

    maximum_attempts: int = 1
    interval_seconds: float = 1.0
    heartbeat_seconds: float | None = None
    infrastructure_attempts: int | None = None

    @property
    def policy_attempts(self) -> int:
        """The attempts the host's retry policy allows in all."""
        return max(1, self.maximum_attempts, self.infrastructure_attempts or 0)


class ActivityCallError(Exception):
    """An activity failed for good (after its retries): message and Dify error type.

    ``attempts`` is how many attempts were made, when the host knows (None when it does not).
    """

    def __init__(self, message: str, error_type: str, attempts: int | None = None):
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.attempts = attempts


class ChildRunError(Exception):
    """A child run ended without a result; ``stopped``: it was cancelled or terminated."""

    def __init__(self, message: str, *, stopped: bool) -> None:
        super().__init__(message)
        self.stopped = stopped


class Executor(Protocol):
    """Side effects and clocks for the engine; every call must be deterministic under replay."""

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
        """Run activity ``name`` with one argument; raise ActivityCallError when it fails.

        A cancelled call raises ``asyncio.CancelledError`` (the run is being stopped).
        """
        ...

    async def sleep(self, seconds: float) -> None:
        """A durable timer."""
        ...

    async def wait_for_input(self, key: str, timeout_seconds: float) -> dict[str, Any] | None:
        """Wait (durably, holding no worker) for the submission of the form ``key``.

        Returns the submission, or None when ``timeout_seconds`` passed first.
        """
        ...

    async def run_child(self, workflow_id: str, run_input: dict[str, Any]) -> dict[str, Any]:
        """Run another app's plan (``run_input``, a GraphRunInput as JSON) as a child run under
        ``workflow_id`` and return its GraphRunResult as JSON (a failed child returns status
        ``failed``); raises ChildRunError when it ended without a result."""
        ...

    def stop_requested(self) -> bool:
        """Whether this run was asked to stop (a child run absorbs the cancellation, so a node
        that waited on one asks here and stops the run itself)."""
        ...

    def now(self) -> datetime:
        """The current (replay-safe) time."""
        ...

    def new_id(self) -> str:
        """A fresh (replay-safe) unique id."""
        ...
