"""API keys: created with the token shown once, found by the token's hash, revoked."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from tideflow.platform.db.models import ApiKey, App, utcnow
from tideflow.platform.security import new_api_token, token_digest

LAST_USED_RESOLUTION = timedelta(minutes=1)


def create_key(
    session: Session, tenant_id: str, app_id: str | None, kind: str
) -> tuple[ApiKey, str]:
    """A new key and its clear token (the only time the token exists in clear)."""
    token = new_api_token(kind)
    key = ApiKey(
        tenant_id=tenant_id,
        app_id=app_id,
        kind=kind,
        token_hash=token_digest(token),
        prefix=token[: len(kind) + 5],
    )
    session.add(key)
    session.commit()
    session.refresh(key)
    return key, token


def list_app_keys(session: Session, app: App) -> list[ApiKey]:
    """The app's keys that are not revoked, oldest first."""
    query = (
        select(ApiKey)
        .where(ApiKey.app_id == app.id, ApiKey.tenant_id == app.tenant_id)
        .where(col(ApiKey.revoked_at).is_(None))
        .order_by(col(ApiKey.created_at))
    )
    return list(session.exec(query))


def revoke_app_key(session: Session, app: App, key_id: str) -> bool:
    """Revoke one of the app's keys; False when it is not one of them."""
    key = session.get(ApiKey, key_id)
    if key is None or key.app_id != app.id or key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    session.add(key)
    session.commit()
    return True


def app_for_token(session: Session, token: str) -> App | None:
    """The app an unrevoked ``app-`` token belongs to (and note when it was used)."""
    key = session.exec(select(ApiKey).where(ApiKey.token_hash == token_digest(token))).first()
    if key is None or key.revoked_at is not None or key.kind != "app" or key.app_id is None:
        return None
    app = session.get(App, key.app_id)
    if app is None or app.tenant_id != key.tenant_id:
        return None
    _note_use(session, key)
    return app


def list_tenant_keys(session: Session, tenant_id: str, kind: str) -> list[ApiKey]:
    """The workspace's unrevoked keys of ``kind`` that belong to no app, oldest first."""
    query = (
        select(ApiKey)
        .where(ApiKey.tenant_id == tenant_id, ApiKey.kind == kind)
        .where(col(ApiKey.app_id).is_(None), col(ApiKey.revoked_at).is_(None))
        .order_by(col(ApiKey.created_at))
    )
    return list(session.exec(query))


def revoke_tenant_key(session: Session, tenant_id: str, kind: str, key_id: str) -> bool:
    """Revoke one of the workspace's ``kind`` keys; False when it is not one of them."""
    key = session.get(ApiKey, key_id)
    if key is None or key.tenant_id != tenant_id or key.kind != kind or key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    session.add(key)
    session.commit()
    return True


def tenant_for_dataset_token(session: Session, token: str) -> str | None:
    """The workspace an unrevoked ``dataset-`` token belongs to (and note when it was used)."""
    key = session.exec(select(ApiKey).where(ApiKey.token_hash == token_digest(token))).first()
    if key is None or key.revoked_at is not None or key.kind != "dataset":
        return None
    _note_use(session, key)
    return key.tenant_id


def _note_use(session: Session, key: ApiKey) -> None:
    """Set ``last_used_at``, at most once a minute per key: a write (and the database's write
    lock) on every request cost the API path a transaction per run under load."""
    now = utcnow()
    last = key.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=now.tzinfo)
    if last is not None and now - last < LAST_USED_RESOLUTION:
        return
    key.last_used_at = now
    session.add(key)
    session.commit()
