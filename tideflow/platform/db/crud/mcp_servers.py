"""Apps published as MCP servers: one row per app, found by its secret server code."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from tideflow.platform.db.ids import utcnow
from tideflow.platform.db.models import App
from tideflow.platform.db.tool_models import AppMcpServer

SERVER_STATUSES = ("active", "inactive")


def new_server_code() -> str:
    """A fresh secret code (the URL is the only credential, as in Dify)."""
    return secrets.token_urlsafe(24)


def server_of_app(session: Session, app: App) -> AppMcpServer | None:
    """The app's MCP server, if it has one."""
    return session.exec(select(AppMcpServer).where(AppMcpServer.app_id == app.id)).first()


def get_server(session: Session, tenant_id: str, server_id: str) -> AppMcpServer | None:
    """The server when it belongs to the tenant."""
    server = session.get(AppMcpServer, server_id)
    return server if server is not None and server.tenant_id == tenant_id else None


def server_by_code(session: Session, server_code: str) -> AppMcpServer | None:
    """The server whose URL carries ``server_code`` (active or not)."""
    query = select(AppMcpServer).where(AppMcpServer.server_code == server_code)
    return session.exec(query).first()


def create_server(
    session: Session, app: App, *, description: str, parameters: dict[str, Any]
) -> AppMcpServer | None:
    """A new active server for the app; None when the app already has one."""
    server = AppMcpServer(
        tenant_id=app.tenant_id,
        app_id=app.id,
        server_code=new_server_code(),
        description=description,
        parameters=parameters,
    )
    session.add(server)
    try:
        session.commit()
    except IntegrityError:  # another request created it first (app_id is unique)
        session.rollback()
        return None
    session.refresh(server)
    return server


def update_server(session: Session, server: AppMcpServer, **fields: Any) -> AppMcpServer:
    """Change description, parameters and/or status."""
    for name, value in fields.items():
        setattr(server, name, value)
    server.updated_at = utcnow()
    session.add(server)
    session.commit()
    session.refresh(server)
    return server


def regenerate_code(session: Session, server: AppMcpServer) -> AppMcpServer:
    """A new code: the old URL stops working at once."""
    return update_server(session, server, server_code=new_server_code())
