"""A tenant's own tool providers, and its apps published as MCP servers.

``ToolProviderRecord``: one provider of Dify's kinds that a workspace adds itself (the
built-in and plugin providers come from entry points, ``tideflow.plugins.tools``):

- ``api``: a custom tool provider imported from an OpenAPI or Swagger schema (``schema_text``),
  one tool per operation; the auth settings are its credentials.
- ``mcp``: a remote (streamable HTTP or SSE) or local (stdio) MCP server (``config``); its
  custom headers are its credentials. ``tools`` holds the tools the server listed when it
  was added or last refreshed.
- ``workflow``: a published workflow app offered as a tool (``config.app_id``), run as a
  child workflow.

A tool node names its provider by ``provider_id`` (this row's id, or for an imported DSL the
provider's name; for MCP also its ``server_identifier``). Credentials are one
Fernet-encrypted JSON object, as model credentials are.

``AppMcpServer``: an app exposed as one MCP tool at ``/mcp/server/{server_code}/mcp``; the
code is the secret (regenerating it invalidates the old URL), as in Dify.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from tideflow.platform.db.ids import new_id, utcnow

TOOL_PROVIDER_KINDS = ("api", "mcp", "workflow")


class ToolProviderRecord(SQLModel, table=True):
    """A workspace's api, mcp or workflow tool provider (see the module doc)."""

    __tablename__ = "tool_provider"  # pyright: ignore[reportAssignmentType]
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "name"),
        UniqueConstraint("tenant_id", "server_identifier"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    kind: str = Field(max_length=16)
    name: str = Field(max_length=255)
    # MCP only: Dify's unique server identifier (None for other kinds).
    server_identifier: str | None = Field(default=None, max_length=64)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    icon: dict[str, Any] = Field(default_factory=dict[str, Any], sa_column=Column(JSON))
    # api: the OpenAPI/Swagger schema as given (JSON or YAML text).
    schema_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # api: {schema_type, privacy_policy, custom_disclaimer, labels}; mcp: {transport, url,
    # command, args, timeout, sse_read_timeout}; workflow: {app_id, label, parameters,
    # privacy_policy}.
    config: dict[str, Any] = Field(default_factory=dict[str, Any], sa_column=Column(JSON))
    # The provider's tools as offered: name, description, parameters (and for MCP the
    # server's input schema).
    tools: list[dict[str, Any]] = Field(
        default_factory=list[dict[str, Any]], sa_column=Column(JSON)
    )
    encrypted_credentials: str = Field(
        default="", sa_column=Column(Text, nullable=False, default="")
    )
    created_by: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AppMcpServer(SQLModel, table=True):
    """An app published as an MCP server (see the module doc)."""

    __tablename__ = "app_mcp_server"  # pyright: ignore[reportAssignmentType]

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    app_id: str = Field(foreign_key="app.id", unique=True, max_length=36)
    server_code: str = Field(unique=True, max_length=64)
    # "active" or "inactive" (Dify's toggle).
    status: str = Field(default="active", max_length=16)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # The tool's parameter descriptions by input variable name (editable, as in Dify).
    parameters: dict[str, Any] = Field(default_factory=dict[str, Any], sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
