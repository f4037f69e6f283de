"""A tenant's model provider credentials (stored encrypted) and default models."""

from __future__ import annotations

from sqlmodel import Session, col, select

from tideflow.platform.db.ids import utcnow
from tideflow.platform.db.model_models import DefaultModel, ProviderCredential


def get_credential(session: Session, tenant_id: str, provider: str) -> ProviderCredential | None:
    """The tenant's row for one provider."""
    query = select(ProviderCredential).where(
        ProviderCredential.tenant_id == tenant_id, ProviderCredential.provider == provider
    )
    return session.exec(query).first()


def list_credentials(session: Session, tenant_id: str) -> list[ProviderCredential]:
    """The tenant's rows, by provider."""
    query = (
        select(ProviderCredential)
        .where(ProviderCredential.tenant_id == tenant_id)
        .order_by(col(ProviderCredential.provider))
    )
    return list(session.exec(query))


def put_credential(
    session: Session, tenant_id: str, provider: str, encrypted: str
) -> ProviderCredential:
    """Create or replace the tenant's (already encrypted) credentials for a provider."""
    row = get_credential(session, tenant_id, provider)
    if row is None:
        row = ProviderCredential(tenant_id=tenant_id, provider=provider, encrypted_credentials="")
    row.encrypted_credentials = encrypted
    row.updated_at = utcnow()
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def delete_credential(session: Session, tenant_id: str, provider: str) -> bool:
    """Remove the tenant's credentials for a provider; False when there were none."""
    row = get_credential(session, tenant_id, provider)
    if row is None:
        return False
    session.delete(row)
    session.commit()
    return True


def list_defaults(
    session: Session, tenant_id: str, model_type: str | None = None
) -> list[DefaultModel]:
    """The tenant's default models (of one type when given), by type."""
    query = select(DefaultModel).where(DefaultModel.tenant_id == tenant_id)
    if model_type is not None:
        query = query.where(DefaultModel.model_type == model_type)
    return list(session.exec(query.order_by(col(DefaultModel.model_type))))


def put_defaults(session: Session, tenant_id: str, entries: list[tuple[str, str, str]]) -> None:
    """Set ``(model_type, provider, model)`` defaults in one transaction; an empty provider or
    model clears that type's default."""
    for model_type, provider, model in entries:
        existing = list_defaults(session, tenant_id, model_type)
        row = existing[0] if existing else None
        if not provider or not model:
            if row is not None:
                session.delete(row)
            continue
        row = row or DefaultModel(tenant_id=tenant_id, model_type=model_type, provider="", model="")
        row.provider, row.model, row.updated_at = provider, model, utcnow()
        session.add(row)
    session.commit()
