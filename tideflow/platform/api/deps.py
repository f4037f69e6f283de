"""FastAPI dependencies, as ``Annotated`` aliases routes declare."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session
from temporalio.client import Client

from tideflow.platform.api.errors import ApiError, not_found
from tideflow.platform.db.crud import accounts, apps, keys
from tideflow.platform.db.models import Account, App, Tenant
from tideflow.platform.db.session import session_scope
from tideflow.platform.rate_limit import RequestWindow, retry_after_header
from tideflow.platform.runs.service import RunService
from tideflow.platform.security import SessionClaims, read_session_token, token_digest
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.temporal_link import TemporalLink

SettingsDep = Annotated[Settings, Depends(get_settings)]


def _session(settings: SettingsDep) -> Iterator[Session]:
    yield from session_scope(settings.db_url)


def _temporal_link(request: Request) -> TemporalLink:
    link: TemporalLink = request.app.state.temporal
    return link


SessionDep = Annotated[Session, Depends(_session)]
TemporalDep = Annotated[TemporalLink, Depends(_temporal_link)]

_console_bearer = HTTPBearer(auto_error=False, scheme_name="ConsoleSession")
_app_bearer = HTTPBearer(auto_error=False, scheme_name="AppKey")
_dataset_bearer = HTTPBearer(auto_error=False, scheme_name="DatasetKey")
_Credentials = HTTPAuthorizationCredentials | None


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message)


def _claims(
    settings: SettingsDep, credentials: Annotated[_Credentials, Depends(_console_bearer)]
) -> SessionClaims:
    if credentials is None:
        raise _unauthorized("log in first: Authorization: Bearer <access_token>")
    claims = read_session_token(
        credentials.credentials, settings.secret_key, settings.secret_key_previous
    )
    if claims is None:
        raise _unauthorized("the session token is invalid or has expired")
    return claims


_ClaimsDep = Annotated[SessionClaims, Depends(_claims)]


def _current_account(session: SessionDep, claims: _ClaimsDep) -> Account:
    account = accounts.member_account(session, claims.account_id, claims.tenant_id)
    if account is None:
        raise _unauthorized("the account is no longer a member of this workspace")
    return account


CurrentAccount = Annotated[Account, Depends(_current_account)]


def _current_tenant(session: SessionDep, claims: _ClaimsDep, _account: CurrentAccount) -> Tenant:
    tenant = session.get(Tenant, claims.tenant_id)
    if tenant is None:
        raise _unauthorized("the workspace no longer exists")
    return tenant


CurrentTenant = Annotated[Tenant, Depends(_current_tenant)]


def _tenant_app(session: SessionDep, tenant: CurrentTenant, app_id: str) -> App:
    app = apps.get_app(session, tenant.id, app_id)
    if app is None:
        raise not_found("app")
    return app


TenantApp = Annotated[App, Depends(_tenant_app)]
"""The ``{app_id}`` of a console path, when it belongs to the caller's tenant (else 404)."""


_window_lock = threading.Lock()


def _limit_key_rate(request: Request, settings: Settings, token: str) -> None:
    """429 once the key made TIDEFLOW_API_RATE_LIMIT_PER_MINUTE requests in the last minute."""
    limit = settings.api_rate_limit_per_minute
    if limit <= 0:
        return
    # One window per API instance (app.state), so each test's app counts from zero.
    with _window_lock:
        window: RequestWindow | None = getattr(request.app.state, "key_request_window", None)
        if window is None:
            window = request.app.state.key_request_window = RequestWindow()
    wait_s = window.admit(token_digest(token), limit)
    if wait_s is not None:
        # Rendered by the HTTPException handler as Dify's {code: too_many_requests, ...}.
        raise HTTPException(
            429,
            f"Too many requests. Please try again later. (this API key's limit: {limit} "
            "requests per minute)",
            headers={"Retry-After": retry_after_header(wait_s)},
        )


def _current_app(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    credentials: Annotated[_Credentials, Depends(_app_bearer)],
) -> App:
    if credentials is None:
        raise _unauthorized("Authorization: Bearer app-... is missing")
    app = keys.app_for_token(session, credentials.credentials)
    if app is None:
        raise _unauthorized("invalid or revoked API key")
    _limit_key_rate(request, settings, credentials.credentials)
    return app


CurrentApp = Annotated[App, Depends(_current_app)]
"""The app a service API key (``app-...``) belongs to."""


def _dataset_tenant(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    credentials: Annotated[_Credentials, Depends(_dataset_bearer)],
) -> Tenant:
    if credentials is None:
        raise _unauthorized("Authorization: Bearer dataset-... is missing")
    tenant_id = keys.tenant_for_dataset_token(session, credentials.credentials)
    tenant = session.get(Tenant, tenant_id) if tenant_id is not None else None
    if tenant is None:
        raise _unauthorized("invalid or revoked knowledge API key (dataset-...)")
    _limit_key_rate(request, settings, credentials.credentials)
    return tenant


DatasetTenant = Annotated[Tenant, Depends(_dataset_tenant)]
"""The workspace a knowledge API key (``dataset-...``) belongs to."""


def _temporal_client(link: TemporalDep) -> Client:
    if link.client is None:
        raise ApiError(503, "service_unavailable", "Temporal is not reachable yet; retry shortly")
    return link.client


TemporalClientDep = Annotated[Client, Depends(_temporal_client)]


def _run_service(request: Request) -> RunService:
    service: RunService = request.app.state.runs
    return service


RunServiceDep = Annotated[RunService, Depends(_run_service)]
