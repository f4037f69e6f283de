"""Console app settings: environment variables (secrets masked) and service API keys."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Response

from tideflow.platform.api.deps import SessionDep, SettingsDep, TenantApp
from tideflow.platform.api.errors import ApiError, invalid_param, not_found
from tideflow.platform.api.schemas import ApiKeyPublic, EnvVarBody, EnvVarPublic
from tideflow.platform.db.crud import envvars, keys
from tideflow.platform.db.models import ApiKey
from tideflow.platform.runs.views import unix
from tideflow.platform.security import HIDDEN_VALUE

router = APIRouter(prefix="/console/api/apps/{app_id}", tags=["console: app settings"])
MAX_APP_KEYS = 10


@router.get("/environment-variables")
def list_env(app: TenantApp, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """The app's variables."""
    rows = envvars.list_env(session, app)
    return {"data": [EnvVarPublic.of(v, envvars.clear_value(v, settings.secret_key)) for v in rows]}


def _checked_value(body: EnvVarBody) -> str:
    """The value as stored; 400 naming the variable when a number's value is not one."""
    value = str(body.value)
    if body.value_type == "number":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise invalid_param(f"{body.name}: {value!r} is not a number")
    return value


@router.post("/environment-variables", status_code=201)
def create_env(
    body: EnvVarBody, app: TenantApp, session: SessionDep, settings: SettingsDep
) -> EnvVarPublic:
    """A new variable (409 when the name is taken)."""
    value = _checked_value(body)
    if any(v.name == body.name for v in envvars.list_env(session, app)):
        raise ApiError(409, "conflict", f"environment variable {body.name} exists")
    var = envvars.set_env(
        session,
        app,
        name=body.name,
        value_type=body.value_type,
        value=value,
        description=body.description,
        secret_key=settings.secret_key,
    )
    return EnvVarPublic.of(var, value)


@router.patch("/environment-variables/{var_id}")
def update_env(
    var_id: str, body: EnvVarBody, app: TenantApp, session: SessionDep, settings: SettingsDep
) -> EnvVarPublic:
    """Change a variable; a secret sent back as ``[__HIDDEN__]`` keeps its value."""
    existing = envvars.get_env(session, app, var_id)
    if existing is None:
        raise not_found("environment variable")
    keeps_secret = existing.value_type == "secret" and str(body.value) == HIDDEN_VALUE
    value = str(body.value) if keeps_secret else _checked_value(body)
    if any(v.name == body.name and v.id != existing.id for v in envvars.list_env(session, app)):
        raise ApiError(409, "conflict", f"environment variable {body.name} exists")
    var = envvars.set_env(
        session,
        app,
        name=body.name,
        value_type=body.value_type,
        value=value,
        description=body.description,
        secret_key=settings.secret_key,
        existing=existing,
    )
    return EnvVarPublic.of(var, envvars.clear_value(var, settings.secret_key))


@router.delete("/environment-variables/{var_id}", status_code=204)
def delete_env(var_id: str, app: TenantApp, session: SessionDep) -> Response:
    """Remove a variable."""
    var = envvars.get_env(session, app, var_id)
    if var is None:
        raise not_found("environment variable")
    envvars.delete_env(session, var)
    return Response(status_code=204)


def key_public(key: ApiKey, token: str | None = None) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=key.id,
        type=key.kind,
        token=token or f"{key.prefix}...",
        created_at=unix(key.created_at),
        last_used_at=unix(key.last_used_at),
    )


@router.post("/api-keys", status_code=201)
def create_key(app: TenantApp, session: SessionDep) -> ApiKeyPublic:
    """A new ``app-...`` key; the full token is in this response only."""
    if len(keys.list_app_keys(session, app)) >= MAX_APP_KEYS:
        raise ApiError(400, "max_keys_exceeded", f"an app has at most {MAX_APP_KEYS} keys")
    key, token = keys.create_key(session, app.tenant_id, app.id, "app")
    return key_public(key, token)


@router.get("/api-keys")
def list_keys(app: TenantApp, session: SessionDep) -> dict[str, Any]:
    """The app's live keys, shown by prefix."""
    return {"data": [key_public(k) for k in keys.list_app_keys(session, app)]}


@router.delete("/api-keys/{key_id}", status_code=204)
def revoke_key(key_id: str, app: TenantApp, session: SessionDep) -> Response:
    """Revoke a key: it answers 401 from now on."""
    if not keys.revoke_app_key(session, app, key_id):
        raise not_found("API key")
    return Response(status_code=204)
