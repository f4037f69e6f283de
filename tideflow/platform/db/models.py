"""App database tables (SQLModel). Temporal history stays the source of truth for runs;
these rows are what the API lists and the console shows.

Access tables (accounts, members, keys, end users, environment variables) are in
``access_models``; both modules register with ``SQLModel.metadata``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from tideflow.platform.db.access_models import (
    Account,
    ApiKey,
    AppEnvironmentVariable,
    EndUser,
    TenantMember,
)
from tideflow.platform.db.chat_models import Conversation, Message, MessageFeedback, UploadFile
from tideflow.platform.db.ids import new_id, utcnow
from tideflow.platform.db.knowledge_models import (
    ChildChunk,
    Dataset,
    DatasetDocument,
    DatasetMetadataField,
    DocumentSegment,
)
from tideflow.platform.db.model_models import DefaultModel, ProviderCredential, StreamChunk
from tideflow.platform.db.tool_models import AppMcpServer, ToolProviderRecord
from tideflow.platform.db.trigger_models import HumanInputForm, WebhookDelivery, WebhookTrigger

__all__ = [
    "Account",
    "ApiKey",
    "App",
    "AppEnvironmentVariable",
    "AppMcpServer",
    "AppVersion",
    "ChildChunk",
    "Conversation",
    "Dataset",
    "DatasetDocument",
    "DatasetMetadataField",
    "DefaultModel",
    "DocumentSegment",
    "EndUser",
    "HumanInputForm",
    "Message",
    "MessageFeedback",
    "NodeExecution",
    "ProviderCredential",
    "StreamChunk",
    "Tenant",
    "TenantMember",
    "ToolProviderRecord",
    "UploadFile",
    "WebhookDelivery",
    "WebhookTrigger",
    "WorkflowRun",
    "new_id",
    "utcnow",
]


class Tenant(SQLModel, table=True):
    """A workspace: every other row belongs to exactly one."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


class App(SQLModel, table=True):
    """A workflow or chatflow app with its editable draft graph."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    name: str = Field(max_length=255)
    mode: str = Field(max_length=32)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # The draft as Dify DSL YAML, environment variables left out (they live in their table).
    draft_dsl: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AppVersion(SQLModel, table=True):
    """A published, immutable version: the compiled plan that runs execute.

    Secret environment variables are in the plan by name only; their values are filled in
    from ``AppEnvironmentVariable`` when a run starts, so they never rest in clear here.
    """

    __table_args__ = (UniqueConstraint("app_id", "version"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    app_id: str = Field(foreign_key="app.id", index=True, max_length=36)
    version: int
    plan_hash: str = Field(max_length=64, index=True)
    plan: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # The DSL the plan was compiled from (restoring a version puts it back into the draft).
    dsl: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)


class WorkflowRun(SQLModel, table=True):
    """One run of an app version (or of the draft), projected from its Temporal workflow."""

    __table_args__ = (UniqueConstraint("app_id", "idempotency_key"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    app_id: str = Field(foreign_key="app.id", index=True, max_length=36)
    app_version_id: str | None = Field(default=None, foreign_key="appversion.id", max_length=36)
    # "1", "2"... for a published version, "draft" for a console test run.
    version: str = Field(default="draft", max_length=32)
    temporal_workflow_id: str = Field(max_length=255, unique=True)
    # app-run (service API), debugging (console draft run); later: webhook, schedule...
    triggered_from: str = Field(default="app-run", max_length=32)
    end_user_id: str | None = Field(default=None, foreign_key="enduser.id", max_length=36)
    created_by_account_id: str | None = Field(default=None, foreign_key="account.id", max_length=36)
    idempotency_key: str | None = Field(default=None, max_length=255)
    status: str = Field(default="running", max_length=32, index=True)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    outputs: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    error: str | None = Field(default=None, sa_column=Column(Text))
    elapsed_s: float | None = None
    total_tokens: int = 0
    # The run's model usage: Dify's LLMUsage token and price fields summed over its calls,
    # with the currency ({} when no model was called).
    usage: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    total_steps: int = 0
    exceptions_count: int = 0
    created_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = None


class NodeExecution(SQLModel, table=True):
    """One execution of one node in a run (Dify's workflow_node_executions)."""

    __table_args__ = (UniqueConstraint("run_id", "index"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    run_id: str = Field(foreign_key="workflowrun.id", index=True, max_length=36)
    # Order of completion within the run, from 1.
    index: int
    node_id: str = Field(max_length=255)
    node_type: str = Field(max_length=64)
    title: str = Field(default="", max_length=255)
    status: str = Field(max_length=32)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    outputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    process_data: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    error: str | None = Field(default=None, sa_column=Column(Text))
    elapsed_s: float = 0.0
    attempts: int = 1
    # Dify's execution_metadata: a model node's ``total_tokens``, ``total_price``, ``currency``.
    execution_metadata: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    # The iteration or loop node it ran inside, and the item index or round.
    container_id: str | None = Field(default=None, max_length=255)
    container_index: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
