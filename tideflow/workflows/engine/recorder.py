"""Records a run's events, node runs and streamed answer in order."""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.models import NodeRun, RunEvent


class RunRecorder:
    """Append-only log of a run; ``events_since`` feeds the SSE stream."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []
        self.node_runs: list[NodeRun] = []
        self.answer_parts: list[str] = []
        self.exceptions_count = 0

    def emit(self, event: str, node_id: str | None = None, **data: Any) -> None:
        """Append one event."""
        self.events.append(
            RunEvent(index=len(self.events), event=event, node_id=node_id, data=data)
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

    def stream_answer(self, node_id: str, text: str) -> None:
        """An Answer node's text reaches the client (chatflow ``message``)."""
        if text:
            self.answer_parts.append(text)
            self.emit("message", node_id, answer=text)

    @property
    def answer(self) -> str:
        """Everything streamed so far."""
        return "".join(self.answer_parts)
