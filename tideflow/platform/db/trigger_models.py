"""Human-input forms and webhook triggers.

``HumanInputForm``: one form a ``human-input`` node opened in a run. The run's workflow waits
on it (a Temporal update with a durable timer, holding no worker slot); the API finds the form
by its token (stored as a SHA-256 hash: the clear token is only in the run's events and the
form's link), checks a submission, claims the form (``waiting`` -> ``submitted``, once), and
delivers it to the workflow. The workflow records how it ended (``submitted``, ``timeout``,
``stopped``).

``WebhookTrigger``: the published ``trigger-webhook`` node of a workflow app, reachable at
``/triggers/webhook/{webhook_id}``; ``WebhookDelivery`` remembers delivery ids so that a
redelivery starts no second run.

Schedules (``trigger-schedule``) live in Temporal as Schedules (id ``app-schedule-<app id>``):
no table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from tideflow.platform.db.ids import new_id, utcnow


class HumanInputForm(SQLModel, table=True):
    """A form a human-input node opened (see the module doc)."""

    __table_args__ = (UniqueConstraint("run_id", "node_run_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    app_id: str = Field(foreign_key="app.id", index=True, max_length=36)
    run_id: str = Field(foreign_key="workflowrun.id", index=True, max_length=36)
    # The run's Temporal workflow id (the submission is an update to it).
    workflow_id: str = Field(max_length=255)
    node_id: str = Field(max_length=255)
    node_title: str = Field(default="", max_length=255)
    # The node execution that opened it (a node in a loop opens one per round).
    node_run_id: str = Field(max_length=64)
    # SHA-256 (hex) of the form token.
    token_hash: str = Field(max_length=64, unique=True)
    # waiting, submitted, timeout, stopped.
    status: str = Field(default="waiting", max_length=16, index=True)
    # The form content with ``{{#node.var#}}`` filled (``{{#$output.x#}}`` still open).
    rendered_content: str = Field(default="", sa_column=Column(Text, nullable=False))
    # ``{inputs, user_actions, resolved_default_values}`` as the node defines them.
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    expires_at: datetime
    # Chatflows: the conversation and the end user of the turn.
    conversation_id: str | None = Field(default=None, max_length=36)
    end_user_id: str | None = Field(default=None, max_length=36)
    action_id: str | None = Field(default=None, max_length=64)
    submitted_data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    submitted_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)


class WebhookTrigger(SQLModel, table=True):
    """The published ``trigger-webhook`` node of a workflow app."""

    __table_args__ = (UniqueConstraint("app_id", "node_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    app_id: str = Field(foreign_key="app.id", index=True, max_length=36)
    node_id: str = Field(max_length=255)
    # The unguessable id in the URL.
    webhook_id: str = Field(max_length=64, unique=True)
    # Fernet-encrypted (TIDEFLOW_SECRET_KEY) HMAC-SHA256 signing secret; None: unsigned.
    encrypted_secret: str | None = Field(default=None, sa_column=Column(Text))
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class WebhookDelivery(SQLModel, table=True):
    """A delivery id a webhook has already accepted, and the run it started."""

    __table_args__ = (UniqueConstraint("webhook_id", "delivery_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    webhook_id: str = Field(max_length=64, index=True)
    delivery_id: str = Field(max_length=255)
    run_id: str = Field(max_length=36)
    created_at: datetime = Field(default_factory=utcnow, index=True)
