"""Records a run's events, node runs and streamed answer in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from tideflow.workflows.engine.models import NodeRun, RunEvent, RunStatus


def epoch(moment: datetime) -> int:
    """Whole epoch seconds (Dify's ``created_at`` / ``finished_at``)."""
    return int(moment.timestamp())


class RunRecorder:
    """Append-only log of a run; ``events_since`` feeds the SSE stream.

    ``start`` gives it the run id and the executor's clock; until then events carry time 0.
    """

    def __init__(self) -> None:
        self.events: list[RunEvent] = []
        self.node_runs: list[NodeRun] = []
        self.answer_parts: list[str] = []
        self.exceptions_count = 0
        self.run_id = ""
        self.clock: Callable[[], datetime] | None = None
        self.started_at: datetime | None = None
        self.node_count = 0

    def start(self, run_id: str, clock: Callable[[], datetime]) -> datetime:
        """The run begins: remember its id and clock; returns the start time."""
        self.run_id, self.clock = run_id, clock
        self.started_at = clock()
        return self.started_at

    def now(self) -> int:
        """The executor clock in epoch seconds (0 before ``start``)."""
        return epoch(self.clock()) if self.clock else 0

    def next_node_index(self) -> int:
        """Execution order of the node starting now (from 1, over the whole run)."""
        self.node_count += 1
        return self.node_count

    def emit(self, event: str, node_id: str | None = None, **data: Any) -> None:
        """Append one event."""
        self.events.append(
            RunEvent(
                index=len(self.events),
                event=event,
                node_id=node_id,
                data=data,
                created_at=self.now(),
            )
        )

    def node_retry(
        self, node_id: str, retry_index: int, error: str | None, error_type: str | None
    ) -> None:
        """Attempt ``retry_index`` (from 1) failed and the node runs again (Dify ``node_retry``).

        ``error`` is None when the attempt's error is not known to the run (Temporal only hands
        the workflow an activity's final failure; the others are in the workflow history).
        """
        self.emit(
            "node_retry", node_id, retry_index=retry_index, error=error, error_type=error_type
        )

    def events_since(self, index: int) -> list[RunEvent]:
        """Events with ``event.index >= index``."""
        return self.events[max(0, index) :]

    def stream_chunk(self, event: str, node_id: str, text: str, selector: Sequence[str]) -> None:
        """A piece of a response node's text reaches the client, in Dify's streaming order.

        ``event`` is ``message`` (chatflows; the text is in ``answer``) or ``text_chunk``
        (workflows; the text is in ``text``); ``node_id`` is the Answer / End node streaming and
        ``selector`` where the piece comes from (Dify's ``from_variable_selector``).
        """
        if not text:
            return
        key = "answer" if event == "message" else "text"
        self.emit(event, node_id, **{key: text, "from_variable_selector": list(selector)})

    def finish_run(
        self, status: RunStatus, outputs: dict[str, Any], error: str | None
    ) -> tuple[float, int]:
        """The final ``workflow_finished`` event; returns (elapsed seconds, total steps)."""
        ended = self.clock() if self.clock else None
        started = self.started_at or ended
        elapsed = (ended - started).total_seconds() if ended and started else 0.0
        total_steps = len(self.node_runs)
        self.emit(
            "workflow_finished",
            None,
            id=self.run_id,
            status=status,
            outputs=outputs,
            error=error,
            elapsed=elapsed,
            total_steps=total_steps,
            exceptions_count=self.exceptions_count,
            started_at=epoch(started) if started else 0,
            finished_at=epoch(ended) if ended else 0,
        )
        return elapsed, total_steps

    def answer_finished(self, text: str) -> None:
        """An Answer node finished with ``text``."""
        self.answer_parts.append(text)

    @property
    def answer(self) -> str:
        """The Answer nodes' texts in the order they finished (Dify's ``outputs.answer``).

        The streamed ``message`` events follow Dify's streaming order instead, which can differ
        when a later Answer node's session opened first (see engine/stream.py).
        """
        return "".join(self.answer_parts)
