"""Apps, their drafts and their published versions (always within one tenant)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from tideflow.platform.db.models import (
    ApiKey,
    App,
    AppEnvironmentVariable,
    AppVersion,
    Conversation,
    EndUser,
    Message,
    MessageFeedback,
    NodeExecution,
    UploadFile,
    WorkflowRun,
    utcnow,
)
from tideflow.platform.db.tool_models import AppMcpServer
from tideflow.platform.db.trigger_models import HumanInputForm, WebhookDelivery, WebhookTrigger


def list_apps(session: Session, tenant_id: str, page: int, limit: int) -> tuple[list[App], int]:
    """One page of the tenant's apps (newest first) and the total count."""
    total = session.exec(
        select(func.count()).select_from(App).where(App.tenant_id == tenant_id)
    ).one()
    query = (
        select(App)
        .where(App.tenant_id == tenant_id)
        .order_by(col(App.created_at).desc())
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return list(session.exec(query)), int(total)


def get_app(session: Session, tenant_id: str, app_id: str) -> App | None:
    """The app when it belongs to the tenant."""
    app = session.get(App, app_id)
    return app if app is not None and app.tenant_id == tenant_id else None


def create_app(
    session: Session, tenant_id: str, *, name: str, mode: str, description: str, draft_dsl: str
) -> App:
    """A new app with its draft."""
    app = App(
        tenant_id=tenant_id, name=name, mode=mode, description=description, draft_dsl=draft_dsl
    )
    session.add(app)
    session.commit()
    session.refresh(app)
    return app


def delete_app(session: Session, app: App) -> None:
    """The app and everything that hangs off it."""
    run_ids = select(WorkflowRun.id).where(WorkflowRun.app_id == app.id)
    session.exec(delete(NodeExecution).where(col(NodeExecution.run_id).in_(run_ids)))
    hooks = select(WebhookTrigger.webhook_id).where(WebhookTrigger.app_id == app.id)
    session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.webhook_id).in_(hooks)))
    # Children before their parents (the foreign keys are enforced): chat data and uploads
    # before the runs and end users they point at.
    for table in (
        MessageFeedback,
        Message,
        Conversation,
        UploadFile,
        HumanInputForm,
        WorkflowRun,
        EndUser,
        ApiKey,
        AppEnvironmentVariable,
        AppVersion,
        WebhookTrigger,
        AppMcpServer,
    ):
        session.exec(delete(table).where(table.app_id == app.id))  # type: ignore[attr-defined]
    session.delete(app)
    session.commit()


def save_draft(session: Session, app: App, draft_dsl: str, **fields: Any) -> App:
    """Replace the draft (and name/description/mode when given)."""
    app.draft_dsl = draft_dsl
    for name, value in fields.items():
        setattr(app, name, value)
    app.updated_at = utcnow()
    session.add(app)
    session.commit()
    session.refresh(app)
    return app


def publish_version(
    session: Session, app: App, *, plan: dict[str, Any], plan_hash: str, dsl: str
) -> AppVersion:
    """A new immutable version numbered one past the newest."""
    newest = session.exec(
        select(func.max(AppVersion.version)).where(AppVersion.app_id == app.id)
    ).one()
    version = AppVersion(
        app_id=app.id, version=int(newest or 0) + 1, plan_hash=plan_hash, plan=plan, dsl=dsl
    )
    session.add(version)
    session.commit()
    session.refresh(version)
    return version


def list_versions(session: Session, app: App) -> list[AppVersion]:
    """The app's versions, newest first."""
    query = (
        select(AppVersion)
        .where(AppVersion.app_id == app.id)
        .order_by(col(AppVersion.version).desc())
    )
    return list(session.exec(query))


def get_version(session: Session, app: App, version_id: str) -> AppVersion | None:
    """One of the app's versions."""
    version = session.get(AppVersion, version_id)
    return version if version is not None and version.app_id == app.id else None


def latest_version(session: Session, app: App) -> AppVersion | None:
    """The newest published version, or None before the first publish."""
    query = (
        select(AppVersion)
        .where(AppVersion.app_id == app.id)
        .order_by(col(AppVersion.version).desc())
        .limit(1)
    )
    return session.exec(query).first()
