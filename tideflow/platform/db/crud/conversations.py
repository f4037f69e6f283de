"""Conversations and their messages: opened or continued by a chat turn, finished when the
turn's run is projected, listed with Dify's cursors (``first_id``, ``last_id``)."""

from __future__ import annotations

from typing import Any, Literal

from sqlmodel import Session, col, select

from tideflow.platform.db.models import App, Conversation, EndUser, Message, utcnow
from tideflow.workflows.engine.models import GraphRunResult

SortKey = Literal["created_at", "-created_at", "updated_at", "-updated_at"]
_MESSAGE_STATUS = {"succeeded": "normal", "partial-succeeded": "normal", "stopped": "stopped"}


def get_conversation(
    session: Session, app: App, user: EndUser | None, conversation_id: str
) -> Conversation | None:
    """The conversation when it is the app's, not deleted, and (given a user) that user's."""
    found = session.get(Conversation, conversation_id)
    if found is None or found.app_id != app.id or found.deleted_at is not None:
        return None
    if user is not None and found.end_user_id != user.id:
        return None
    return found


def open_turn(
    session: Session,
    app: App,
    user: EndUser,
    conversation: Conversation | None,
    inputs: dict[str, Any],
    name: str,
) -> Conversation:
    """Count one more dialogue in ``conversation`` (a new one when None) and save it."""
    if conversation is None:
        conversation = Conversation(
            tenant_id=app.tenant_id, app_id=app.id, end_user_id=user.id, inputs=inputs, name=name
        )
    conversation.dialogue_count += 1
    conversation.updated_at = utcnow()
    session.add(conversation)
    session.commit()
    session.refresh(conversation)
    return conversation


def message_of_run(session: Session, run_id: str) -> Message | None:
    """The message a chat turn's run answers (None for workflow runs)."""
    return session.exec(select(Message).where(Message.workflow_run_id == run_id)).first()


def finish_turn(
    session: Session, run_id: str, status: str, error: str | None, result: GraphRunResult | None
) -> None:
    """Write the run's end into its message and conversation (no commit: the caller's)."""
    message = message_of_run(session, run_id)
    if message is None:
        return
    message.status = _MESSAGE_STATUS.get(status, "error")
    message.error = error
    if result is not None:
        message.answer = result.answer
        message.latency_s = result.elapsed
        message.message_tokens = int(result.usage.get("prompt_tokens") or 0)
        message.answer_tokens = int(result.usage.get("completion_tokens") or 0)
        message.total_price = str(result.usage.get("total_price") or "0")
        message.currency = str(result.usage.get("currency") or "USD")
    session.add(message)
    conversation = session.get(Conversation, message.conversation_id)
    if conversation is not None and result is not None:
        # Assigner writes persist even when a later node fails, as Dify's do.
        conversation.variables = {**conversation.variables, **result.conversation_variables}
        conversation.updated_at = utcnow()
        session.add(conversation)


def list_messages(
    session: Session, conversation: Conversation, first_id: str | None, limit: int
) -> tuple[list[Message], bool]:
    """Newest first, older than ``first_id`` when given; and whether older ones remain."""
    query = select(Message).where(Message.conversation_id == conversation.id)
    if first_id:
        first = session.get(Message, first_id)
        if first is None or first.conversation_id != conversation.id:
            return [], False
        query = query.where(col(Message.created_at) < first.created_at)
    query = query.order_by(col(Message.created_at).desc()).limit(limit + 1)
    rows = list(session.exec(query))
    return rows[:limit], len(rows) > limit


def list_conversations(
    session: Session, app: App, user: EndUser | None, last_id: str | None, limit: int, sort: SortKey
) -> tuple[list[Conversation], bool]:
    """The user's conversations in ``sort`` order, after ``last_id``; and whether more remain."""
    field = col(Conversation.updated_at if "updated" in sort else Conversation.created_at)
    descending = sort.startswith("-")
    query = select(Conversation).where(
        Conversation.app_id == app.id, col(Conversation.deleted_at).is_(None)
    )
    if user is not None:
        query = query.where(Conversation.end_user_id == user.id)
    if last_id:
        last = get_conversation(session, app, user, last_id)
        if last is None:
            return [], False
        pivot = last.updated_at if "updated" in sort else last.created_at
        query = query.where(field < pivot if descending else field > pivot)
    query = query.order_by(field.desc() if descending else field.asc()).limit(limit + 1)
    rows = list(session.exec(query))
    return rows[:limit], len(rows) > limit


def rename(session: Session, conversation: Conversation, name: str) -> Conversation:
    """A new name."""
    conversation.name = name
    conversation.updated_at = utcnow()
    session.add(conversation)
    session.commit()
    session.refresh(conversation)
    return conversation


def soft_delete(session: Session, conversation: Conversation) -> None:
    """Hide the conversation from the API (its messages stay for the logs)."""
    conversation.deleted_at = utcnow()
    session.add(conversation)
    session.commit()


def set_variable(
    session: Session, conversation: Conversation, name: str, value: Any
) -> Conversation:
    """Give one conversation variable a new current value."""
    conversation.variables = {**conversation.variables, name: value}
    conversation.updated_at = utcnow()
    session.add(conversation)
    session.commit()
    session.refresh(conversation)
    return conversation


def get_message(session: Session, app: App, message_id: str) -> Message | None:
    """One of the app's messages."""
    found = session.get(Message, message_id)
    return found if found is not None and found.app_id == app.id else None
