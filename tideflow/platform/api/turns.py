"""A run that answers with a message (chat, agent-chat, completion and chatflow turns):
started with its ``Message`` row, and streamed as the app's mode streams."""

from __future__ import annotations

from typing import Any

from fastapi.responses import StreamingResponse
from sqlmodel import Session

from tideflow.platform.api.errors import not_found
from tideflow.platform.api.streaming import event_stream
from tideflow.platform.db.crud import runs as run_crud
from tideflow.platform.db.models import App, Message, WorkflowRun
from tideflow.platform.runs.chat_sse import turn_translator
from tideflow.platform.runs.service import RunService, RunStart
from tideflow.workflows.graph.plan import ExecutionPlan


async def start_turn(
    runs: RunService,
    start: RunStart,
    app: App,
    conversation_id: str,
    end_user_id: str,
    query: str,
    inputs: dict[str, Any],
    files: list[Any],
) -> tuple[WorkflowRun, str]:
    """Record the turn's message with its run and start it; the run row and message id."""
    message = Message(
        tenant_id=app.tenant_id,
        app_id=app.id,
        conversation_id=conversation_id,
        workflow_run_id=start.row.id,
        end_user_id=end_user_id,
        query=query,
        inputs=inputs,
        files=files,
    )
    message_id = message.id  # the row is committed (and expired) in another session
    start.companions.append(message)
    row, _created = await runs.start(start)
    return row, message_id


def stream_turn(
    runs: RunService,
    session: Session,
    row: WorkflowRun,
    app: App,
    version_id: str,
    plan: ExecutionPlan,
    secrets: tuple[str, ...],
    *,
    message_id: str,
    conversation_id: str,
) -> StreamingResponse:
    """The turn's SSE, in the events its app mode streams."""
    translator = turn_translator(
        app.mode,
        row.id,
        version_id,
        plan,
        secrets,
        message_id=message_id,
        conversation_id=conversation_id,
    )
    return event_stream(runs.stream(row, translator), session)


async def stop_task(session: Session, runs: RunService, app: App, task_id: str, user: str) -> None:
    """Stop the user's run ``task_id``; another user's task is ignored, as Dify ignores it
    (404 for an unknown task)."""
    run = run_crud.get_run(session, app, task_id)
    if run is None:
        raise not_found("task")
    end_user = run_crud.end_user(session, app, user or run_crud.DEFAULT_USER)
    if run.end_user_id == end_user.id:
        await runs.stop(run)
