"""Console model providers: a workspace's provider credentials and its default models.

Any member may read (secrets masked as ``[__HIDDEN__]``); only an owner or admin may change
them (Dify's rule). Credentials are checked with one cheap model call run by a worker
(``CheckModelCredentialsWorkflow``) before they are saved, encrypted.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlmodel import select
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import FailureError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.service import RPCError

from tideflow.activities.llm.models import CredentialCheck
from tideflow.platform import model_credentials
from tideflow.platform.api.deps import (
    CurrentAccount,
    CurrentTenant,
    SessionDep,
    SettingsDep,
    TemporalClientDep,
)
from tideflow.platform.api.errors import ApiError, invalid_param, not_found
from tideflow.platform.api.model_schemas import (
    CredentialsBody,
    DefaultModelPublic,
    DefaultModelsBody,
    DefaultModelType,
    ProviderBrief,
    ProviderPublic,
)
from tideflow.platform.db.crud import model_providers
from tideflow.platform.db.models import Tenant, TenantMember
from tideflow.platform.task_queues import activity_queues
from tideflow.plugins.model_providers import (
    ProviderSpec,
    UnknownProviderError,
    known_providers,
    provider_spec,
)

router = APIRouter(prefix="/console/api/workspaces/current", tags=["console: model providers"])
# The check's own limit is 30 s (``CheckModelCredentialsWorkflow``); this bounds the wait.
CHECK_WORKFLOW_TIMEOUT = timedelta(seconds=45)
MANAGER_ROLES = ("owner", "admin")


def _manager(session: SessionDep, tenant: CurrentTenant, account: CurrentAccount) -> Tenant:
    """The tenant, when the caller is its owner or an admin (403 otherwise)."""
    member = session.exec(
        select(TenantMember).where(
            TenantMember.tenant_id == tenant.id, TenantMember.account_id == account.id
        )
    ).first()
    if member is None or member.role not in MANAGER_ROLES:
        raise ApiError(403, "forbidden", "only the workspace owner or an admin can do this")
    return tenant


ManagedTenant = Annotated[Tenant, Depends(_manager)]


def _spec(provider: str) -> ProviderSpec:
    try:
        return provider_spec(provider)
    except UnknownProviderError as exc:
        raise ApiError(404, "provider_not_found", str(exc)) from None


def _secret_fields(spec: ProviderSpec) -> list[str]:
    return [f.name for f in spec.credential_fields if f.secret]


@router.get("/model-providers")
def list_providers(
    session: SessionDep, tenant: CurrentTenant, settings: SettingsDep
) -> dict[str, Any]:
    """Every known provider, with the workspace's credentials (secrets masked) when it has some."""
    stored = model_credentials.configured_providers(session, tenant.id, settings.secret_key)
    return {
        "data": [
            _public(spec, stored.get(spec.id), unreadable=spec.id in stored and not stored[spec.id])
            for spec in known_providers()
        ]
    }


def _public(
    spec: ProviderSpec, credentials: Mapping[str, Any] | None, *, unreadable: bool = False
) -> ProviderPublic:
    masked = (
        model_credentials.mask_credentials(credentials, _secret_fields(spec))
        if credentials is not None
        else None
    )
    public = ProviderPublic.of(spec, masked)
    if unreadable:
        public.error = UNREADABLE
    return public


# Stored credentials the current TIDEFLOW_SECRET_KEY cannot decrypt.
UNREADABLE = (
    "the stored credentials cannot be decrypted (was TIDEFLOW_SECRET_KEY changed?); save them again"
)


@router.get("/model-providers/{provider:path}/credentials")
def get_credentials(
    provider: str, session: SessionDep, tenant: CurrentTenant, settings: SettingsDep
) -> dict[str, Any]:
    """The workspace's credentials for a provider, secrets masked (``{}`` when none)."""
    spec = _spec(provider)
    try:
        stored = model_credentials.stored_credentials(
            session, tenant.id, spec.id, settings.secret_key
        )
    except ValueError:
        raise ApiError(409, "credentials_unreadable", f"{spec.label}: {UNREADABLE}") from None
    masked = model_credentials.mask_credentials(stored or {}, _secret_fields(spec))
    return {"credentials": masked}


