"""``POST /console/api/login``: a signed, expiring session token for the console."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from tideflow.platform.api.deps import CurrentAccount, CurrentTenant, SessionDep, SettingsDep
from tideflow.platform.api.errors import ApiError
from tideflow.platform.api.schemas import LoginBody
from tideflow.platform.db.crud import accounts
from tideflow.platform.security import SessionClaims, issue_session_token

router = APIRouter(prefix="/console/api", tags=["console: auth"])


@router.post("/login")
def login(body: LoginBody, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """Exchange email and password for ``access_token`` (send as ``Authorization: Bearer``)."""
    found = accounts.authenticate(session, body.email, body.password)
    if found is None:
        raise ApiError(401, "unauthorized", "wrong email or password")
    account, tenant_id = found
    expires_at = int(time.time()) + settings.session_ttl_s
    token = issue_session_token(
        SessionClaims(account.id, tenant_id, expires_at), settings.secret_key
    )
    return {"result": "success", "data": {"access_token": token, "expires_at": expires_at}}


@router.get("/account/profile")
def profile(account: CurrentAccount, tenant: CurrentTenant) -> dict[str, Any]:
    """Who the session token speaks for."""
    return {
        "id": account.id,
        "email": account.email,
        "name": account.name,
        "tenant": {"id": tenant.id, "name": tenant.name},
    }
