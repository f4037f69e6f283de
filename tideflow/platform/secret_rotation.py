"""``tideflow rotate-secrets``: re-encrypt every secret at rest with the current key.

The columns below are every place the app database keeps a ``security.encrypt_secret``
value. Rows the current key already opens are left as they are, so a second run changes
nothing; rows no key opens stop the whole rotation (one transaction, nothing written) and are
named, so an operator can restore the missing key to TIDEFLOW_SECRET_KEY_PREVIOUS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import InvalidToken
from sqlmodel import Session, SQLModel, col, select

from tideflow.platform.db.models import (
    AppEnvironmentVariable,
    ProviderCredential,
    ToolProviderRecord,
    WebhookTrigger,
)
from tideflow.platform.db.session import get_engine
from tideflow.platform.security import secret_keyring


@dataclass(frozen=True)
class EncryptedColumn:
    """A column holding ``encrypt_secret`` values (``only``: rows where it does)."""

    model: type[SQLModel]
    attribute: str
    only: Any = None

    @property
    def table(self) -> str:
        """The table's name, as the report shows it."""
        return str(self.model.__table__.name)  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType, reportUnknownArgumentType]


ENCRYPTED_COLUMNS = (
    EncryptedColumn(ProviderCredential, "encrypted_credentials"),
    EncryptedColumn(ToolProviderRecord, "encrypted_credentials"),
    EncryptedColumn(
        AppEnvironmentVariable, "value", col(AppEnvironmentVariable.value_type) == "secret"
    ),
    EncryptedColumn(WebhookTrigger, "encrypted_secret"),
)


@dataclass
class RotationReport:
    """Per table: values re-encrypted, and values already under the current key."""

    rotated: dict[str, int] = field(default_factory=dict[str, int])
    current: dict[str, int] = field(default_factory=dict[str, int])


class RotationError(Exception):
    """Some stored values open with none of the keys; nothing was changed."""


def rotate_secrets(db_url: str, secret_key: str, previous: Sequence[str]) -> RotationReport:
    """Re-encrypt with ``secret_key`` every stored secret that ``previous`` keys made, in one
    transaction. Raises RotationError naming the unreadable rows (and writes nothing)."""
    current_only = secret_keyring(secret_key, ())
    keyring = secret_keyring(secret_key, previous)
    report = RotationReport()
    unreadable: list[str] = []
    with Session(get_engine(db_url)) as session:
        for column in ENCRYPTED_COLUMNS:
            query = select(column.model).with_for_update()
            if column.only is not None:
                query = query.where(column.only)
            rotated = current = 0
            for row in session.exec(query):
                token: str | None = getattr(row, column.attribute)
                if not token:  # no secret stored (an API tool without auth, an unsigned hook)
                    continue
                try:
                    current_only.decrypt(token.encode())
                    current += 1
                    continue
                except InvalidToken:
                    pass
                try:
                    setattr(row, column.attribute, keyring.rotate(token.encode()).decode())
                except InvalidToken:
                    unreadable.append(f"{column.table} {getattr(row, 'id', '?')}")
                    continue
                session.add(row)
                rotated += 1
            report.rotated[column.table], report.current[column.table] = rotated, current
        if unreadable:
            session.rollback()
            raise RotationError(
                "no key in TIDEFLOW_SECRET_KEY or TIDEFLOW_SECRET_KEY_PREVIOUS opens: "
                + ", ".join(unreadable)
                + "; nothing was changed"
            )
        session.commit()
    return report
