"""The record and the workflow input of a new run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from tideflow.platform.db.models import App, AppVersion, Message, WorkflowRun
from tideflow.platform.runs.service import RunStart, run_id_for, workflow_id_of
from tideflow.workflows.engine.models import GraphRunInput
from tideflow.workflows.graph.plan import ExecutionPlan

# Node types that read the conversation's history through their ``memory`` block.
_MEMORY_NODE_TYPES = frozenset({"llm", "question-classifier", "parameter-extractor", "agent"})
# Dify reads up to 500 earlier messages when a memory has no window; a run gets at most 100,
# and at most this many bytes of them (the history rides in the run's input, which Temporal
# keeps in its history and limits to 2 MB; the model's context is cut to fit by the activity).
MAX_HISTORY_TURNS = 100
MAX_HISTORY_BYTES = 256 * 1024


@dataclass(frozen=True)
class ChatTurn:
    """What a chat-family run adds: the query and the conversation's state and history."""

    query: str
    conversation_id: str
    variables: dict[str, Any]
    dialogue_count: int
    # The earlier turns, oldest first, as {"query", "answer"} (see ``history_of``).
    history: list[dict[str, str]] = field(default_factory=list[dict[str, str]])


def history_turns(plan: ExecutionPlan) -> int:
    """How many earlier turns the plan's nodes can use: the largest memory window asked for
    (``window.size`` when the window is on, else Dify's default), at most 100; 0 without
    memory."""
    sizes = [0]
    for node in plan.nodes.values():
        memory = node.data.get("memory")
        if node.type not in _MEMORY_NODE_TYPES or not isinstance(memory, dict):
            continue
        window = cast(dict[str, Any], memory).get("window")
        window = cast(dict[str, Any], window) if isinstance(window, dict) else {}
        size = window.get("size")
        on = window.get("enabled") and isinstance(size, int) and size > 0
        sizes.append(min(cast(int, size), MAX_HISTORY_TURNS) if on else MAX_HISTORY_TURNS)
    return max(sizes)


def history_of(newest_first: Sequence[Message]) -> list[dict[str, str]]:
    """The answered turns of ``newest_first`` messages, oldest first (a turn still running or
    failed without an answer is not history), the newest within ``MAX_HISTORY_BYTES``."""
    kept: list[dict[str, str]] = []
    size = 0
    for message in newest_first:
        if message.status == "running" or not message.answer:
            continue
        size += len(message.query.encode()) + len(message.answer.encode())
        if size > MAX_HISTORY_BYTES:
            break
        kept.append({"query": message.query, "answer": message.answer})
    return kept[::-1]


def new_run(
    app: App,
    plan: ExecutionPlan,
    version: AppVersion | None,
    inputs: dict[str, Any],
    *,
    user: str,
    end_user_id: str | None = None,
    account_id: str | None = None,
    idempotency_key: str | None = None,
    triggered_from: str = "app-run",
    pins: dict[str, dict[str, Any]] | None = None,
    mock_external: bool = False,
    files: list[dict[str, Any]] | None = None,
    chat: ChatTurn | None = None,
) -> RunStart:
    """A run of ``plan`` (a published ``version``, or the draft when None)."""
    run_id = run_id_for(app.id, idempotency_key)
    row = WorkflowRun(
        id=run_id,
        tenant_id=app.tenant_id,
        app_id=app.id,
        app_version_id=version.id if version else None,
        version=str(version.version) if version else "draft",
        temporal_workflow_id=workflow_id_of(app.id, run_id),
        triggered_from=triggered_from,
        end_user_id=end_user_id,
        created_by_account_id=account_id,
        idempotency_key=idempotency_key,
        inputs=inputs,
    )
    run_input = GraphRunInput(
        plan=plan,
        inputs=inputs,
        files=files or [],
        user=user,
        app_id=app.id,
        tenant_id=app.tenant_id,
        workflow_id=version.id if version else "draft",
        pins=pins or {},
        mock_external=mock_external,
        run_id=run_id,
    )
    if chat is not None:
        run_input = run_input.model_copy(
            update={
                "query": chat.query,
                "conversation_id": chat.conversation_id,
                "conversation_variables": chat.variables or None,
                "dialogue_count": chat.dialogue_count,
                "history": chat.history,
            }
        )
    return RunStart(row=row, run_input=run_input)
