"""Service API about the app itself: ``/v1/parameters``, ``/v1/info``, ``/v1/meta``, and
reattaching to a run's event stream (``/v1/workflow/{run_id}/events``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from tideflow.platform.api.deps import (
    CurrentApp,
    RunServiceDep,
    SessionDep,
    SettingsDep,
    TemporalClientDep,
)
from tideflow.platform.api.errors import invalid_param, not_found
from tideflow.platform.api.streaming import event_stream
from tideflow.platform.db.crud import apps, envvars
from tideflow.platform.db.crud import conversations as conv_crud
from tideflow.platform.db.crud import runs as run_crud
from tideflow.platform.drafts import load_draft, parse_dsl, secret_values, start_variables
from tideflow.platform.runs.chat_sse import turn_translator
from tideflow.platform.runs.relay import Cursor
from tideflow.platform.runs.sse import DifyEventTranslator
from tideflow.workflows.graph.plan import ExecutionPlan

router = APIRouter(prefix="/v1", tags=["service: app"])
_OFF = {"enabled": False}
_FORM_KEYS = {"string": "text-input"}


def _form_item(variable: dict[str, Any]) -> dict[str, Any]:
    kind = str(variable.get("type", "text-input"))
    item = {
        "label": variable.get("label", variable.get("variable", "")),
        "variable": variable.get("variable", ""),
        "required": bool(variable.get("required", False)),
        "default": variable.get("default", ""),
    }
    for extra in ("max_length", "options", "allowed_file_types", "allowed_file_extensions"):
        if extra in variable:
            item[extra] = variable[extra]
    return {_FORM_KEYS.get(kind, kind): item}


@router.get("/parameters")
def parameters(app: CurrentApp, session: SessionDep) -> dict[str, Any]:
    """The input form and features of the published version (the draft before a publish)."""
    version = apps.latest_version(session, app)
    doc = parse_dsl(version.dsl) if version is not None and version.dsl else load_draft(app)
    features = doc.features
    variables: list[dict[str, Any]] = []
    root = next((n for n in doc.nodes if n.type == "start"), None)
    if version is not None:
        variables = start_variables(ExecutionPlan.model_validate(version.plan))
    elif root is not None:
        variables = list(root.data.get("variables") or [])

    def feature(name: str) -> dict[str, Any]:
        value = features.get(name)
        return dict(value) if isinstance(value, dict) else dict(_OFF)  # pyright: ignore[reportUnknownArgumentType]

    config = doc.app_model_config
    # A Chatbot, Agent or Text Generator answers its model_config's form as written.
    form = list(config.get("user_input_form") or []) if config is not None else None
    return {
        "opening_statement": features.get("opening_statement") or "",
        "suggested_questions": features.get("suggested_questions") or [],
        "suggested_questions_after_answer": feature("suggested_questions_after_answer"),
        "speech_to_text": feature("speech_to_text"),
        "text_to_speech": feature("text_to_speech"),
        "retriever_resource": feature("retriever_resource"),
        "annotation_reply": feature("annotation_reply"),
        "more_like_this": feature("more_like_this"),
        "sensitive_word_avoidance": feature("sensitive_word_avoidance"),
        "user_input_form": form if form is not None else [_form_item(v) for v in variables],
        "file_upload": feature("file_upload"),
        "system_parameters": {
            "file_size_limit": 15,
            "image_file_size_limit": 10,
            "audio_file_size_limit": 50,
            "video_file_size_limit": 100,
            "workflow_file_upload_limit": 10,
        },
    }


@router.get("/info")
def info(app: CurrentApp) -> dict[str, Any]:
    """Name, description, mode."""
    return {
        "name": app.name,
        "description": app.description,
        "tags": [],
        "mode": app.mode,
        "author_name": "",
    }


@router.get("/meta")
def meta(_app: CurrentApp) -> dict[str, Any]:
    """Tool icons (none yet)."""
    return {"tool_icons": {}}


@router.get("/workflow/{workflow_run_id}/events")
async def run_events(
    workflow_run_id: str,
    app: CurrentApp,
    session: SessionDep,
    settings: SettingsDep,
    runs: RunServiceDep,
    _client: TemporalClientDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    user: str | None = None,
    continue_on_pause: bool = False,
) -> StreamingResponse:
    """The run's SSE from the start, or after ``Last-Event-ID``: exactly what was missed.

    A run waiting on a human-input form closes the stream after ``workflow_paused`` unless
    ``continue_on_pause`` (then it follows the run to its end)."""
    del user  # accepted for Dify compatibility; the key already scopes the app
    run = run_crud.get_run(session, app, workflow_run_id)
    if run is None:
        raise not_found("workflow run")
    after = Cursor()
    if last_event_id:
        try:
            after = Cursor.parse(last_event_id)
        except ValueError:
            raise invalid_param(
                "Last-Event-ID: expected the id of an event of this stream"
            ) from None
    version = apps.get_version(session, app, run.app_version_id or "")
    plan = ExecutionPlan.model_validate(version.plan) if version is not None else None
    secrets = secret_values(envvars.list_env(session, app), settings.secret_key)
    version_id = run.app_version_id or "draft"
    message = conv_crud.message_of_run(session, run.id)
    translator = (
        DifyEventTranslator(run.id, version_id, plan, secrets)
        if message is None  # a chat turn's run streams as the turn did
        else turn_translator(
            app.mode,
            run.id,
            version_id,
            plan,
            secrets,
            message_id=message.id,
            conversation_id=message.conversation_id,
        )
    )
    return event_stream(
        runs.stream(run, translator, after, continue_on_pause=continue_on_pause), session
    )
