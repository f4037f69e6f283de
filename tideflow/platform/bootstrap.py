"""What the platform does once at start: the first owner account."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlmodel import Session

from tideflow.platform.db.crud.accounts import ensure_owner
from tideflow.platform.db.session import get_engine
from tideflow.platform.settings import Settings

log = logging.getLogger("tideflow.api")


def owner_password_file(settings: Settings) -> Path:
    """Where a generated owner password is kept (mode 0600) for the CLI on this machine."""
    return settings.data_dir / "owner-password"


def read_owner_password(settings: Settings) -> str | None:
    """The configured owner password, else the generated one saved in the data dir."""
    if settings.owner_password:
        return settings.owner_password
    try:
        return owner_password_file(settings).read_text().strip() or None
    except OSError:
        return None


def bootstrap_owner(settings: Settings) -> str | None:
    """Create the owner and its workspace on first start.

    Returns the generated password when one was made up (TIDEFLOW_OWNER_PASSWORD unset): it is
    saved, readable by this user only, in the data dir; logs name the file, never the password.
    """
    try:
        with Session(get_engine(settings.db_url)) as session:
            generated = ensure_owner(session, settings.owner_email, settings.owner_password)
    except (OperationalError, ProgrammingError) as exc:
        log.error("cannot create the owner account (run `tideflow migrate` first?): %s", exc)
        return None
    if generated is not None:
        path = owner_password_file(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(generated + "\n")
        log.warning(
            "created the owner account %s; its generated password is in %s "
            "(set TIDEFLOW_OWNER_PASSWORD to choose it)",
            settings.owner_email,
            path,
        )
    return generated
