"""Service API for uploads (``POST /v1/files/upload``) and message feedbacks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse

from tideflow.platform.api.chat_schemas import FeedbackBody, feedback_public, upload_public
from tideflow.platform.api.deps import CurrentApp, SessionDep, SettingsDep
from tideflow.platform.api.errors import ApiError, not_found
from tideflow.platform.api.schemas import MAX_PAGE, page_of
from tideflow.platform.db.crud import conversations as conv_crud
from tideflow.platform.db.crud import feedback as feedback_crud
from tideflow.platform.db.crud import runs as run_crud
from tideflow.platform.db.models import App
from tideflow.platform.uploads import store_upload
from tideflow.workflows.graph.plan import CHAT_MODES

router = APIRouter(prefix="/v1", tags=["service: files and feedback"])

# Apps whose runs answer with messages, which end users can rate.
MESSAGE_MODES = CHAT_MODES | {"completion"}


def _message_app(app: CurrentApp) -> App:
    if app.mode not in MESSAGE_MODES:
        message = (
            "feedbacks belong to apps that answer with messages (Chatflow, Chatbot, Agent, "
            f"Text Generator); the app is {app.mode}"
        )
        raise ApiError(400, "not_chat_app", message)
    return app


MessageApp = Annotated[App, Depends(_message_app)]


@router.post("/files/upload", status_code=201)
def upload_file(
    app: CurrentApp,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File()],
    user: Annotated[str, Form(max_length=255)] = "DEFAULT-USER",
) -> JSONResponse:
    """Store a file for later use as an input (``{transfer_method: local_file,
    upload_file_id}``); 413 over the size limit, 415 for a refused type."""
    # One byte past the limit is enough to refuse, without reading a huge body whole.
    content = file.file.read(settings.upload_max_bytes + 1)
    filename = (file.filename or "upload").rsplit("/", 1)[-1][:255] or "upload"
    end_user = run_crud.end_user(session, app, user or run_crud.DEFAULT_USER)
    upload = store_upload(session, settings, app, end_user, filename, file.content_type, content)
    return JSONResponse(upload_public(upload, end_user.id), status_code=201)


@router.post("/messages/{message_id}/feedbacks")
def rate_message(
    message_id: str, body: FeedbackBody, app: MessageApp, session: SessionDep
) -> dict[str, Any]:
    """Like or dislike a message of the user's conversation (``rating: null`` revokes)."""
    message = conv_crud.get_message(session, app, message_id)
    user = run_crud.end_user(session, app, body.user)
    if message is None or message.end_user_id != user.id:
        raise not_found("message")
    feedback_crud.rate_message(session, message, user, body.rating, body.content)
    return {"result": "success"}


@router.get("/app/feedbacks")
def app_feedbacks(
    app: MessageApp,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The app's feedbacks, newest first."""
    rows, total = feedback_crud.list_feedbacks(session, app, page, limit)
    return page_of([feedback_public(f) for f in rows], page, limit, total)
