"""Console tool providers: a workspace's api (OpenAPI), MCP and workflow tools (Dify's paths).

Any member may read (credentials masked as ``[__HIDDEN__]``); only an owner or admin may add,
change or delete a provider. An api provider's tools come from its schema (one per
operation); an MCP provider's from the server's ``tools/list`` when it is added or refreshed
(``/mcp/update/{id}``); a workflow provider's one tool from its app's published Start form.
Built-in and plugin providers are listed too (read-only).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from tideflow.activities.ssrf import SSRFBlockedError
from tideflow.activities.workflow_tools import human_input_nodes
from tideflow.platform import tool_providers
from tideflow.platform.api.deps import CurrentAccount, CurrentTenant, SessionDep, SettingsDep
from tideflow.platform.api.errors import ApiError, invalid_param, not_found
from tideflow.platform.api.routes.console_models import ManagedTenant
from tideflow.platform.db.crud import apps
from tideflow.platform.db.ids import utcnow
from tideflow.platform.db.models import App, Tenant
from tideflow.platform.db.tool_models import ToolProviderRecord
from tideflow.platform.drafts import start_variables
from tideflow.platform.model_credentials import mask_credentials, merge_hidden
from tideflow.platform.settings import Settings
from tideflow.plugins.tools.base import ToolParameter
from tideflow.plugins.tools.base import tool_providers as installed_providers
from tideflow.workflows.graph.plan import ExecutionPlan
from tideflow.workflows.nodes._common import as_dict, as_list

router = APIRouter(prefix="/console/api/workspaces/current", tags=["console: tools"])
_NAME = re.compile(r"^[A-Za-z0-9_\- .\u00A0-\uFFFF]{1,255}$")
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SERVER_ID = re.compile(r"^[a-z0-9_-]{1,24}$")
_API_SECRETS = ("api_key_value",)
# Start form types and the tool parameter type each becomes.
_FORM_TYPES = {
    "text-input": "string",
    "paragraph": "string",
    "select": "select",
    "number": "number",
    "checkbox": "boolean",
    "json_object": "object",
    "file": "file",
    "file-list": "files",
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ApiProviderBody(_Body):
    """Dify's ``api/add`` and ``api/update`` body."""

    provider: str = Field(min_length=1, max_length=255)
    original_provider: str | None = None
    schema_type: str = "openapi"
    schema_: str = Field(alias="schema", min_length=1)
    credentials: dict[str, Any] = Field(default_factory=dict[str, Any])
    icon: dict[str, Any] = Field(default_factory=dict[str, Any])
    privacy_policy: str = ""
    custom_disclaimer: str = ""
    labels: list[str] = Field(default_factory=list[str])


class ProviderNameBody(_Body):
    """A provider named for deletion."""

    provider: str = Field(min_length=1)


class SchemaBody(_Body):
    """A schema to parse (``api/schema``)."""

    schema_: str = Field(alias="schema", min_length=1)


class McpProviderBody(_Body):
    """Dify's MCP provider body, plus ``transport``/``command``/``args``/``env`` for a local
    (stdio) server."""

    provider_id: str | None = None
    name: str = Field(min_length=1, max_length=255)
    server_url: str = ""
    server_identifier: str = Field(min_length=1, max_length=24)
    transport: str = "streamable_http"
    command: str = ""
    args: list[str] = Field(default_factory=list[str])
    env: dict[str, str] = Field(default_factory=dict[str, str])
    headers: dict[str, str] = Field(default_factory=dict[str, str])
    timeout: float | None = Field(default=None, gt=0, le=600)
    sse_read_timeout: float | None = Field(default=None, gt=0, le=3600)
    icon: str | dict[str, Any] = ""
    icon_type: str = ""
    icon_background: str = ""


class McpDeleteBody(_Body):
    """An MCP provider named for deletion."""

    provider_id: str = Field(min_length=1)


class WorkflowToolParameter(_Body):
    """A workflow tool parameter's description and who fills it (``llm`` or ``form``)."""

    name: str
    description: str = ""
    form: str = "llm"


