"""The compiled execution plan: what one run of an app executes.

A plan is immutable, JSON-serialisable and content-hashed. A run takes the plan as its input,
so editing or republishing an app never changes a run in flight, and replay always sees the
same graph. The interpreter (``tideflow.workflows.interpreter``) walks a plan; the graph
package (``tideflow.workflows.graph``) produces one from Dify DSL.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Dify's app modes: a Workflow, a Chatflow, and the graph-less Chatbot, Agent and Text Generator
# (their model_config compiles to a small graph). Every mode but ``workflow`` answers with
# messages (Answer text streams as ``message``); the chat family also has ``sys.query``.
AppMode = Literal["workflow", "advanced-chat", "chat", "agent-chat", "completion"]
CHAT_MODES = frozenset({"advanced-chat", "chat", "agent-chat"})


class PlanNode(BaseModel):
    """One node: its Dify type string and its normalised Dify ``data`` block."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    title: str = ""
    data: dict[str, Any] = Field(default_factory=dict[str, Any])
    # Id of the iteration or loop node this node sits inside, or None at the top level.
    parent_id: str | None = None


class PlanEdge(BaseModel):
    """A directed edge; ``source_handle`` picks the branch (``source`` is the default)."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    target: str
    source_handle: str = "source"


class EnvironmentVariable(BaseModel):
    """A read-only ``env.<name>`` variable of the app."""

    model_config = ConfigDict(frozen=True)

    name: str
    value_type: str = "string"  # string | number | secret
    value: Any = None


class ConversationVariable(BaseModel):
    """A chatflow ``conversation.<name>`` variable with its initial value."""

    model_config = ConfigDict(frozen=True)

    name: str
    value_type: str = "string"
    value: Any = None


class ExecutionPlan(BaseModel):
    """The whole graph of one app version, ready to run."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    mode: AppMode
    name: str = ""
    # Id of the root node (start or trigger) where a run begins.
    root_id: str
    nodes: dict[str, PlanNode]
    edges: tuple[PlanEdge, ...]
    environment_variables: tuple[EnvironmentVariable, ...] = ()
    conversation_variables: tuple[ConversationVariable, ...] = ()

    def content_hash(self) -> str:
        """sha256 over the canonical JSON of the plan: equal meaning, equal hash."""
        canonical = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode()).hexdigest()
