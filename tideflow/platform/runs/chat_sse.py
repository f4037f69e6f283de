"""A chatflow turn's SSE: the workflow events plus ``message`` chunks, closed by
``message_end`` → ``workflow_finished`` (or ``workflow_finished`` → ``error`` on failure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tideflow.platform.db.models import WorkflowRun
from tideflow.platform.runs.sse import DifyEventTranslator, created_at, mask_secrets
from tideflow.workflows.engine.models import RunEvent

_ANSWERED = ("succeeded", "partial-succeeded")


def usage(total_tokens: int, latency_s: float) -> dict[str, Any]:
    """Dify's ``metadata.usage`` (no prices: model calls are not priced here)."""
    return {
        "prompt_tokens": 0,
        "prompt_unit_price": "0",
        "prompt_price_unit": "0",
        "prompt_price": "0",
        "completion_tokens": 0,
        "completion_unit_price": "0",
        "completion_price_unit": "0",
        "completion_price": "0",
        "total_tokens": total_tokens,
        "total_price": "0",
        "currency": "USD",
        "latency": latency_s,
    }


@dataclass
class ChatEventTranslator(DifyEventTranslator):
    """Adds the chat fields (``message_id``, ``conversation_id``) to every event."""

    message_id: str = ""
    conversation_id: str = ""

    def translate(self, event: RunEvent) -> dict[str, Any] | None:
        """Workflow events as for a workflow app; answer text only as ``message`` events."""
        if event.event == "text_chunk":  # a chatflow's answer reaches the client as message
            return None
        if event.event == "message":
            payload = {
                "event": "message",
                "task_id": self.run_id,
                "id": self.message_id,
                "message_id": self.message_id,
                "conversation_id": self.conversation_id,
                "answer": str(event.data.get("answer", "")),
                "from_variable_selector": event.data.get("from_variable_selector")
                or [event.node_id, "answer"],
                "created_at": created_at(event),
            }
            return mask_secrets(payload, self.secrets)
        payload = super().translate(event)
        return self._chat_fields(payload) if payload is not None else None

    def _chat_fields(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "message_id": self.message_id, "conversation_id": self.conversation_id}

    def closing(self, finished: dict[str, Any], run: WorkflowRun) -> list[dict[str, Any]]:
        """``message_end`` then ``workflow_finished``; on failure ``workflow_finished`` then
        ``error`` (no ``message_end``); stopped: ``workflow_finished`` then ``message_end``."""
        finished = self._chat_fields(finished)
        if run.status in (*_ANSWERED, "stopped"):
            end: dict[str, Any] = {
                "event": "message_end",
                "task_id": self.run_id,
                "id": self.message_id,
                "message_id": self.message_id,
                "conversation_id": self.conversation_id,
                "metadata": {
                    "usage": usage(run.total_tokens, run.elapsed_s or 0.0),
                    "retriever_resources": list[Any](),
                },
                "files": list[Any](),
            }
            # A stopped turn ends like Dify's: the run's end, then the partial answer's end.
            return [end, finished] if run.status in _ANSWERED else [finished, end]
        error = {
            "event": "error",
            "message_id": self.message_id,
            "conversation_id": self.conversation_id,
            "status": 400,
            "code": "completion_request_error",
            "message": mask_secrets(run.error or run.status, self.secrets),
        }
        return [finished, error]
