"""The record and the workflow input of a new run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tideflow.platform.db.models import App, AppVersion, WorkflowRun
from tideflow.platform.runs.service import RunStart, run_id_for, workflow_id_of
from tideflow.workflows.engine.models import GraphRunInput
from tideflow.workflows.graph.plan import ExecutionPlan


@dataclass(frozen=True)
class ChatTurn:
    """What a chatflow run adds: the query and the conversation's state."""

    query: str
    conversation_id: str
    variables: dict[str, Any]
    dialogue_count: int


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
            }
        )
    return RunStart(row=row, run_input=run_input)
