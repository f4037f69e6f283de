"""Service API for Text Generator (``completion``) apps: ``POST /v1/completion-messages``
(blocking and streaming) and stop. Each call is one ``GraphWorkflow`` run of the graph the app's
``model_config`` compiles to, kept as a message (in a conversation of its own, as Dify keeps it).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tideflow.platform.api.chat_schemas import UserBody
from tideflow.platform.api.deps import (
    CurrentApp,
    RunServiceDep,
    SessionDep,
    SettingsDep,
    TemporalClientDep,
)
from tideflow.platform.api.errors import ApiError, not_found
from tideflow.platform.api.turns import start_turn, stop_task, stream_turn
from tideflow.platform.db.crud import apps, envvars
from tideflow.platform.db.crud import conversations as conv_crud
from tideflow.platform.db.crud import runs as run_crud
from tideflow.platform.db.models import App, Message, WorkflowRun
from tideflow.platform.drafts import check_inputs, runnable_plan, secret_values, start_variables
from tideflow.platform.runs.chat_sse import usage
from tideflow.platform.runs.launch import new_run
from tideflow.platform.runs.views import unix
from tideflow.platform.uploads import resolve_files, resolve_inputs
from tideflow.workflows.graph.plan import ExecutionPlan

router = APIRouter(prefix="/v1", tags=["service: completion"])


class CompletionMessageBody(BaseModel):
    """``POST /v1/completion-messages``."""

    inputs: dict[str, Any]
    # Legacy: Dify's older clients send the text here; it fills the ``query`` input.
    query: str = Field(default="", max_length=100_000)
    user: str = Field(min_length=1, max_length=255)
    response_mode: Literal["blocking", "streaming"] = "blocking"
    files: list[dict[str, Any]] | None = None


class CompletionBlockingResponse(BaseModel):
    """The blocking answer of ``POST /v1/completion-messages``."""

    event: str = "message"
    task_id: str
    id: str
    message_id: str
    mode: str = "completion"
    answer: str
    metadata: dict[str, Any]
    created_at: int | None


def _completion_app(app: CurrentApp) -> App:
    if app.mode != "completion":
        message = (
            f"App unavailable: this endpoint serves Text Generator apps; the app is {app.mode}"
        )
        raise ApiError(400, "app_unavailable", message)
    return app


CompletionApp = Annotated[App, Depends(_completion_app)]
"""The key's app when it is a Text Generator (else 400 ``app_unavailable``, as Dify answers)."""


def _inputs(body: CompletionMessageBody, plan: ExecutionPlan) -> dict[str, Any]:
    """The body's inputs; the legacy ``query`` fills a ``query`` input the inputs leave out."""
    inputs = dict(body.inputs)
    names = {str(v.get("variable")) for v in start_variables(plan)}
    if body.query and "query" in names and not inputs.get("query"):
        inputs["query"] = body.query
    return inputs


@router.post("/completion-messages", response_model=CompletionBlockingResponse)
async def completion_message(
    body: CompletionMessageBody,
    app: CompletionApp,
    session: SessionDep,
    settings: SettingsDep,
    runs: RunServiceDep,
    _client: TemporalClientDep,
) -> Response | CompletionBlockingResponse:
    """Generate one text from the inputs."""
    version = apps.latest_version(session, app)
    if version is None:
        raise ApiError(400, "app_unavailable", "the app has no published version; publish it")
    user = run_crud.end_user(session, app, body.user)
    variables = envvars.list_env(session, app)
    plan = runnable_plan(ExecutionPlan.model_validate(version.plan), variables, settings.secret_key)
    inputs = _inputs(body, plan)
    check_inputs(plan, inputs)
    inputs = resolve_inputs(session, app, plan, inputs)
    files = resolve_files(session, app, body.files or [], "files")
    conversation = conv_crud.open_turn(session, app, user, None, inputs, "")
    start = new_run(app, plan, version, inputs, user=body.user, end_user_id=user.id, files=files)
    row, message_id = await start_turn(
        runs, start, app, conversation.id, user.id, body.query, inputs, files
    )
    if body.response_mode == "streaming":
        secrets = secret_values(variables, settings.secret_key)
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
    return _blocking(await runs.db(conv_crud.message_of_run, row.id), ended)


def _blocking(message: Message | None, run: WorkflowRun) -> CompletionBlockingResponse:
    if message is None:  # the row is written with the run: only a deleted app gets here
        raise not_found("message")
    if run.status == "failed":
        raise ApiError(400, "completion_request_error", run.error or "the run failed")
    return CompletionBlockingResponse(
        task_id=message.workflow_run_id,
        id=message.id,
        message_id=message.id,
        answer=message.answer,
        metadata={"usage": usage(run.usage, message.latency_s)},
        created_at=unix(message.created_at),
    )


@router.post("/completion-messages/{task_id}/stop")
async def stop_completion(
    task_id: str,
    body: UserBody,
    app: CompletionApp,
    session: SessionDep,
    runs: RunServiceDep,
    _client: TemporalClientDep,
) -> dict[str, Any]:
    """Stop a generation's run; another user's task is ignored, as Dify ignores it."""
    await stop_task(session, runs, app, task_id, body.user)
    return {"result": "success"}
