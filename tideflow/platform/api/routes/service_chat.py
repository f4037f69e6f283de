"""Service API for chatflow apps: ``POST /v1/chat-messages`` (blocking and streaming), stop,
and the conversation's messages. Each turn is one ``GraphWorkflow`` run; its message and
conversation are updated when the run is projected."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse

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
from tideflow.platform.api.errors import ApiError, not_found
from tideflow.platform.api.routes.console_apps import refuse_mode
from tideflow.platform.api.routes.service_workflows import SSE_HEADERS
from tideflow.platform.db.crud import apps, envvars
from tideflow.platform.db.crud import conversations as conv_crud
from tideflow.platform.db.crud import feedback as feedback_crud
from tideflow.platform.db.crud import runs as run_crud
from tideflow.platform.db.models import App, Message, WorkflowRun
from tideflow.platform.drafts import check_inputs, runnable_plan, secret_values
from tideflow.platform.runs.chat_sse import ChatEventTranslator
from tideflow.platform.runs.launch import ChatTurn, new_run
from tideflow.platform.uploads import resolve_files, resolve_inputs
from tideflow.workflows.graph.plan import ExecutionPlan

router = APIRouter(prefix="/v1", tags=["service: chat"])


def _chat_app(app: CurrentApp) -> App:
    refuse_mode(app.mode, "advanced-chat")
    return app


ChatApp = Annotated[App, Depends(_chat_app)]
"""The key's app when it is a chatflow (else 400 ``not_chat_app``)."""


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
    name = body.query[:40] if body.auto_generate_name else ""
    conversation = conv_crud.open_turn(session, app, user, conversation, inputs, name)
    turn = ChatTurn(
        body.query, conversation.id, conversation.variables, conversation.dialogue_count
    )
    start = new_run(
        app, plan, version, inputs, user=body.user, end_user_id=user.id, files=files, chat=turn
    )
    message = Message(
        tenant_id=app.tenant_id,
        app_id=app.id,
        conversation_id=conversation.id,
        workflow_run_id=start.row.id,
        end_user_id=user.id,
        query=body.query,
        inputs=inputs,
        files=files,
    )
    message_id = message.id  # the row is committed (and expired) in another session
    start.companions.append(message)
    row, _created = await runs.start(start)
    secrets = secret_values(variables, settings.secret_key)
    if body.response_mode == "streaming":
        translator = ChatEventTranslator(
            row.id,
            version.id,
            plan,
            secrets,
            message_id=message_id,
            conversation_id=conversation.id,
        )
        stream = runs.stream(row, translator)
        return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
    ended = await runs.wait(row)
    return _blocking(await runs.db(conv_crud.message_of_run, row.id), ended)


def _blocking(message: Message | None, run: WorkflowRun) -> ChatBlockingResponse:
    if message is None:  # the row is written with the run: only a deleted app gets here
        raise not_found("message")
    if run.status == "failed":
        raise ApiError(400, "completion_request_error", run.error or "the run failed")
    return blocking_response(message, run.total_tokens)


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
    run = run_crud.get_run(session, app, task_id)
    if run is None:
        raise not_found("task")
    user = run_crud.end_user(session, app, body.user or run_crud.DEFAULT_USER)
    if run.end_user_id == user.id:
        await runs.stop(run)
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
    data = [message_public(m, feedbacks.get(m.id)) for m in messages]
    return {"limit": limit, "has_more": has_more, "data": data}
