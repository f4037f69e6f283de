"""Where a model call goes: the gateway when one is set, else the tenant's stored credentials.

Shared by every activity that calls a model (``llm_invoke``, embeddings, rerank), so the rules
(and their messages) are the same everywhere. Credentials are read here, in the activity, and
never travel in a request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.exceptions import ApplicationError

from tideflow.activities.ssrf import SSRFBlockedError, check_model_endpoint
from tideflow.platform.model_credentials import load_credentials
from tideflow.platform.settings import Settings
from tideflow.plugins.model_providers import (
    ModelType,
    ProviderSpec,
    UnknownProviderError,
    gateway_call_args,
    litellm_call_args,
    provider_spec,
)


def bad_request(message: str, error_type: str = "ModelBadRequest") -> ApplicationError:
    """A non-retryable failure: the request or the configuration is wrong."""
    return ApplicationError(message, type=error_type, non_retryable=True)


def spec_for(provider: str) -> ProviderSpec:
    """The provider's spec; a non-retryable ``UnknownModelProvider`` naming it otherwise."""
    try:
        return provider_spec(provider)
    except UnknownProviderError as exc:
        raise bad_request(str(exc), "UnknownModelProvider") from None


async def model_route(
    settings: Settings,
    tenant_id: str,
    provider: str,
    model: str,
    model_type: ModelType = "llm",
) -> tuple[str, dict[str, Any]]:
    """litellm's model string and connection arguments for one call."""
    if settings.model_gateway_url:
        return gateway_call_args(settings.model_gateway_url, settings.model_gateway_key, model)
    spec = spec_for(provider)
    try:
        credentials = await asyncio.to_thread(load_credentials, settings.db_url, tenant_id, spec.id)
    except ValueError as exc:  # stored under another TIDEFLOW_SECRET_KEY: saving them fixes it
        raise bad_request(
            f"model provider {spec.label}: the workspace's stored credentials: {exc}; save them "
            "again on the console's Settings > Model providers page",
            "ModelProviderNotConfigured",
        ) from None
    if credentials is None:
        raise bad_request(
            f"model provider {spec.label} ({provider}) is not configured for this "
            f"workspace (tenant {tenant_id or '-'}): add its credentials on the "
            "console's Settings > Model providers page",
            "ModelProviderNotConfigured",
        )
    try:
        call = litellm_call_args(spec, model, credentials, model_type)
    except ValueError as exc:  # a stored credential litellm cannot take
        raise bad_request(f"model provider {spec.label}: {exc}") from None
    await guard_endpoint(spec, call[1], settings)
    return call


async def guard_endpoint(spec: ProviderSpec, kwargs: dict[str, Any], settings: Settings) -> None:
    """The SSRF guard on a workspace-chosen base URL (the operator's gateway is trusted and
    never comes here): a non-retryable ``SSRFBlocked`` naming the credential field."""
    names = {f.litellm_arg: f.name for f in spec.credential_fields if f.litellm_arg}
    try:
        await check_model_endpoint(kwargs, settings, names)
    except SSRFBlockedError as exc:
        raise bad_request(f"model provider {spec.label}: {exc}", "SSRFBlocked") from None
