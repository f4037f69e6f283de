"""Conversation memory cut to what the model can take, as Dify's TokenBufferMemory does.

A node's memory messages (``LlmMessage.memory``) are the conversation's earlier turns. Before
the call, the oldest of them are dropped (a user message with the answer that follows it) until
the prompt and the reply's ``max_tokens`` fit the model's input window (litellm's
``max_input_tokens``). For a model litellm does not know, the memory keeps at most
``UNKNOWN_MODEL_MEMORY_TOKENS`` (Dify's default limit when the context size is unknown).
"""

from __future__ import annotations

import logging
from typing import Any

import litellm

from tideflow.activities.llm.client import count_tokens

log = logging.getLogger(__name__)

UNKNOWN_MODEL_MEMORY_TOKENS = 2000


def _context_size(model: str) -> int | None:
    try:
        size = litellm.get_model_info(model).get("max_input_tokens")
    except Exception:  # a model litellm has no entry for
        return None
    return size if isinstance(size, int) and size > 0 else None


def _tokens(model: str, messages: list[dict[str, Any]]) -> int:
    return count_tokens(model, messages=messages)


def _oldest_turn(memory: list[int], messages: list[dict[str, Any]]) -> list[int]:
    """The indexes of the oldest remembered turn: its first message and, when that is the
    user's, the assistant's answer right after it."""
    first = memory[0]
    if (
        messages[first].get("role") == "user"
        and len(memory) > 1
        and memory[1] == first + 1
        and messages[first + 1].get("role") == "assistant"
    ):
        return [first, first + 1]
    return [first]


def fit_memory(
    model: str, messages: list[dict[str, Any]], memory: list[int], params: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[int]]:
    """``messages`` without the oldest memory turns that do not fit (``memory``: the indexes
    of the memory messages, in order), and the indexes left out."""
    if not memory:
        return messages, []
    context = _context_size(model)
    if context is None:
        budget = UNKNOWN_MODEL_MEMORY_TOKENS
    else:
        reserve = params.get("max_tokens")
        budget = context - (reserve if isinstance(reserve, int) and reserve > 0 else 0)

    def counted(kept: list[int]) -> int:
        if context is None:  # only the memory counts against the fixed limit
            return _tokens(model, [messages[i] for i in kept]) if kept else 0
        gone = set(memory) - set(kept)
        return _tokens(model, [m for i, m in enumerate(messages) if i not in gone])

    kept = list(memory)
    used = counted(kept)
    while kept and used > budget:
        # Subtract each dropped turn's own count, then count once exactly (per-message
        # overheads make the sum approximate) and go on if it is still over.
        while kept and used > budget:
            turn = _oldest_turn(kept, messages)
            used -= _tokens(model, [messages[i] for i in turn])
            kept = kept[len(turn) :]
        used = counted(kept)
    if len(kept) == len(memory):
        return messages, []
    gone = set(memory) - set(kept)
    log.info("model %s: %d earlier messages left out to fit %d tokens", model, len(gone), budget)
    return [m for i, m in enumerate(messages) if i not in gone], sorted(gone)
