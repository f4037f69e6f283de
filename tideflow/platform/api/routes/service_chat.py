"""Service API for chatflow apps: ``POST /v1/chat-messages`` (blocking and streaming), stop,
and the conversation's messages. Each turn is one ``GraphWorkflow`` run; its message and
conversation are updated when the run is projected."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlmodel import Session

from tideflow.platform.api.chat_schemas import (
    ChatBlockingResponse,
    ChatMessageBody,
    UserBody,
    blocking_response,
    message_public,
)
from tideflow.platform.api.deps import (
    CurrentApp,
    RunServiceDep,
    SessionDep,
    SettingsDep,
    TemporalClientDep,
)
from tideflow.platform.api.errors import ApiError, invalid_param, not_found
from tideflow.platform.api.turns import start_turn, stop_task, stream_turn
from tideflow.platform.db.crud import apps, envvars
from tideflow.platform.db.crud import conversations as conv_crud
from tideflow.platform.db.crud import feedback as feedback_crud
from tideflow.platform.db.crud import runs as run_crud
from tideflow.platform.db.models import App, Conversation, Message, WorkflowRun
from tideflow.platform.drafts import check_inputs, runnable_plan, secret_values
from tideflow.platform.runs.launch import ChatTurn, history_of, history_turns, new_run
from tideflow.platform.uploads import resolve_files, resolve_inputs
from tideflow.workflows.graph.plan import CHAT_MODES, ExecutionPlan

router = APIRouter(prefix="/v1", tags=["service: chat"])


def _chat_app(app: CurrentApp) -> App:
    if app.mode not in CHAT_MODES:
        message = (
            f"this endpoint serves chat apps (Chatflow, Chatbot, Agent); the app is {app.mode}"
        )
        raise ApiError(400, "not_chat_app", message)
    return app


ChatApp = Annotated[App, Depends(_chat_app)]
"""The key's app when it is a chat app: chatflow, chatbot or agent (else 400 ``not_chat_app``)."""


@router.post("/chat-messages", response_model=ChatBlockingResponse)
async def chat_message(
    body: ChatMessageBody,
    app: ChatApp,
    session: SessionDep,
    settings: SettingsDep,
    runs: RunServiceDep,
    _client: TemporalClientDep,
) -> Response | ChatBlockingResponse:
    """One turn: a new conversation when ``conversation_id`` is empty, else continue it."""
    if app.mode == "agent-chat" and body.response_mode != "streaming":
        raise invalid_param("response_mode: Agent Chat App does not support blocking mode")
    version = apps.latest_version(session, app)
    if version is None:
        raise ApiError(400, "app_unavailable", "the app has no published version; publish it")
    user = run_crud.end_user(session, app, body.user)
    conversation = None
    if body.conversation_id:
        conversation = conv_crud.get_conversation(session, app, user, body.conversation_id)
        if conversation is None:
            raise not_found("conversation")
    variables = envvars.list_env(session, app)
    plan = runnable_plan(ExecutionPlan.model_validate(version.plan), variables, settings.secret_key)
    # A continued conversation keeps the inputs of its first turn, as Dify's do.
    inputs = conversation.inputs if conversation is not None else body.inputs
    if conversation is None:
        check_inputs(plan, inputs)
        inputs = resolve_inputs(session, app, plan, inputs)
    files = resolve_files(session, app, body.files or [], "files")
    history = _history(session, conversation, plan)
    name = body.query[:40] if body.auto_generate_name else ""
    conversation = conv_crud.open_turn(session, app, user, conversation, inputs, name)
    turn = ChatTurn(
        body.query,
        conversation.id,
        conversation.variables,
        conversation.dialogue_count,
        history,
    )
    start = new_run(
        app, plan, version, inputs, user=body.user, end_user_id=user.id, files=files, chat=turn
    )
    row, message_id = await start_turn(
        runs, start, app, conversation.id, user.id, body.query, inputs, files
    )
    secrets = secret_values(variables, settings.secret_key)
    if body.response_mode == "streaming":
        return stream_turn(
            runs,
            session,
            row,
            app,
            version.id,
            plan,
            secrets,
            message_id=message_id,
            conversation_id=conversation.id,
        )
    ended = await runs.wait(row)
    resources = await runs.db(run_crud.retriever_resources, [row.id])
    answered = _blocking(await runs.db(conv_crud.message_of_run, row.id), ended, resources[row.id])
    return answered.model_copy(update={"mode": app.mode})


def _history(
    session: Session, conversation: Conversation | None, plan: ExecutionPlan
) -> list[dict[str, str]]:
    """The conversation's earlier turns, as many as the plan's memories can use."""
    turns = history_turns(plan)
    if conversation is None or turns == 0:
        return []
    return history_of(conv_crud.list_messages(session, conversation, None, turns)[0])


def _blocking(
    message: Message | None, run: WorkflowRun, resources: list[Any]
) -> ChatBlockingResponse:
    if message is None:  # the row is written with the run: only a deleted app gets here
        raise not_found("message")
    if run.status == "failed":
        raise ApiError(400, "completion_request_error", run.error or "the run failed")
    return blocking_response(message, run.usage, resources)


@router.post("/chat-messages/{task_id}/stop")
async def stop_chat(
    task_id: str,
    body: UserBody,
    app: ChatApp,
    session: SessionDep,
    runs: RunServiceDep,
    _client: TemporalClientDep,
) -> dict[str, Any]:
    """Stop a turn's run; another user's task is ignored, as Dify ignores it."""
    await stop_task(session, runs, app, task_id, body.user)
    return {"result": "success"}


@router.get("/messages")
def list_messages(
    app: ChatApp,
    session: SessionDep,
    conversation_id: Annotated[str, Query(max_length=64)],
    user: Annotated[str | None, Query(max_length=255)] = None,
    first_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The conversation's messages, newest first; ``first_id`` pages to older ones."""
    end_user = run_crud.end_user(session, app, user or run_crud.DEFAULT_USER)
    conversation = conv_crud.get_conversation(session, app, end_user, conversation_id)
    if conversation is None:
        raise not_found("conversation")
    messages, has_more = conv_crud.list_messages(session, conversation, first_id, limit)
    feedbacks = feedback_crud.feedbacks_of(session, [m.id for m in messages])
    run_ids = [m.workflow_run_id for m in messages]
    cited = run_crud.retriever_resources(session, run_ids)
    logs = run_crud.agent_logs(session, run_ids) if app.mode == "agent-chat" else {}
    data = [
        message_public(
            m, feedbacks.get(m.id), cited.get(m.workflow_run_id), logs.get(m.workflow_run_id)
        )
        for m in messages
    ]
    return {"limit": limit, "has_more": has_more, "data": data}