class WorkflowToolBody(_Body):
    """Dify's ``workflow/create`` and ``workflow/update`` body."""

    workflow_app_id: str | None = None
    workflow_tool_id: str | None = None
    name: str = Field(min_length=1, max_length=64)
    label: str = ""
    description: str = ""
    icon: dict[str, Any] = Field(default_factory=dict[str, Any])
    parameters: list[WorkflowToolParameter] = Field(default_factory=list[WorkflowToolParameter])
    privacy_policy: str = ""
    labels: list[str] = Field(default_factory=list[str])


class WorkflowToolDeleteBody(_Body):
    """A workflow tool named for deletion."""

    workflow_tool_id: str = Field(min_length=1)


# ---- shared


def _record(session: Session, tenant: Tenant, kind: str, provider_id: str) -> ToolProviderRecord:
    row = tool_providers.find_record(session, tenant.id, kind, provider_id, provider_id)
    if row is None:
        raise not_found(f"{kind} tool provider {provider_id}")
    return row


def _delete(session: Session, tenant: Tenant, kind: str, provider_id: str) -> dict[str, Any]:
    session.delete(_record(session, tenant, kind, provider_id))
    session.commit()
    return {"result": "success"}


def _parameter_json(parameter: ToolParameter) -> dict[str, Any]:
    return tool_providers.parameter_row(parameter)


def _public(row: ToolProviderRecord, settings: Settings) -> dict[str, Any]:
    """A provider as the console lists it (Dify's ToolProviderApiEntity fields)."""
    tools: list[dict[str, Any]] = [
        {
            "name": t.get("name"),
            "label": t.get("label") or t.get("name"),
            "description": t.get("description") or t.get("summary") or "",
            "parameters": t.get("parameters") or [],
            **({"input_schema": t["input_schema"]} if "input_schema" in t else {}),
        }
        for t in row.tools
    ]
    public: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "label": row.config.get("label") or row.name,
        "description": row.description,
        "icon": row.icon,
        "type": row.kind,
        "author": "",
        "is_team_authorization": True,
        "allow_delete": True,
        "labels": row.config.get("labels") or [],
        "tools": tools,
        "created_at": int(row.created_at.timestamp()),
        "updated_at": int(row.updated_at.timestamp()),
    }
    if row.kind == "api":
        try:
            clear = tool_providers.credentials_of(row, settings.secret_key)
        except ValueError as exc:
            public["error"] = str(exc)
            clear = {}
        public.update(
            schema=row.schema_text,
            schema_type=row.config.get("schema_type", "openapi"),
            credentials=mask_credentials(clear, _API_SECRETS),
            privacy_policy=row.config.get("privacy_policy", ""),
            custom_disclaimer=row.config.get("custom_disclaimer", ""),
        )
    if row.kind == "mcp":
        try:
            secrets = tool_providers.credentials_of(row, settings.secret_key)
        except ValueError as exc:
            public["error"] = str(exc)
            secrets = {}
        headers, env = as_dict(secrets.get("headers")), as_dict(secrets.get("env"))
        public.update(
            server_identifier=row.server_identifier,
            server_url=_masked_url(str(row.config.get("url") or "")),
            transport=row.config.get("transport", "streamable_http"),
            masked_headers=mask_credentials(headers, list(headers)),
            masked_env=mask_credentials(env, list(env)),
            timeout=row.config.get("timeout"),
            sse_read_timeout=row.config.get("sse_read_timeout"),
        )
        if row.config.get("transport") == "stdio":
            public.update(command=row.config.get("command"), args=row.config.get("args") or [])
    if row.kind == "workflow":
        public.update(
            workflow_app_id=row.config.get("app_id"),
            workflow_tool_id=row.id,
            privacy_policy=row.config.get("privacy_policy", ""),
        )
    return public


def _masked_url(url: str) -> str:
    """The server URL with its path and query hidden (they may carry a token), as Dify shows."""
    match = re.match(r"^(https?://[^/?#]+)", url)
    return f"{match.group(1)}/******" if match and len(url) > len(match.group(1)) else url


def _save(session: Session, row: ToolProviderRecord) -> ToolProviderRecord:
    from sqlalchemy.exc import IntegrityError

    row.updated_at = utcnow()
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        what = "server identifier" if row.kind == "mcp" else "name"
        raise ApiError(
            409, "provider_exists", f"a {row.kind} tool provider with this {what} already exists"
        ) from None
    session.refresh(row)
    return row


# ---- all providers


