"""Console: an app published as an MCP server (Dify's paths). Enabling it gives the secret URL
``/mcp/server/{server_code}/mcp``; refreshing the code invalidates the old URL."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from tideflow.platform.api.deps import CurrentTenant, SessionDep, SettingsDep, TenantApp
from tideflow.platform.api.errors import ApiError, not_found
from tideflow.platform.db.crud import mcp_servers
from tideflow.platform.db.tool_models import AppMcpServer
from tideflow.platform.runs.views import unix
from tideflow.platform.settings import Settings

router = APIRouter(prefix="/console/api/apps", tags=["console: mcp server"])

Description = Annotated[str, Field(max_length=10_000)]
ParameterDescriptions = dict[Annotated[str, Field(max_length=255)], Description]


class McpServerCreate(BaseModel):
    """``POST /apps/{app_id}/server``: the tool's description and its parameters'."""

    description: Description = ""
    parameters: ParameterDescriptions = Field(default_factory=ParameterDescriptions)


class McpServerUpdate(BaseModel):
    """``PUT /apps/{app_id}/server``: what is given changes (``id`` must be the app's server)."""

    id: str | None = Field(default=None, max_length=36)
    description: Description | None = None
    parameters: ParameterDescriptions | None = None
    status: Literal["active", "inactive"] | None = None


class McpServerPublic(BaseModel):
    """An app's MCP server as the console shows it."""

    id: str
    app_id: str
    server_code: str
    status: str
    description: str
    parameters: dict[str, str]
    created_at: int | None
    updated_at: int | None
    server_url: str

    @classmethod
    def of(cls, server: AppMcpServer, settings: Settings) -> McpServerPublic:
        """From the row; the URL on the API's public base."""
        base = settings.api_base_url.rstrip("/")
        return cls(
            id=server.id,
            app_id=server.app_id,
            server_code=server.server_code,
            status=server.status,
            description=server.description,
            parameters={str(k): str(v) for k, v in server.parameters.items()},
            created_at=unix(server.created_at),
            updated_at=unix(server.updated_at),
            server_url=f"{base}/mcp/server/{server.server_code}/mcp",
        )


@router.get("/{app_id}/server")
def get_server(
    app: TenantApp, session: SessionDep, settings: SettingsDep
) -> McpServerPublic | None:
    """The app's MCP server, or null before it is enabled."""
    server = mcp_servers.server_of_app(session, app)
    return McpServerPublic.of(server, settings) if server is not None else None


@router.post("/{app_id}/server", status_code=201)
def create_server(
    body: McpServerCreate, app: TenantApp, session: SessionDep, settings: SettingsDep
) -> McpServerPublic:
    """Publish the app as an MCP server (409 when it already is)."""
    server = None
    if mcp_servers.server_of_app(session, app) is None:
        server = mcp_servers.create_server(
            session, app, description=body.description, parameters=dict(body.parameters)
        )
    if server is None:
        message = "the app already has an MCP server: change it with PUT or refresh its code"
        raise ApiError(409, "conflict", message)
    return McpServerPublic.of(server, settings)


@router.put("/{app_id}/server")
def update_server(
    body: McpServerUpdate, app: TenantApp, session: SessionDep, settings: SettingsDep
) -> McpServerPublic:
    """Change the description, the parameter descriptions or the status."""
    server = mcp_servers.server_of_app(session, app)
    if server is None or (body.id is not None and body.id != server.id):
        raise not_found("MCP server")
    fields = body.model_dump(exclude_none=True, exclude={"id"})
    return McpServerPublic.of(mcp_servers.update_server(session, server, **fields), settings)


@router.get("/{server_id}/server/refresh")
def refresh_code(
    server_id: str, tenant: CurrentTenant, session: SessionDep, settings: SettingsDep
) -> McpServerPublic:
    """A new server code: the old URL stops working."""
    server = mcp_servers.get_server(session, tenant.id, server_id)
    if server is None:
        raise not_found("MCP server")
    return McpServerPublic.of(mcp_servers.regenerate_code(session, server), settings)
