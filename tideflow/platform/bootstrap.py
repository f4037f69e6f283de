"""What the API does once at start: the first owner account."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlmodel import Session

from tideflow.platform.db.crud.accounts import ensure_owner
from tideflow.platform.db.session import get_engine
from tideflow.platform.settings import Settings

log = logging.getLogger("tideflow.api")


def bootstrap_owner(settings: Settings) -> None:
    """Create the owner and its workspace on first start; a generated password is logged once."""
    try:
        with Session(get_engine(settings.db_url)) as session:
            generated = ensure_owner(session, settings.owner_email, settings.owner_password)
    except (OperationalError, ProgrammingError) as exc:
        log.error("cannot create the owner account (run `tideflow migrate` first?): %s", exc)
        return
    if generated is not None:
        log.warning(
            "created the owner account %s with password %s — shown this once; "
            "set TIDEFLOW_OWNER_PASSWORD to choose it",
            settings.owner_email,
            generated,
        )