@router.get("/tool-providers")
def list_all(session: SessionDep, tenant: CurrentTenant, settings: SettingsDep) -> list[Any]:
    """Built-in and plugin providers, then the workspace's api, workflow and MCP providers."""
    listed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for provider in installed_providers().values():
        if provider.id in seen:
            continue
        seen.add(provider.id)
        listed.append(
            {
                "id": provider.id,
                "name": provider.name,
                "label": provider.label,
                "type": "builtin",
                "is_team_authorization": True,
                "allow_delete": False,
                "tools": [
                    {
                        "name": tool.name,
                        "label": tool.label,
                        "description": tool.description,
                        "parameters": [_parameter_json(p) for p in tool.parameters],
                    }
                    for tool in provider.tools.values()
                ],
            }
        )
    for kind in tool_providers.KINDS:
        listed += [
            _public(r, settings) for r in tool_providers.list_records(session, tenant.id, kind)
        ]
    return listed


@router.get("/tools/{kind}")
def list_kind(
    kind: str, session: SessionDep, tenant: CurrentTenant, settings: SettingsDep
) -> list[Any]:
    """The workspace's providers of one kind (``api``, ``workflow``, ``mcp``; ``builtin``)."""
    if kind == "builtin":
        return [p for p in list_all(session, tenant, settings) if p["type"] == "builtin"]
    if kind not in tool_providers.KINDS:
        raise not_found(f"tool provider kind {kind}")
    return [_public(r, settings) for r in tool_providers.list_records(session, tenant.id, kind)]


# ---- api (OpenAPI) providers


def _api_tools(schema: str) -> list[dict[str, Any]]:
    from tideflow.plugins.tools.openapi import (
        OpenApiSchemaError,
        operations_as_tools,
        parse_openapi,
    )

    try:
        return operations_as_tools(parse_openapi(schema))
    except OpenApiSchemaError as exc:
        raise invalid_param(f"schema: {exc}") from None


def _api_credentials(body: ApiProviderBody, stored: Mapping[str, Any] | None) -> dict[str, Any]:
    from tideflow.plugins.tools.openapi import ApiAuth

    try:
        credentials = merge_hidden(body.credentials, stored, _API_SECRETS)
        ApiAuth.from_credentials(credentials)
    except ValueError as exc:
        raise invalid_param(f"credentials: {exc}") from None
    return credentials


@router.post("/tool-provider/api/schema")
def parse_schema(body: SchemaBody, tenant: CurrentTenant) -> dict[str, Any]:
    """The tools a schema would give (nothing is saved)."""
    del tenant
    return {"schema_type": "openapi", "parameters_schema": _api_tools(body.schema_)}


@router.get("/tool-provider/api/remote")
async def remote_schema(
    tenant: CurrentTenant, settings: SettingsDep, url: str = Query(min_length=1)
) -> dict[str, Any]:
    """Fetch a schema from a URL (through the SSRF guard)."""
    from tideflow.plugins.tools.openapi import fetch_schema

    del tenant
    try:
        return {"schema": await fetch_schema(url, settings)}
    except (ValueError, SSRFBlockedError) as exc:
        raise invalid_param(f"url: {exc}") from None


