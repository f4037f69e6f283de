"""Conversation memory of the LLM-type nodes: the chatflow's earlier turns
(``GraphRunInput.history``), windowed, as chat messages or as text."""

from __future__ import annotations

from typing import Any

from tideflow.activities.llm.models import LlmMessage
from tideflow.workflows.engine.context import NodeContext
from tideflow.workflows.nodes._common import as_dict

# Placeholders Dify replaces in prompts ({{#histories#}} in completion prompts, also bare).
HISTORIES_MARKERS = ("{{#histories#}}", "#histories#")


def memory_of(data: dict[str, Any]) -> dict[str, Any] | None:
    """The node's ``memory`` config, or None when it has none."""
    memory = data.get("memory")
    return as_dict(memory) if isinstance(memory, dict) else None


def history_turns(ctx: NodeContext, memory: dict[str, Any]) -> list[tuple[str, str]]:
    """The conversation's earlier turns (query, answer), the last ``window.size`` of them when
    the window is enabled."""
    turns = [
        (str(turn.get("query") or ""), str(turn.get("answer") or "")) for turn in ctx.state.history
    ]
    window = as_dict(memory.get("window"))
    size = window.get("size")
    if window.get("enabled") and isinstance(size, int) and size > 0:
        turns = turns[-size:]
    return turns


def history_messages(turns: list[tuple[str, str]]) -> list[LlmMessage]:
    """Turns as alternating user and assistant messages (empty sides left out)."""
    messages: list[LlmMessage] = []
    for query, answer in turns:
        if query:
            messages.append(LlmMessage(role="user", content=query, memory=True))
        if answer:
            messages.append(LlmMessage(role="assistant", content=answer, memory=True))
    return messages


def history_text(turns: list[tuple[str, str]], memory: dict[str, Any]) -> str:
    """Turns as text, each side prefixed with ``role_prefix`` (Human / Assistant by default)."""
    prefix = as_dict(memory.get("role_prefix"))
    user = str(prefix.get("user") or "Human")
    assistant = str(prefix.get("assistant") or "Assistant")
    lines: list[str] = []
    for query, answer in turns:
        lines.append(f"{user}: {query}")
        lines.append(f"{assistant}: {answer}")
    return "\n".join(lines)


def node_history_text(ctx: NodeContext) -> str:
    """The node's memory as text (classifier and extractor prompts); empty without memory."""
    memory = memory_of(ctx.data)
    return history_text(history_turns(ctx, memory), memory) if memory is not None else ""


def insert_histories(text: str, histories: str) -> str:
    """Replace the histories marker with ``histories``, or put them in front without one."""
    for marker in HISTORIES_MARKERS:
        if marker in text:
            return text.replace(marker, histories)
    return f"{histories}\n{text}" if histories else text
