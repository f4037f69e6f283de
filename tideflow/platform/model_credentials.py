"""A tenant's model provider credentials: encrypted at rest, in clear only for a model call.

The credentials of one provider are stored as one Fernet-encrypted JSON object
(``ProviderCredential.encrypted_credentials``, keyed by ``TIDEFLOW_SECRET_KEY``). The
``llm_invoke`` activity reads them with ``load_credentials``; the console API saves, masks and
deletes them through the other helpers here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlmodel import Session

from tideflow.platform.db.crud import model_providers
from tideflow.platform.db.model_models import ProviderCredential
from tideflow.platform.db.session import get_engine
from tideflow.platform.security import HIDDEN_VALUE, decrypt_secret, encrypt_secret
from tideflow.platform.settings import get_settings
from tideflow.plugins.model_providers import provider_spec


def canonical_provider(provider: str) -> str:
    """The provider id credentials are stored under, whatever name the caller used
    (``langgenius/openai/openai``, ``google``...). Raises UnknownProviderError naming it."""
    return provider_spec(provider).id


def load_credentials(
    db_url: str, tenant_id: str, provider_id: str, secret_key: str | None = None
) -> dict[str, Any] | None:
    """The tenant's decrypted credentials for a provider; None when the tenant has none.

    ``secret_key`` defaults to the process settings' (the worker's and the API's must match).
    Raises ValueError when the stored value cannot be decrypted (the secret key changed), and
    UnknownProviderError (a ValueError) for a provider no built-in one answers to.
    """
    with Session(get_engine(db_url)) as session:
        row = model_providers.get_credential(session, tenant_id, canonical_provider(provider_id))
        if row is None:
            return None
        return decrypt_credentials(row, secret_key or get_settings().secret_key)


def decrypt_credentials(row: ProviderCredential, secret_key: str) -> dict[str, Any]:
    """A stored row's credentials in clear."""
    return unseal(row.encrypted_credentials, secret_key, f"provider {row.provider}")


def seal(credentials: Mapping[str, Any], secret_key: str) -> str:
    """Credentials encrypted as they are stored (for a payload that Temporal records)."""
    return encrypt_secret(json.dumps(dict(credentials), separators=(",", ":")), secret_key)


def unseal(sealed: str, secret_key: str, what: str = "sealed") -> dict[str, Any]:
    """The clear credentials of ``seal``; ValueError when the key differs or it is no object."""
    raw: object = json.loads(decrypt_secret(sealed, secret_key))
    if not isinstance(raw, dict):
        raise ValueError(f"{what} credentials are not an object")
    return cast(dict[str, Any], raw)


def merge_hidden(
    submitted: Mapping[str, Any], stored: Mapping[str, Any] | None, secret_fields: Iterable[str]
) -> dict[str, Any]:
    """The credentials to save: a secret field sent back as ``[__HIDDEN__]`` keeps its stored
    value (Dify's rule). Raises ValueError naming the field when nothing is stored for it."""
    merged = dict(submitted)
    for name in secret_fields:
        if merged.get(name) != HIDDEN_VALUE:
            continue
        if stored is None or name not in stored:
            raise ValueError(f"credentials.{name}: {HIDDEN_VALUE} given but no value is stored")
        merged[name] = stored[name]
    return merged


def mask_credentials(
    credentials: Mapping[str, Any], secret_fields: Iterable[str]
) -> dict[str, Any]:
    """The credentials as the console shows them: every non-empty secret is the mask."""
    secrets = set(secret_fields)
    return {
        name: HIDDEN_VALUE if name in secrets and value not in (None, "") else value
        for name, value in credentials.items()
    }


def save_credentials(
    session: Session, tenant_id: str, provider: str, credentials: Mapping[str, Any], secret_key: str
) -> ProviderCredential:
    """Encrypt and store (create or replace) the tenant's credentials for a provider."""
    encrypted = seal(credentials, secret_key)
    return model_providers.put_credential(
        session, tenant_id, canonical_provider(provider), encrypted
    )


def stored_credentials(
    session: Session, tenant_id: str, provider: str, secret_key: str
) -> dict[str, Any] | None:
    """The tenant's credentials for a provider in clear, within a request's session."""
    row = model_providers.get_credential(session, tenant_id, canonical_provider(provider))
    return decrypt_credentials(row, secret_key) if row is not None else None


def delete_credentials(session: Session, tenant_id: str, provider: str) -> bool:
    """Remove the tenant's credentials for a provider; False when there were none."""
    return model_providers.delete_credential(session, tenant_id, canonical_provider(provider))


def readable_credentials(
    session: Session, tenant_id: str, provider: str, secret_key: str
) -> dict[str, Any] | None:
    """``stored_credentials``, but None when they cannot be decrypted (the secret key changed:
    new credentials replace them)."""
    try:
        return stored_credentials(session, tenant_id, provider, secret_key)
    except ValueError:
        return None


def configured_providers(
    session: Session, tenant_id: str, secret_key: str
) -> dict[str, dict[str, Any] | None]:
    """Every provider the tenant has credentials for, with them in clear (callers mask); None
    for credentials that cannot be decrypted (TIDEFLOW_SECRET_KEY changed since they were
    saved)."""
    configured: dict[str, dict[str, Any] | None] = {}
    for row in model_providers.list_credentials(session, tenant_id):
        try:
            configured[row.provider] = decrypt_credentials(row, secret_key)
        except ValueError:
            configured[row.provider] = None
    return configured
