"""Workspace keys for the knowledge API (``dataset-...``), as Dify's console manages them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from tideflow.platform.api.deps import CurrentTenant, SessionDep
from tideflow.platform.api.errors import ApiError, not_found
from tideflow.platform.api.routes.console_settings import key_public
from tideflow.platform.api.schemas import ApiKeyPublic
from tideflow.platform.db.crud import keys

router = APIRouter(prefix="/console/api/datasets/api-keys", tags=["console: dataset keys"])

KIND = "dataset"
MAX_DATASET_KEYS = 10


@router.post("", status_code=201)
def create_dataset_key(tenant: CurrentTenant, session: SessionDep) -> ApiKeyPublic:
    """A new ``dataset-...`` key for this workspace; the full token is in this response only."""
    if len(keys.list_tenant_keys(session, tenant.id, KIND)) >= MAX_DATASET_KEYS:
        raise ApiError(
            400, "max_keys_exceeded", f"a workspace has at most {MAX_DATASET_KEYS} dataset keys"
        )
    key, token = keys.create_key(session, tenant.id, None, KIND)
    return key_public(key, token)


@router.get("")
def list_dataset_keys(tenant: CurrentTenant, session: SessionDep) -> dict[str, Any]:
    """The workspace's live dataset keys, shown by prefix."""
    return {"data": [key_public(k) for k in keys.list_tenant_keys(session, tenant.id, KIND)]}


@router.delete("/{key_id}", status_code=204)
def revoke_dataset_key(key_id: str, tenant: CurrentTenant, session: SessionDep) -> Response:
    """Revoke a dataset key."""
    if not keys.revoke_tenant_key(session, tenant.id, KIND, key_id):
        raise not_found("API key")
    return Response(status_code=204)
