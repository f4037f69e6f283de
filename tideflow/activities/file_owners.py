"""Which workspace (tenant) owns a stored file: the record that makes file reads tenant-scoped.

Each stored file ``<id>`` has a sidecar ``<id>.owner`` holding its tenant id, written before
the bytes (so no stored bytes are ever without an owner). Runs without a workspace (the local
CLI) own their files under the empty tenant id. Files stored before owner records existed are
looked up once in the app DB (uploads and knowledge documents name their tenant; reading it
from an activity is allowed, only the API writes it) and get their sidecar then.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, or_, select

from tideflow.platform.db.chat_models import UploadFile
from tideflow.platform.db.knowledge_models import DatasetDocument
from tideflow.platform.db.session import get_engine

OWNER_SUFFIX = ".owner"


class OwnerLookupError(Exception):
    """The app DB could not say who owns a file stored before owner records (retry later)."""


def owner_path(path: Path) -> Path:
    """The owner record beside the stored file at ``path`` (ids have no dots: no clash)."""
    return path.with_name(path.name + OWNER_SUFFIX)


def write_owner(path: Path, tenant_id: str) -> None:
    """Record ``tenant_id`` as the owner of the file stored (or about to be) at ``path``."""
    owner_path(path).write_text(tenant_id, encoding="utf-8")


def read_owner(path: Path) -> str | None:
    """The tenant id recorded for ``path``; None when there is no owner record."""
    try:
        return owner_path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def legacy_owner(related_id: str, db_url: str) -> str | None:
    """The tenant of a file stored before owner records, from the app DB rows naming it.

    None when no upload or knowledge document names ``related_id`` (or the DB has no such
    tables, as in a local run): such a file has no owner and is refused.
    """
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return None  # no app DB here (a local run): nothing to look up, and none to create
    try:
        engine = get_engine(db_url)
        if not inspect(engine).has_table(str(UploadFile.__table__.name)):  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType, reportUnknownArgumentType]
            return None  # an app DB never migrated (a local run's): no rows to name it
        with Session(engine) as session:
            upload = session.exec(
                select(UploadFile.tenant_id).where(UploadFile.store_id == related_id)
            ).first()
            if upload is not None:
                return upload
            return session.exec(
                select(DatasetDocument.tenant_id).where(
                    or_(
                        col(DatasetDocument.source_store_id) == related_id,
                        col(DatasetDocument.parsed_store_id) == related_id,
                    )
                )
            ).first()
    except SQLAlchemyError as exc:
        # Not "no owner": that refusal is final, and a database blip must not fail the run.
        raise OwnerLookupError(f"the app database could not be read ({exc})") from exc


def file_owner(path: Path, related_id: str, db_url: str) -> str | None:
    """The owner of the stored file at ``path``: its record, else the app DB's (then recorded)."""
    owner = read_owner(path)
    if owner is not None or not path.exists():
        return owner
    owner = legacy_owner(related_id, db_url)
    if owner is not None:
        # Migrates the file: later reads need no DB query.
        write_owner(path, owner)
    return owner


def delete_owner(path: Path) -> None:
    """Remove the owner record of a removed file (missing is fine)."""
    owner_path(path).unlink(missing_ok=True)