@router.post("/model-providers/{provider:path}/credentials", status_code=201)
async def save_credentials(
    provider: str,
    body: CredentialsBody,
    session: SessionDep,
    tenant: ManagedTenant,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> dict[str, Any]:
    """Check the credentials with one model call, then save them encrypted.

    A secret sent back as ``[__HIDDEN__]`` keeps its stored value. 400 naming the field when a
    required one is missing or one is not the provider's; 400 with the provider's message when
    the check fails.
    """
    spec = _spec(provider)
    # Unreadable stored credentials are replaced: only a secret sent in full can be saved.
    stored = model_credentials.readable_credentials(
        session, tenant.id, spec.id, settings.secret_key
    )
    try:
        credentials = model_credentials.merge_hidden(body.credentials, stored, _secret_fields(spec))
    except ValueError as exc:
        raise invalid_param(str(exc)) from None
    credentials = _checked_form(spec, credentials)
    check = CredentialCheck(
        provider=spec.id,
        sealed_credentials=model_credentials.seal(credentials, settings.secret_key),
        model=_check_model(spec, body, credentials),
        activity_queues=activity_queues(settings),
    )
    await _run_check(client, settings.task_queue, tenant.id, check)
    model_credentials.save_credentials(
        session, tenant.id, spec.id, credentials, settings.secret_key
    )
    return {"result": "success"}


def _checked_form(spec: ProviderSpec, credentials: Mapping[str, Any]) -> dict[str, Any]:
    """The credentials without empty values; 400 naming a bad, unknown or missing field."""
    fields = {f.name: f for f in spec.credential_fields}
    unknown = sorted(set(credentials) - set(fields))
    if unknown:
        raise invalid_param(
            f"credentials.{unknown[0]}: not a credential of provider {spec.id} "
            f"(it takes {', '.join(fields)})"
        )
    clean: dict[str, Any] = {}
    for name, value in credentials.items():
        if value is None or value == "":
            continue
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise invalid_param(f"credentials.{name}: expected a string")
        clean[name] = str(value).strip()
    for field in spec.credential_fields:
        if field.required and not clean.get(field.name):
            raise invalid_param(f"credentials.{field.name} is required by provider {spec.id}")
    return clean


def _check_model(spec: ProviderSpec, body: CredentialsBody, credentials: Mapping[str, Any]) -> str:
    """The model the check calls; 400 when neither the body, the provider nor the
    credentials name one."""
    model = (body.model or "").strip() or spec.check_model
    if model or (spec.model_field and credentials.get(spec.model_field)):
        return model or str(credentials[spec.model_field])
    raise invalid_param(f"model: provider {spec.id} has no default model to check with; give one")


async def _run_check(
    client: Client, task_queue: str, tenant_id: str, check: CredentialCheck
) -> None:
    """Run ``CheckModelCredentialsWorkflow`` to its end; 400 with the provider's message when
    the credentials do not work."""
    try:
        await client.execute_workflow(
            "CheckModelCredentialsWorkflow",
            check,
            id=f"check-credentials-{tenant_id}-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=CHECK_WORKFLOW_TIMEOUT,
        )
    except WorkflowFailureError as err:
        raise check_failure(err) from None
    except RPCError as err:
        raise ApiError(503, "service_unavailable", f"could not run the check: {err}") from None


def check_failure(err: WorkflowFailureError) -> ApiError:
    """400 with the provider's message; 503 when the check ran out of time (no worker took
    it, or the provider did not answer), which says nothing about the credentials."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, TemporalTimeoutError):
            message = (
                "the credentials check did not finish in time: is a worker running, and is the "
                f"provider reachable? ({_root_message(err)})"
            )
            return ApiError(503, "service_unavailable", message)
        cause = cause.__cause__
    message = f"the credentials check failed: {_root_message(err)}"
    return ApiError(400, "provider_credentials_invalid", message)


def _root_message(err: BaseException) -> str:
    """The innermost cause's message (the activity's error, or a timeout)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return (err.message if isinstance(err, FailureError) else str(err)) or type(err).__name__


@router.delete("/model-providers/{provider:path}/credentials", status_code=204)
def delete_credentials(provider: str, session: SessionDep, tenant: ManagedTenant) -> Response:
    """Remove the workspace's credentials for a provider (404 when it has none)."""
    spec = _spec(provider)
    if not model_credentials.delete_credentials(session, tenant.id, spec.id):
        raise not_found(f"credentials of provider {spec.id}")
    return Response(status_code=204)


@router.get("/default-model")
def get_default_model(
    model_type: DefaultModelType, session: SessionDep, tenant: CurrentTenant
) -> dict[str, Any]:
    """The workspace's default model of a type (``data`` is null when none is set)."""
    rows = model_providers.list_defaults(session, tenant.id, model_type)
    if not rows:
        return {"data": None}
    row = rows[0]
    spec = provider_spec(row.provider)
    brief = ProviderBrief(
        provider=spec.id, label={"en_US": spec.label}, supported_model_types=list(spec.model_types)
    )
    return {"data": DefaultModelPublic(model=row.model, model_type=row.model_type, provider=brief)}


@router.post("/default-model")
def set_default_models(
    body: DefaultModelsBody, session: SessionDep, tenant: ManagedTenant
) -> dict[str, Any]:
    """Set default models; 400 naming the entry whose provider is unknown or lacks the type."""
    entries: list[tuple[str, str, str]] = []
    for index, setting in enumerate(body.model_settings):
        if setting.provider is None:  # Dify skips entries without a provider
            continue
        where = f"model_settings[{index}]"
        try:
            spec = provider_spec(setting.provider)
        except UnknownProviderError as exc:
            raise invalid_param(f"{where}.provider: {exc}") from None
        if setting.model_type in ("llm", "text-embedding", "rerank") and (
            setting.model_type not in spec.model_types
        ):
            raise invalid_param(
                f"{where}.model_type: provider {spec.id} has no {setting.model_type} models"
            )
        if not setting.model.strip():
            raise invalid_param(f"{where}.model: a model name is required")
        entries.append((setting.model_type, spec.id, setting.model.strip()))
    model_providers.put_defaults(session, tenant.id, entries)
    return {"result": "success"}
