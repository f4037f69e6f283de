"""Message feedbacks (like, dislike) and uploaded files, within one app."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from tideflow.platform.db.models import (
    App,
    EndUser,
    Message,
    MessageFeedback,
    UploadFile,
    utcnow,
)


def rate_message(
    session: Session, message: Message, user: EndUser, rating: str | None, content: str | None
) -> None:
    """Set the user's rating of ``message``; None revokes it."""
    query = select(MessageFeedback).where(
        MessageFeedback.message_id == message.id, MessageFeedback.end_user_id == user.id
    )
    found = session.exec(query).first()
    if rating is None:
        if found is not None:
            session.delete(found)
            session.commit()
        return
    if found is None:
        found = MessageFeedback(
            app_id=message.app_id,
            conversation_id=message.conversation_id,
            message_id=message.id,
            end_user_id=user.id,
            rating=rating,
        )
    found.rating, found.content, found.updated_at = rating, content, utcnow()
    session.add(found)
    session.commit()


def feedbacks_of(session: Session, message_ids: list[str]) -> dict[str, MessageFeedback]:
    """The (newest) feedback of each message that has one."""
    if not message_ids:
        return {}
    query = (
        select(MessageFeedback)
        .where(col(MessageFeedback.message_id).in_(message_ids))
        .order_by(col(MessageFeedback.updated_at))
    )
    return {f.message_id: f for f in session.exec(query)}


def list_feedbacks(
    session: Session, app: App, page: int, limit: int
) -> tuple[list[MessageFeedback], int]:
    """One page of the app's feedbacks, newest first, and the total."""
    where = MessageFeedback.app_id == app.id
    total = session.exec(select(func.count()).select_from(MessageFeedback).where(where)).one()
    query = (
        select(MessageFeedback)
        .where(where)
        .order_by(col(MessageFeedback.created_at).desc())
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return list(session.exec(query)), int(total)


def add_upload(session: Session, upload: UploadFile) -> UploadFile:
    """Record a stored upload."""
    session.add(upload)
    session.commit()
    session.refresh(upload)
    return upload


def get_upload(session: Session, app: App, upload_id: str) -> UploadFile | None:
    """One of the app's uploads."""
    found = session.get(UploadFile, upload_id)
    return found if found is not None and found.app_id == app.id else None
