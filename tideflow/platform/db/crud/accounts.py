"""Accounts, tenants and memberships; the owner created on first start."""

from __future__ import annotations

import secrets

from sqlmodel import Session, select

from tideflow.platform.db.models import Account, Tenant, TenantMember
from tideflow.platform.security import hash_password, verify_password

ROLES = ("owner", "admin", "editor")


def create_tenant_with_owner(
    session: Session, *, tenant_name: str, email: str, password: str, name: str = ""
) -> tuple[Tenant, Account]:
    """A new tenant whose owner is a new account."""
    tenant = Tenant(name=tenant_name)
    account = Account(
        email=email.lower(), name=name or email.split("@")[0], password_hash=hash_password(password)
    )
    session.add(tenant)
    session.add(account)
    session.flush()
    session.add(TenantMember(tenant_id=tenant.id, account_id=account.id, role="owner"))
    session.commit()
    return tenant, account


def ensure_owner(session: Session, email: str, password: str | None) -> str | None:
    """Create the first tenant and its owner when no account exists.

    Returns the generated password when one had to be made up (to be shown once), else None.
    """
    if session.exec(select(Account).limit(1)).first() is not None:
        return None
    generated = None if password else secrets.token_urlsafe(12)
    create_tenant_with_owner(
        session, tenant_name="Default workspace", email=email, password=password or generated or ""
    )
    return generated


def authenticate(session: Session, email: str, password: str) -> tuple[Account, str] | None:
    """The account and its first tenant's id when the password matches."""
    account = session.exec(select(Account).where(Account.email == email.lower())).first()
    if account is None or not verify_password(password, account.password_hash):
        return None
    member = session.exec(
        select(TenantMember)
        .where(TenantMember.account_id == account.id)
        .order_by(TenantMember.created_at)  # pyright: ignore[reportArgumentType]
    ).first()
    if member is None:
        return None
    return account, member.tenant_id


def member_account(session: Session, account_id: str, tenant_id: str) -> Account | None:
    """The account when it is (still) a member of the tenant."""
    member = session.exec(
        select(TenantMember).where(
            TenantMember.account_id == account_id, TenantMember.tenant_id == tenant_id
        )
    ).first()
    return session.get(Account, account_id) if member is not None else None
