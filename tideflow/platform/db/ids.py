"""Primary keys and timestamps shared by every table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def new_id() -> str:
    """A new primary key: a UUID4 string, as Dify uses."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """Timezone-aware now, for created/updated stamps."""
    return datetime.now(UTC)
