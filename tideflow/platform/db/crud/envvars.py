"""An app's environment variables; secret values are encrypted here and nowhere in clear."""

from __future__ import annotations

from sqlmodel import Session, col, select

from tideflow.platform.db.models import App, AppEnvironmentVariable, utcnow
from tideflow.platform.security import HIDDEN_VALUE, decrypt_secret, encrypt_secret


def list_env(session: Session, app: App) -> list[AppEnvironmentVariable]:
    """The app's variables by name."""
    query = (
        select(AppEnvironmentVariable)
        .where(AppEnvironmentVariable.app_id == app.id)
        .order_by(col(AppEnvironmentVariable.name))
    )
    return list(session.exec(query))


def get_env(session: Session, app: App, var_id: str) -> AppEnvironmentVariable | None:
    """One of the app's variables."""
    var = session.get(AppEnvironmentVariable, var_id)
    return var if var is not None and var.app_id == app.id else None


def set_env(
    session: Session,
    app: App,
    *,
    name: str,
    value_type: str,
    value: str,
    description: str,
    secret_key: str,
    existing: AppEnvironmentVariable | None = None,
) -> AppEnvironmentVariable:
    """Create or update a variable. A secret sent back as the mask keeps its stored value."""
    var = existing or AppEnvironmentVariable(app_id=app.id, name=name, value_type=value_type)
    keep = existing is not None and value == HIDDEN_VALUE and existing.value_type == "secret"
    if not keep:
        var.value = encrypt_secret(value, secret_key) if value_type == "secret" else value
    elif value_type != "secret":
        var.value = decrypt_secret(var.value, secret_key)
    var.name, var.value_type, var.description = name, value_type, description
    var.updated_at = utcnow()
    session.add(var)
    session.commit()
    session.refresh(var)
    return var


def replace_env(
    session: Session, app: App, variables: list[tuple[str, str, str]], secret_key: str
) -> None:
    """Replace all of the app's variables with ``(name, value_type, clear value)`` triples."""
    for var in list_env(session, app):
        session.delete(var)
    session.flush()
    for name, value_type, value in variables:
        stored = encrypt_secret(value, secret_key) if value_type == "secret" else value
        session.add(
            AppEnvironmentVariable(app_id=app.id, name=name, value_type=value_type, value=stored)
        )
    session.commit()


def delete_env(session: Session, var: AppEnvironmentVariable) -> None:
    """Remove a variable."""
    session.delete(var)
    session.commit()


def clear_value(var: AppEnvironmentVariable, secret_key: str) -> str:
    """The variable's value in clear (for a run)."""
    return decrypt_secret(var.value, secret_key) if var.value_type == "secret" else var.value
