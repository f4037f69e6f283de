"""A workspace's own tool providers (``ToolProviderRecord``): api, mcp and workflow.

The worker's ``tool_invoke`` and ``describe_agent_tools`` activities find a tool here when a
node's ``provider_type`` is ``api`` or ``mcp`` (and describe workflow tools to an agent); the
console API adds, updates and lists providers through the same helpers. A node names its
provider by ``provider_id`` (the row's id; for MCP also its server identifier) and, for DSL
files exported from another workspace whose ids mean nothing here, by ``provider_name``.

Credentials (an api provider's auth settings, an MCP server's custom headers) are stored
encrypted with ``TIDEFLOW_SECRET_KEY``, as model credentials are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from tideflow.platform.db.session import get_engine
from tideflow.platform.db.tool_models import ToolProviderRecord
from tideflow.platform.model_credentials import seal, unseal
from tideflow.platform.settings import Settings
from tideflow.plugins.tools.base import (
    Tool,
    ToolContext,
    ToolError,
    ToolParameter,
    ToolProvider,
    ToolResult,
)
from tideflow.workflows.graph.errors import Problem
from tideflow.workflows.graph.model import AppDocument
from tideflow.workflows.nodes._common import as_dict, as_list

# Dify's provider_type of each kind's tools.
KINDS = ("api", "mcp", "workflow")


def find_record(
    session: Session, tenant_id: str, kind: str, provider_id: str, provider_name: str = ""
) -> ToolProviderRecord | None:
    """The tenant's provider of ``kind`` whose id (or MCP server identifier) is
    ``provider_id``, else whose name is ``provider_name`` or ``provider_id``."""
    rows = session.exec(
        select(ToolProviderRecord).where(
            ToolProviderRecord.tenant_id == tenant_id,
            ToolProviderRecord.kind == kind,
            or_(
                col(ToolProviderRecord.id) == provider_id,
                col(ToolProviderRecord.server_identifier) == provider_id,
                col(ToolProviderRecord.name).in_([n for n in (provider_name, provider_id) if n]),
            ),
        )
    ).all()

    def rank(row: ToolProviderRecord) -> int:
        if provider_id in (row.id, row.server_identifier):
            return 0
        return 1 if provider_name and row.name == provider_name else 2

    return min(rows, key=rank, default=None)


def list_records(session: Session, tenant_id: str, kind: str) -> list[ToolProviderRecord]:
    """The tenant's providers of ``kind``, by name."""
    return list(
        session.exec(
            select(ToolProviderRecord)
            .where(ToolProviderRecord.tenant_id == tenant_id, ToolProviderRecord.kind == kind)
            .order_by(col(ToolProviderRecord.name))
        ).all()
    )


def credentials_of(row: ToolProviderRecord, secret_key: str) -> dict[str, Any]:
    """The row's credentials in clear (``{}`` when it has none); ValueError when the secret
    key changed since they were saved."""
    if not row.encrypted_credentials:
        return {}
    return unseal(row.encrypted_credentials, secret_key, f"tool provider {row.name}")


def mcp_secrets(row: ToolProviderRecord, secret_key: str) -> dict[str, dict[str, str]]:
    """An MCP provider's stored secrets: ``{"headers": {...}, "env": {...}}`` (env: stdio
    servers only). ValueError when they cannot be decrypted."""
    stored = credentials_of(row, secret_key)
    return {
        part: {str(k): str(v) for k, v in as_dict(stored.get(part)).items()}
        for part in ("headers", "env")
    }


def seal_credentials(credentials: Mapping[str, Any], secret_key: str) -> str:
    """Credentials as the row stores them (empty stays empty)."""
    return seal(credentials, secret_key) if credentials else ""


def parameters_of(rows: Sequence[Mapping[str, Any]]) -> tuple[ToolParameter, ...]:
    """Stored parameter descriptions (``{name, type, required, form, ...}``) as parameters."""
    return tuple(
        ToolParameter(
            name=str(p.get("name") or ""),
            type=str(p.get("type") or "string"),
            required=bool(p.get("required")),
            form=str(p.get("form") or "llm"),
            description=str(p.get("description") or ""),
            options=tuple(str(o) for o in p.get("options") or ()),
            default=p.get("default"),
        )
        for p in rows
    )


def parameter_row(parameter: ToolParameter) -> dict[str, Any]:
    """A parameter as stored (the inverse of ``parameters_of``)."""
    return dataclasses.asdict(parameter) | {"options": list(parameter.options)}


