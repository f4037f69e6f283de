"""Activities of the human-input node: open its form (a token, a row, the run paused) and
record how the wait ended. The clear token exists only in the result of ``open``."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from sqlmodel import Session
from temporalio import activity

from tideflow.platform.db.crud import forms
from tideflow.platform.db.session import get_engine
from tideflow.platform.settings import get_settings


class OpenFormRequest(BaseModel):
    """The form the node opens (its content rendered, its options resolved)."""

    run_id: str
    node_id: str
    node_title: str = ""
    node_run_id: str
    rendered_content: str = ""
    definition: dict[str, object] = Field(default_factory=dict[str, object])
    # Epoch seconds (workflow time) when the form's timer fires.
    expires_at: int
    conversation_id: str | None = None


class OpenFormResult(BaseModel):
    """The clear token (for the run's events) and the form's id (None outside the platform)."""

    form_token: str
    form_id: str | None = None


class CloseFormRequest(BaseModel):
    """How the node's wait ended: ``submitted`` or ``timeout``."""

    run_id: str
    node_run_id: str
    outcome: str


@activity.defn(name="open_human_input_form")
async def open_human_input_form(request: OpenFormRequest) -> OpenFormResult:
    """Write the form with a fresh token and mark the run paused.

    Idempotent per (run, node execution): a retry gives the same row a new token (the earlier
    one was never seen by anyone, its attempt having failed).
    """
    token = secrets.token_urlsafe(32)
    opened = forms.OpenedForm(
        run_id=request.run_id,
        workflow_id=activity.info().workflow_id or "",
        node_id=request.node_id,
        node_title=request.node_title,
        node_run_id=request.node_run_id,
        rendered_content=request.rendered_content,
        definition=dict(request.definition),
        expires_at=datetime.fromtimestamp(request.expires_at, UTC),
        conversation_id=request.conversation_id,
    )

    def write() -> str | None:
        with Session(get_engine(get_settings().db_url)) as session:
            return forms.open_form(session, opened, token)

    form_id = await asyncio.to_thread(write)
    return OpenFormResult(form_token=token, form_id=form_id)


@activity.defn(name="close_human_input_form")
async def close_human_input_form(request: CloseFormRequest) -> dict[str, str]:
    """Record the ending on the form; the run is running again."""

    def write() -> None:
        with Session(get_engine(get_settings().db_url)) as session:
            forms.close_form(session, request.run_id, request.node_run_id, request.outcome)

    await asyncio.to_thread(write)
    return {"outcome": request.outcome}