@router.post("/tool-provider/api/add")
def add_api_provider(
    body: ApiProviderBody,
    session: SessionDep,
    tenant: ManagedTenant,
    account: CurrentAccount,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Import an OpenAPI/Swagger schema as a provider (one tool per operation)."""
    row = ToolProviderRecord(
        tenant_id=tenant.id,
        kind="api",
        name=body.provider,
        icon=body.icon,
        schema_text=body.schema_,
        config=_api_config(body),
        tools=_api_tools(body.schema_),
        encrypted_credentials=tool_providers.seal_credentials(
            _api_credentials(body, None), settings.secret_key
        ),
        created_by=account.id,
    )
    _save(session, row)
    return {"result": "success", "id": row.id}


def _api_config(body: ApiProviderBody) -> dict[str, Any]:
    return {
        "schema_type": body.schema_type,
        "privacy_policy": body.privacy_policy,
        "custom_disclaimer": body.custom_disclaimer,
        "labels": body.labels,
    }


@router.post("/tool-provider/api/update")
def update_api_provider(
    body: ApiProviderBody, session: SessionDep, tenant: ManagedTenant, settings: SettingsDep
) -> dict[str, Any]:
    """Replace a provider's schema, name or credentials (``[__HIDDEN__]`` keeps a secret)."""
    row = _record(session, tenant, "api", body.original_provider or body.provider)
    try:
        stored = tool_providers.credentials_of(row, settings.secret_key)
    except ValueError:
        stored = {}  # unreadable (the secret key changed): the values sent replace them
    credentials = _api_credentials(body, stored)
    row.name, row.icon, row.schema_text = body.provider, body.icon, body.schema_
    row.config, row.tools = _api_config(body), _api_tools(body.schema_)
    row.encrypted_credentials = tool_providers.seal_credentials(credentials, settings.secret_key)
    _save(session, row)
    return {"result": "success"}


@router.get("/tool-provider/api/get")
def get_api_provider(
    session: SessionDep,
    tenant: CurrentTenant,
    settings: SettingsDep,
    provider: str = Query(min_length=1),
) -> dict[str, Any]:
    """One api provider (credentials masked)."""
    return _public(_record(session, tenant, "api", provider), settings)


@router.get("/tool-provider/api/tools")
def api_provider_tools(
    session: SessionDep,
    tenant: CurrentTenant,
    settings: SettingsDep,
    provider: str = Query(min_length=1),
) -> list[Any]:
    """An api provider's tools."""
    return _public(_record(session, tenant, "api", provider), settings)["tools"]


@router.post("/tool-provider/api/delete")
def delete_api_provider(
    body: ProviderNameBody, session: SessionDep, tenant: ManagedTenant
) -> dict[str, Any]:
    """Delete an api provider (nodes that use it then fail naming it)."""
    return _delete(session, tenant, "api", body.provider)


# ---- MCP providers


def _mcp_config(body: McpProviderBody, stored_url: str = "") -> dict[str, Any]:
    """The stored config (the secrets, headers and env, are stored encrypted apart).

    ``server_url`` empty or as the console shows it masked keeps ``stored_url``."""
    from tideflow.plugins.tools.mcp_client import McpServerConfig

    url = body.server_url
    if stored_url and (not url or url == _masked_url(stored_url)):
        url = stored_url
    config: dict[str, Any] = {
        "transport": body.transport,
        "url": url,
        "command": body.command,
        "args": body.args,
        "timeout": body.timeout,
        "sse_read_timeout": body.sse_read_timeout,
    }
    try:
        McpServerConfig.from_config(config)
    except ValueError as exc:
        raise invalid_param(str(exc).replace("url:", "server_url:", 1)) from None
    return config


def _mcp_secrets(row: ToolProviderRecord, settings: Settings) -> dict[str, dict[str, str]]:
    """The stored ``{"headers", "env"}`` (empty when none; 400 when they cannot be read)."""
    try:
        return tool_providers.mcp_secrets(row, settings.secret_key)
    except ValueError as exc:
        raise invalid_param(f"MCP server {row.name}: {exc}; enter its headers again") from None


async def _mcp_tools(
    config: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    settings: Settings,
    name: str,
) -> list[dict[str, Any]]:
    from tideflow.plugins.tools.mcp_client import (
        McpError,
        McpServerConfig,
        check_allowed,
        list_mcp_tools,
    )

    try:
        server = McpServerConfig.from_config(
            {**config, "env": dict(secrets.get("env") or {})}, dict(secrets.get("headers") or {})
        )
        await asyncio.to_thread(check_allowed, server, settings)  # resolves the host
        specs = await list_mcp_tools(server, settings)
    except (ValueError, SSRFBlockedError) as exc:
        raise invalid_param(f"MCP server {name}: {exc}") from None
    except McpError as exc:
        raise ApiError(400, "mcp_server_unreachable", f"MCP server {name}: {exc}") from None
    return [
        {"name": s.name, "description": s.description, "input_schema": dict(s.input_schema)}
        for s in specs
    ]


def _check_mcp_names(body: McpProviderBody) -> None:
    if not _SERVER_ID.match(body.server_identifier):
        raise invalid_param(
            "server_identifier: lowercase letters, digits, _ and - only, at most 24 characters"
        )


@router.post("/tool-provider/mcp")
async def add_mcp_provider(
    body: McpProviderBody,
    session: SessionDep,
    tenant: ManagedTenant,
    account: CurrentAccount,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Add an MCP server: its tools are listed now (the server must answer)."""
    _check_mcp_names(body)
    config = _mcp_config(body)
    secrets = {"headers": body.headers, "env": body.env}
    tools = await _mcp_tools(config, secrets, settings, body.name)
    row = ToolProviderRecord(
        tenant_id=tenant.id,
        kind="mcp",
        name=body.name,
        server_identifier=body.server_identifier,
        icon={"content": body.icon, "type": body.icon_type, "background": body.icon_background},
        config=config,
        tools=tools,
        encrypted_credentials=tool_providers.seal_credentials(secrets, settings.secret_key),
        created_by=account.id,
    )
    _save(session, row)
    return _public(row, settings)


@router.put("/tool-provider/mcp")
async def update_mcp_provider(
    body: McpProviderBody, session: SessionDep, tenant: ManagedTenant, settings: SettingsDep
) -> dict[str, Any]:
    """Change an MCP server's settings; its tools are listed again. A header or env value
    sent as ``[__HIDDEN__]`` keeps its stored value; the masked URL keeps the stored one."""
    if not body.provider_id:
        raise invalid_param("provider_id is required")
    _check_mcp_names(body)
    row = _record(session, tenant, "mcp", body.provider_id)
    try:
        stored: dict[str, dict[str, str]] = tool_providers.mcp_secrets(row, settings.secret_key)
    except ValueError:  # unreadable (the secret key changed): the values sent replace them
        stored = {"headers": {}, "env": {}}
    secrets: dict[str, dict[str, str]] = {}
    for part, sent in (("headers", body.headers), ("env", body.env)):
        try:
            secrets[part] = merge_hidden(sent, stored[part], list(sent))
        except ValueError as exc:
            raise invalid_param(f"{part}: {exc}") from None
    config = _mcp_config(body, str(row.config.get("url") or ""))
    row.tools = await _mcp_tools(config, secrets, settings, body.name)
    row.name, row.server_identifier, row.config = body.name, body.server_identifier, config
    row.encrypted_credentials = tool_providers.seal_credentials(secrets, settings.secret_key)
    _save(session, row)
    return _public(row, settings)


@router.delete("/tool-provider/mcp")
def delete_mcp_provider(
    body: McpDeleteBody, session: SessionDep, tenant: ManagedTenant
) -> dict[str, Any]:
    """Delete an MCP provider."""
    return _delete(session, tenant, "mcp", body.provider_id)


@router.get("/tool-provider/mcp/update/{provider_id}")
async def refresh_mcp_tools(
    provider_id: str, session: SessionDep, tenant: ManagedTenant, settings: SettingsDep
) -> dict[str, Any]:
    """List the server's tools again (Dify's "update tools")."""
    row = _record(session, tenant, "mcp", provider_id)
    row.tools = await _mcp_tools(row.config, _mcp_secrets(row, settings), settings, row.name)
    _save(session, row)
    return _public(row, settings)


@router.get("/tool-provider/mcp/tools/{provider_id}")
def mcp_provider_tools(
    provider_id: str, session: SessionDep, tenant: CurrentTenant, settings: SettingsDep
) -> list[Any]:
    """An MCP provider's tools as last listed."""
    return _public(_record(session, tenant, "mcp", provider_id), settings)["tools"]


# ---- workflow tools


def _workflow_tool(
    session: Session, tenant: Tenant, body: WorkflowToolBody, app_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not _TOOL_NAME.match(body.name):
        raise invalid_param("name: letters, digits, _ and - only, at most 64 characters")
    app = session.get(App, app_id)
    if app is None or app.tenant_id != tenant.id:
        raise not_found(f"app {app_id}")
    if app.mode != "workflow":
        raise invalid_param(
            f"workflow_app_id: app {app.name} is a {app.mode} app; only workflow apps can be tools"
        )
    version = apps.latest_version(session, app)
    if version is None:
        raise invalid_param(f"workflow_app_id: app {app.name} has no published version")
    plan = ExecutionPlan.model_validate(version.plan)
    waits = human_input_nodes(plan)
    if waits:
        raise invalid_param(
            f"workflow_app_id: app {app.name} waits for human input (node {waits[0]}); "
            "a tool cannot pause its caller"
        )
    described = {p.name: p for p in body.parameters}
    variables = start_variables(plan)
    known = {str(v.get("variable")) for v in variables}
    unknown = sorted(set(described) - known)
    if unknown:
        raise invalid_param(f"parameters: {unknown[0]} is not an input of app {app.name}")
    parameters: list[dict[str, Any]] = []
    for var in variables:
        name = str(var.get("variable") or "")
        entry = described.get(name)
        form = entry.form if entry is not None else "llm"
        if form not in ("llm", "form"):
            raise invalid_param(f"parameters.{name}.form: llm or form")
        options = [str(o) for o in as_list(var.get("options"))]
        parameters.append(
            _parameter_json(
                ToolParameter(
                    name=name,
                    type=_FORM_TYPES.get(str(var.get("type") or "text-input"), "string"),
                    required=bool(var.get("required")),
                    form=form,
                    description=entry.description
                    if entry is not None
                    else str(var.get("label") or ""),
                    options=tuple(options),
                    default=var.get("default") if var.get("default") not in (None, "") else None,
                )
            )
        )
    config = {
        "app_id": app.id,
        "label": body.label or body.name,
        "privacy_policy": body.privacy_policy,
        "labels": body.labels,
        "version": version.version,
    }
    tool = {
        "name": body.name,
        "label": body.label or body.name,
        "description": body.description,
        "parameters": parameters,
    }
    return config, [tool]


@router.post("/tool-provider/workflow/create")
def create_workflow_tool(
    body: WorkflowToolBody, session: SessionDep, tenant: ManagedTenant, account: CurrentAccount
) -> dict[str, Any]:
    """Offer a published workflow app as a tool."""
    if not body.workflow_app_id:
        raise invalid_param("workflow_app_id is required")
    config, tools = _workflow_tool(session, tenant, body, body.workflow_app_id)
    row = ToolProviderRecord(
        tenant_id=tenant.id,
        kind="workflow",
        name=body.name,
        description=body.description,
        icon=body.icon,
        config=config,
        tools=tools,
        created_by=account.id,
    )
    _save(session, row)
    return {"result": "success", "id": row.id}


@router.post("/tool-provider/workflow/update")
def update_workflow_tool(
    body: WorkflowToolBody, session: SessionDep, tenant: ManagedTenant
) -> dict[str, Any]:
    """Change a workflow tool (its parameters are read again from the app's published form)."""
    if not body.workflow_tool_id:
        raise invalid_param("workflow_tool_id is required")
    row = _record(session, tenant, "workflow", body.workflow_tool_id)
    config, tools = _workflow_tool(session, tenant, body, str(row.config.get("app_id") or ""))
    row.name, row.description, row.icon, row.config, row.tools = (
        body.name,
        body.description,
        body.icon,
        config,
        tools,
    )
    _save(session, row)
    return {"result": "success"}


@router.post("/tool-provider/workflow/delete")
def delete_workflow_tool(
    body: WorkflowToolDeleteBody, session: SessionDep, tenant: ManagedTenant
) -> dict[str, Any]:
    """Stop offering the app as a tool."""
    return _delete(session, tenant, "workflow", body.workflow_tool_id)


@router.get("/tool-provider/workflow/get")
def get_workflow_tool(
    session: SessionDep,
    tenant: CurrentTenant,
    settings: SettingsDep,
    workflow_tool_id: str | None = None,
    workflow_app_id: str | None = None,
) -> dict[str, Any]:
    """A workflow tool, by its id or its app's id."""
    if not workflow_tool_id and not workflow_app_id:
        raise invalid_param("workflow_tool_id or workflow_app_id is required")
    if workflow_tool_id:
        return _public(_record(session, tenant, "workflow", workflow_tool_id), settings)
    for row in tool_providers.list_records(session, tenant.id, "workflow"):
        if workflow_app_id and row.config.get("app_id") == workflow_app_id:
            return _public(row, settings)
    raise not_found(f"workflow tool of app {workflow_app_id}")


@router.get("/tool-provider/workflow/tools")
def workflow_tool_tools(
    session: SessionDep,
    tenant: CurrentTenant,
    settings: SettingsDep,
    workflow_tool_id: str = Query(min_length=1),
) -> list[Any]:
    """The workflow tool's one tool."""
    return _public(_record(session, tenant, "workflow", workflow_tool_id), settings)["tools"]