@dataclasses.dataclass(frozen=True)
class WorkflowToolDescription:
    """A workflow tool as an agent's model sees it; it runs as a child workflow (the tool
    node's ``run_workflow_tool``), never through ``invoke``."""

    name: str
    label: str
    description: str
    parameters: Sequence[ToolParameter]

    async def invoke(self, params: dict[str, Any], context: ToolContext) -> ToolResult:
        """Not called: a workflow tool runs as a child workflow."""
        del params, context
        raise ToolError(f"workflow tool {self.name} runs as a child workflow, not in a worker")


def provider_of(row: ToolProviderRecord, settings: Settings) -> ToolProvider:
    """The row as a ToolProvider whose tools can be invoked (api, mcp) or described
    (workflow). Raises ValueError naming a stored field that no longer makes sense."""
    aliases = tuple(a for a in (row.name, row.server_identifier) if a and a != row.id)
    if row.kind == "api":
        from tideflow.plugins.tools.openapi import ApiAuth, api_provider, operations_from_tools

        auth = ApiAuth.from_credentials(credentials_of(row, settings.secret_key))
        provider = api_provider(row.id, row.name, operations_from_tools(row.tools), auth)
        return dataclasses.replace(provider, aliases=aliases)
    if row.kind == "mcp":
        from tideflow.plugins.tools.mcp_client import (
            McpServerConfig,
            McpToolSpec,
            mcp_provider,
        )

        secrets = mcp_secrets(row, settings.secret_key)
        server = McpServerConfig.from_config(
            {**row.config, "env": secrets["env"]}, secrets["headers"]
        )
        specs = [
            McpToolSpec(
                name=str(t.get("name") or ""),
                description=str(t.get("description") or ""),
                input_schema=dict(t.get("input_schema") or {}),
            )
            for t in row.tools
        ]
        return mcp_provider(row.id, row.name, server, specs, aliases)
    if row.kind == "workflow":
        tools: dict[str, Tool] = {}
        for entry in row.tools:
            tool = WorkflowToolDescription(
                name=str(entry.get("name") or row.name),
                label=str(entry.get("label") or row.config.get("label") or row.name),
                description=str(entry.get("description") or row.description),
                parameters=parameters_of(entry.get("parameters") or []),
            )
            tools[tool.name] = tool
        return ToolProvider(id=row.id, name=row.name, label=row.name, tools=tools, aliases=aliases)
    raise ValueError(f"tool provider {row.name}: unknown kind {row.kind!r}")


def tenant_tool(
    settings: Settings,
    tenant_id: str,
    kind: str,
    provider_id: str,
    tool_name: str,
    provider_name: str = "",
) -> Tool | None:
    """The tenant's tool ``tool_name`` of its ``kind`` provider, None when either is absent.

    A workflow provider has one tool; a DSL may name it by the provider's name.
    """
    with Session(get_engine(settings.db_url)) as session:
        row = find_record(session, tenant_id, kind, provider_id, provider_name)
    if row is None:
        return None
    provider = provider_of(row, settings)
    tool = provider.tools.get(tool_name)
    if tool is None and kind == "workflow" and len(provider.tools) == 1:
        tool = next(iter(provider.tools.values()))
    return tool


def tenant_tool_problems(session: Session, tenant_id: str, doc: AppDocument) -> list[Problem]:
    """Tool nodes and agent tools of the workspace's own kinds (api, mcp, workflow) whose
    provider or tool is not in the workspace: named before the app is published."""
    problems: list[Problem] = []
    for node in doc.nodes:
        data = node.data
        if node.type == "tool":
            uses = [("", data)]
        elif node.type == "agent":
            tools = as_dict(as_dict(data.get("agent_parameters")).get("tools"))
            uses = [
                (f"agent_parameters.tools[{i}].", as_dict(t))
                for i, t in enumerate(as_list(tools.get("value")))
                if as_dict(t).get("enabled", True)
            ]
        else:
            continue
        for prefix, use in uses:
            message = _missing_tool(session, tenant_id, use)
            if message:
                problems.append(Problem(node.id, f"{prefix}provider_id", message, node.title))
    return problems


def _missing_tool(session: Session, tenant_id: str, use: dict[str, Any]) -> str:
    kind = str(use.get("provider_type") or use.get("type") or "")
    if kind not in KINDS:
        return ""
    provider_id = str(use.get("provider_id") or "")
    provider_name = str(use.get("provider_name") or "")
    tool_name = str(use.get("tool_name") or "")
    row = find_record(session, tenant_id, kind, provider_id, provider_name)
    shown = provider_name or provider_id
    if row is None:
        return f"{kind} tool provider {shown} is not in this workspace: add it first"
    names = [str(t.get("name")) for t in row.tools]
    if kind != "workflow" and tool_name not in names:
        return f"{kind} tool provider {row.name} has no tool {tool_name} ({', '.join(names)})"
    return ""
