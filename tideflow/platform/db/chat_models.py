"""What chatflow apps keep per conversation (Dify's conversations, messages, feedbacks) and the
files end users upload.

A chat turn is one ``WorkflowRun``; its ``Message`` row links the turn to its conversation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from tideflow.platform.db.ids import new_id, utcnow


class Conversation(SQLModel, table=True):
    """A chat between one end user and one chatflow app; carries the conversation variables."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    app_id: str = Field(foreign_key="app.id", index=True, max_length=36)
    end_user_id: str = Field(foreign_key="enduser.id", index=True, max_length=36)
    name: str = Field(default="", max_length=255)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # {name: value}: the variables' current values (the plan's initial values until set).
    variables: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    dialogue_count: int = 0
    status: str = Field(default="normal", max_length=32)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow, index=True)
    # Soft delete: a deleted conversation answers 404 but its messages stay for the logs.
    deleted_at: datetime | None = None


class Message(SQLModel, table=True):
    """One turn: the user's query and the answer of the run it started."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    app_id: str = Field(foreign_key="app.id", index=True, max_length=36)
    conversation_id: str = Field(foreign_key="conversation.id", index=True, max_length=36)
    workflow_run_id: str = Field(foreign_key="workflowrun.id", unique=True, max_length=36)
    end_user_id: str | None = Field(default=None, foreign_key="enduser.id", max_length=36)
    query: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    answer: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    files: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # running, normal (answered), error, stopped.
    status: str = Field(default="running", max_length=32)
    error: str | None = Field(default=None, sa_column=Column(Text))
    message_tokens: int = 0
    answer_tokens: int = 0
    # The turn's model cost (a decimal string, as Dify's) and its currency.
    total_price: str = Field(default="0", max_length=32)
    currency: str = Field(default="USD", max_length=8)
    latency_s: float = 0.0
    created_at: datetime = Field(default_factory=utcnow, index=True)


class MessageFeedback(SQLModel, table=True):
    """An end user's like or dislike of a message (one per message and user)."""

    __table_args__ = (UniqueConstraint("message_id", "end_user_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    app_id: str = Field(foreign_key="app.id", index=True, max_length=36)
    conversation_id: str = Field(foreign_key="conversation.id", max_length=36)
    message_id: str = Field(foreign_key="message.id", index=True, max_length=36)
    end_user_id: str = Field(foreign_key="enduser.id", max_length=36)
    rating: str = Field(max_length=16)
    content: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class UploadFile(SQLModel, table=True):
    """A file an end user uploaded; its bytes are in the file store under ``store_id``."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    app_id: str = Field(foreign_key="app.id", index=True, max_length=36)
    end_user_id: str = Field(foreign_key="enduser.id", max_length=36)
    name: str = Field(max_length=255)
    size: int
    extension: str = Field(max_length=32)
    mime_type: str = Field(max_length=255)
    store_id: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
