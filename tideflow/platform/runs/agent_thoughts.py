"""An Agent app's thoughts (Dify's ``agent_thought``) from the agent node's log.

The agent node logs one ``ROUND n`` entry per model step (its text) and, under it, one
``CALL name`` entry per tool call (input and observation); see
``tideflow.workflows.nodes.agent``. Dify shows an Agent app's steps as thoughts: one per
round, ``tool`` the ";"-joined names it called, ``tool_input`` and ``observation`` JSON
objects keyed by tool name. The SSE stream sends each thought when its round starts and
again as each call ends (the same ``id``, as Dify updates a thought); ``/v1/messages`` lists
them from the stored node execution.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast


@dataclass
class Thought:
    """One round of the agent: its text and the tool calls it made."""

    id: str
    position: int
    thought: str = ""
    tools: list[str] = field(default_factory=list[str])
    inputs: dict[str, Any] = field(default_factory=dict[str, Any])
    observations: dict[str, Any] = field(default_factory=dict[str, Any])
    created_at: int = 0

    def public(self, message_id: str) -> dict[str, Any]:
        """Dify's agent thought fields."""
        return {
            "id": self.id,
            "message_id": message_id,
            "position": self.position,
            "thought": self.thought,
            "tool": ";".join(self.tools),
            "tool_input": json.dumps(self.inputs, ensure_ascii=False) if self.tools else "",
            "observation": json.dumps(self.observations, ensure_ascii=False) if self.tools else "",
            "tool_labels": {name: {"en_US": name} for name in self.tools},
            "message_files": list[Any](),
            "files": list[Any](),
            "created_at": self.created_at,
        }


@dataclass
class ThoughtLog:
    """Thoughts built from agent log entries fed in order."""

    rounds: dict[str, Thought] = field(default_factory=dict[str, Thought])

    def add(self, entry: dict[str, Any], created_at: int = 0) -> Thought | None:
        """Take one log entry; the thought it starts or changes (None for other entries)."""
        data = cast(dict[str, Any], entry.get("data") or {})
        label = str(entry.get("label") or "")
        parent = entry.get("parent_id")
        if not parent and label.startswith("ROUND"):
            thought = Thought(
                id=str(entry.get("id") or ""),
                position=len(self.rounds) + 1,
                thought=str(data.get("output") or ""),
                created_at=created_at,
            )
            self.rounds[thought.id] = thought
            return thought
        thought = self.rounds.get(str(parent or ""))
        if thought is None or not label.startswith("CALL"):
            return None
        name = str(data.get("tool_name") or label.removeprefix("CALL ").strip())
        if name not in thought.tools:
            thought.tools.append(name)
        thought.inputs[name] = data.get("tool_input")
        thought.observations[name] = data.get("output")
        return thought


def thoughts_of(log: list[Any], message_id: str) -> list[dict[str, Any]]:
    """The thoughts of an agent node's ``json`` output (its log), in order."""
    built = ThoughtLog()
    for entry in log:
        if isinstance(entry, dict):
            built.add(cast(dict[str, Any], entry))
    return [t.public(message_id) for t in built.rounds.values()]
