"""Service API for a chatflow's conversations: list, rename, delete, and their variables."""

from __future__ import annotations

from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query, Response
from sqlmodel import Session

from tideflow.platform.api.chat_schemas import (
    RenameBody,
    UserBody,
    VariableUpdateBody,
    conversation_public,
    variable_public,
)
from tideflow.platform.api.deps import SessionDep
from tideflow.platform.api.errors import invalid_param, not_found
from tideflow.platform.api.routes.service_chat import ChatApp
from tideflow.platform.conversation_vars import check_value, definitions
from tideflow.platform.db.crud import apps
from tideflow.platform.db.crud import conversations as conv_crud
from tideflow.platform.db.crud import runs as run_crud
from tideflow.platform.db.models import App, Conversation

router = APIRouter(prefix="/v1", tags=["service: conversations"])
_SORTS = "|".join(get_args(conv_crud.SortKey))
UserQuery = Annotated[str | None, Query(max_length=255)]


def _conversation(
    session: Session, app: App, user: str | None, conversation_id: str
) -> Conversation:
    end_user = run_crud.end_user(session, app, user or run_crud.DEFAULT_USER)
    found = conv_crud.get_conversation(session, app, end_user, conversation_id)
    if found is None:
        raise not_found("conversation")
    return found


@router.get("/conversations")
def list_conversations(
    app: ChatApp,
    session: SessionDep,
    user: UserQuery = None,
    last_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    sort_by: Annotated[str, Query(pattern=f"^({_SORTS})$")] = "-updated_at",
) -> dict[str, Any]:
    """The user's conversations (DEFAULT-USER's without ``user``), ``last_id`` pages on."""
    end_user = run_crud.end_user(session, app, user or run_crud.DEFAULT_USER)
    rows, has_more = conv_crud.list_conversations(
        session,
        app,
        end_user,
        last_id,
        limit,
        sort_by,  # type: ignore[arg-type]  # checked by the pattern
    )
    return {"limit": limit, "has_more": has_more, "data": [conversation_public(c) for c in rows]}


@router.post("/conversations/{conversation_id}/name")
def rename_conversation(
    conversation_id: str, body: RenameBody, app: ChatApp, session: SessionDep
) -> dict[str, Any]:
    """Rename (``auto_generate`` names it after its first query)."""
    conversation = _conversation(session, app, body.user or None, conversation_id)
    name = body.name
    if body.auto_generate or not name:
        if not body.auto_generate:
            raise invalid_param("name: give a name or auto_generate: true")
        messages, _ = conv_crud.list_messages(session, conversation, None, 100)
        name = (messages[-1].query if messages else "New conversation")[:40]
    return conversation_public(conv_crud.rename(session, conversation, name))


@router.delete("/conversations/{conversation_id}", status_code=204)
def delete_conversation(
    conversation_id: str, app: ChatApp, session: SessionDep, body: UserBody | None = None
) -> Response:
    """Delete (the conversation answers 404 from then on)."""
    conversation = _conversation(session, app, body.user if body else None, conversation_id)
    conv_crud.soft_delete(session, conversation)
    return Response(status_code=204)


def _variables(session: Session, app: App) -> list[dict[str, Any]]:
    return definitions(apps.latest_version(session, app))


@router.get("/conversations/{conversation_id}/variables")
def list_variables(
    conversation_id: str,
    app: ChatApp,
    session: SessionDep,
    user: UserQuery = None,
    last_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    variable_name: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    """The conversation's variables with their current values."""
    conversation = _conversation(session, app, user, conversation_id)
    items = [
        variable_public(
            d, conversation.variables.get(str(d.get("name")), d.get("value")), conversation
        )
        for d in _variables(session, app)
    ]
    if variable_name:
        items = [i for i in items if i["name"] == variable_name]
    if last_id:
        ids = [i["id"] for i in items]
        items = items[ids.index(last_id) + 1 :] if last_id in ids else []
    return {"limit": limit, "has_more": len(items) > limit, "data": items[:limit]}


@router.put("/conversations/{conversation_id}/variables/{variable_id}")
def update_variable(
    conversation_id: str,
    variable_id: str,
    body: VariableUpdateBody,
    app: ChatApp,
    session: SessionDep,
) -> dict[str, Any]:
    """Set a variable's value; 400 naming it when the value does not fit its type."""
    conversation = _conversation(session, app, body.user or None, conversation_id)
    definition = next(
        (d for d in _variables(session, app) if str(d.get("id") or d.get("name")) == variable_id),
        None,
    )
    if definition is None:
        raise not_found("conversation variable")
    check_value(definition, body.value)
    name = str(definition.get("name"))
    updated = conv_crud.set_variable(session, conversation, name, body.value)
    return variable_public(definition, updated.variables[name], updated)
