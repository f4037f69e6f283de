"""A chatflow turn's SSE: the workflow events plus ``message`` chunks, closed by
``message_end`` → ``workflow_finished`` (or ``workflow_finished`` → ``error`` on failure)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tideflow.platform.db.models import WorkflowRun
from tideflow.platform.runs.agent_thoughts import ThoughtLog
from tideflow.platform.runs.sse import DifyEventTranslator, created_at, mask_secrets
from tideflow.workflows.engine.models import RunEvent
from tideflow.workflows.graph.plan import ExecutionPlan

_ANSWERED = ("succeeded", "partial-succeeded")


def usage(run_usage: dict[str, Any], latency_s: float) -> dict[str, Any]:
    """Dify's ``metadata.usage`` from a run's summed model usage (``WorkflowRun.usage``).
    Unit prices differ between a run's calls, so they are left at 0 as Dify leaves them when a
    message sums several calls."""
    return {
        "prompt_tokens": int(run_usage.get("prompt_tokens") or 0),
        "prompt_unit_price": "0",
        "prompt_price_unit": "0",
        "prompt_price": str(run_usage.get("prompt_price") or "0"),
        "completion_tokens": int(run_usage.get("completion_tokens") or 0),
        "completion_unit_price": "0",
        "completion_price_unit": "0",
        "completion_price": str(run_usage.get("completion_price") or "0"),
        "total_tokens": int(run_usage.get("total_tokens") or 0),
        "total_price": str(run_usage.get("total_price") or "0"),
        "currency": str(run_usage.get("currency") or "USD"),
        "latency": latency_s,
    }


@dataclass
class ChatEventTranslator(DifyEventTranslator):
    """Adds the chat fields (``message_id``, ``conversation_id``) to every event."""

    message_id: str = ""
    conversation_id: str = ""
    cites_knowledge: ClassVar[bool] = True

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

    def live_text(self, response_node_id: str, selector: list[str], text: str) -> dict[str, Any]:
        """Model text relayed while its node runs, as a ``message`` event."""
        data = {"answer": text, "from_variable_selector": selector}
        event = RunEvent(index=-1, event="message", node_id=response_node_id, data=data)
        return self.translate(event) or {}

    def reasoning(self, node_id: str, text: str) -> dict[str, Any]:
        """``reasoning_chunk`` with the chat fields."""
        return self._chat_fields(super().reasoning(node_id, text))

    def replace(self, answer: str) -> dict[str, Any] | None:
        """``message_replace``: the answer so far as it should read (a retried model call
        streamed other text than the one it returned)."""
        payload = {
            "event": "message_replace",
            "task_id": self.run_id,
            "message_id": self.message_id,
            "conversation_id": self.conversation_id,
            "answer": answer,
            "reason": "model_retry",
            "created_at": int(time.time()),
        }
        return mask_secrets(payload, self.secrets)

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
                    "usage": usage(run.usage, run.elapsed_s or 0.0),
                    "retriever_resources": self.retriever_resources,
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


# What a Chatbot, Agent or Text Generator streams: answer events only, no workflow events.
_MESSAGE_EVENTS = frozenset(
    {"message", "message_end", "message_replace", "message_file", "agent_message", "agent_thought"}
)


@dataclass
class MessageEventTranslator(ChatEventTranslator):
    """The SSE of the graph-less modes (Dify's ``message* -> message_end``, or ``error``).

    A Text Generator's events carry no ``conversation_id`` (``with_conversation`` False).
    """

    with_conversation: bool = True

    def translate(self, event: RunEvent) -> dict[str, Any] | None:
        """Only the answer events of the chat translation."""
        payload = super().translate(event)
        if payload is None or payload.get("event") not in _MESSAGE_EVENTS:
            return None
        return self._scoped(payload)

    def closing(self, finished: dict[str, Any], run: WorkflowRun) -> list[dict[str, Any]]:
        """``message_end`` (or ``error``) without ``workflow_finished``."""
        closing = super().closing(finished, run)
        return [self._scoped(p) for p in closing if p["event"] != "workflow_finished"]

    def _scoped(self, payload: dict[str, Any]) -> dict[str, Any]:
        payload = {k: v for k, v in payload.items() if k != "workflow_run_id"}
        if not self.with_conversation:
            payload.pop("conversation_id", None)
        return payload


@dataclass
class AgentEventTranslator(MessageEventTranslator):
    """An Agent app's SSE: ``agent_thought`` for each step of its agent node (sent when the
    round starts and again as each tool call ends), ``agent_message`` for the answer text,
    then ``message_end`` (Dify's ``agent_thought``/``agent_message* -> message_end``)."""

    thoughts: ThoughtLog = field(default_factory=ThoughtLog)

    def translate(self, event: RunEvent) -> dict[str, Any] | None:
        """Agent log entries as thoughts; answer chunks as ``agent_message``."""
        if event.event == "agent_log":
            thought = self.thoughts.add(event.data, created_at(event))
            if thought is None:
                return None
            payload = {
                "event": "agent_thought",
                "task_id": self.run_id,
                **thought.public(self.message_id),
                "conversation_id": self.conversation_id,
            }
            return self._scoped(mask_secrets(payload, self.secrets))
        payload = super().translate(event)
        if payload is not None and payload.get("event") == "message":
            payload = {**payload, "event": "agent_message"}
        return payload


def turn_translator(
    mode: str,
    run_id: str,
    version_id: str,
    plan: ExecutionPlan | None,
    secrets: tuple[str, ...],
    *,
    message_id: str,
    conversation_id: str,
) -> ChatEventTranslator:
    """The translator of a message-answering run: a Chatflow's turn streams its workflow
    events too; the graph-less modes stream only their answer."""
    if mode == "advanced-chat":
        return ChatEventTranslator(
            run_id,
            version_id,
            plan,
            secrets,
            message_id=message_id,
            conversation_id=conversation_id,
        )
    if mode == "agent-chat":
        return AgentEventTranslator(
            run_id,
            version_id,
            plan,
            secrets,
            message_id=message_id,
            conversation_id=conversation_id,
        )
    return MessageEventTranslator(
        run_id,
        version_id,
        plan,
        secrets,
        message_id=message_id,
        conversation_id=conversation_id,
        with_conversation=mode != "completion",
    )
