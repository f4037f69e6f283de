"""Request bodies and Dify's shapes of conversations, messages, conversation variables,
feedbacks and uploaded files."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from tideflow.platform.db.models import (
    Conversation,
    Message,
    MessageFeedback,
    UploadFile,
)
from tideflow.platform.runs.agent_thoughts import thoughts_of
from tideflow.platform.runs.chat_sse import usage
from tideflow.platform.runs.views import unix


class ChatMessageBody(BaseModel):
    """``POST /v1/chat-messages``."""

    query: str = Field(max_length=100_000)
    inputs: dict[str, Any] = Field(default_factory=dict[str, Any])
    user: str = Field(min_length=1, max_length=255)
    response_mode: Literal["blocking", "streaming"] = "blocking"
    conversation_id: str | None = Field(default=None, max_length=64)
    files: list[dict[str, Any]] | None = None
    auto_generate_name: bool = True


class UserBody(BaseModel):
    """A body that only names the end user (stop, delete)."""

    user: str = Field(default="", max_length=255)


class RenameBody(BaseModel):
    """``POST /v1/conversations/{id}/name``."""

    name: str | None = Field(default=None, max_length=255)
    auto_generate: bool = False
    user: str = Field(default="", max_length=255)


class VariableUpdateBody(BaseModel):
    """``PUT /v1/conversations/{id}/variables/{variable_id}``."""

    value: Any = None
    user: str = Field(default="", max_length=255)


class FeedbackBody(BaseModel):
    """``POST /v1/messages/{message_id}/feedbacks`` (``rating: null`` revokes)."""

    rating: Literal["like", "dislike"] | None = None
    user: str = Field(min_length=1, max_length=255)
    content: str | None = Field(default=None, max_length=10_000)


class ChatBlockingResponse(BaseModel):
    """The blocking answer of ``POST /v1/chat-messages``."""

    event: str = "message"
    task_id: str
    id: str
    message_id: str
    conversation_id: str
    mode: str = "advanced-chat"
    answer: str
    metadata: dict[str, Any]
    created_at: int | None


def blocking_response(
    message: Message, run_usage: dict[str, Any], resources: list[Any] | None = None
) -> ChatBlockingResponse:
    """From the answered message, its run's model usage and the knowledge it cited."""
    return ChatBlockingResponse(
        task_id=message.workflow_run_id,
        id=message.id,
        message_id=message.id,
        conversation_id=message.conversation_id,
        answer=message.answer,
        metadata={
            "usage": usage(run_usage, message.latency_s),
            "retriever_resources": resources or [],
        },
        created_at=unix(message.created_at),
    )


def conversation_public(conversation: Conversation) -> dict[str, Any]:
    """One item of ``GET /v1/conversations``."""
    return {
        "id": conversation.id,
        "name": conversation.name,
        "inputs": conversation.inputs,
        "status": conversation.status,
        "introduction": "",
        "created_at": unix(conversation.created_at),
        "updated_at": unix(conversation.updated_at),
    }


def message_public(
    message: Message,
    feedback: MessageFeedback | None,
    resources: list[Any] | None = None,
    agent_log: list[Any] | None = None,
) -> dict[str, Any]:
    """One item of ``GET /v1/messages`` (with the knowledge chunks its run cited and, for an
    Agent app, its agent's thoughts)."""
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "parent_message_id": None,
        "inputs": message.inputs,
        "query": message.query,
        "answer": message.answer,
        "status": message.status,
        "error": message.error,
        "message_files": [],
        "feedback": {"rating": feedback.rating} if feedback else None,
        "retriever_resources": resources or [],
        "agent_thoughts": thoughts_of(agent_log or [], message.id),
        "created_at": unix(message.created_at),
        "extra_contents": [],
        "message_tokens": message.message_tokens,
        "answer_tokens": message.answer_tokens,
        "total_tokens": message.message_tokens + message.answer_tokens,
        "provider_response_latency": message.latency_s,
        "total_price": message.total_price,
        "currency": message.currency,
    }


def variable_public(
    definition: dict[str, Any], value: Any, conversation: Conversation
) -> dict[str, Any]:
    """A conversation variable; ``value`` as a JSON string unless it is a string."""
    return {
        "id": str(definition.get("id") or definition.get("name")),
        "name": str(definition.get("name")),
        "value_type": str(definition.get("value_type") or "string"),
        "value": value if isinstance(value, str) else json.dumps(value, ensure_ascii=False),
        "description": str(definition.get("description") or ""),
        "created_at": unix(conversation.created_at),
        "updated_at": unix(conversation.updated_at),
    }


def feedback_public(feedback: MessageFeedback) -> dict[str, Any]:
    """One item of ``GET /v1/app/feedbacks``."""
    return {
        "id": feedback.id,
        "app_id": feedback.app_id,
        "conversation_id": feedback.conversation_id,
        "message_id": feedback.message_id,
        "rating": feedback.rating,
        "content": feedback.content,
        "from_source": "api",
        "from_end_user_id": feedback.end_user_id,
        "from_account_id": None,
        "created_at": unix(feedback.created_at),
        "updated_at": unix(feedback.updated_at),
    }


def upload_public(upload: UploadFile, user_id: str) -> dict[str, Any]:
    """The 201 body of ``POST /v1/files/upload``."""
    return {
        "id": upload.id,
        "name": upload.name,
        "size": upload.size,
        "extension": upload.extension,
        "mime_type": upload.mime_type,
        "created_by": user_id,
        "created_at": unix(upload.created_at),
        "preview_url": None,
        "source_url": None,
        "original_url": None,
        "reference": None,
        "tenant_id": upload.tenant_id,
        "conversation_id": None,
        "user_id": None,
        "file_key": None,
    }
