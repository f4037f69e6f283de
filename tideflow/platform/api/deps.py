"""FastAPI dependencies, as ``Annotated`` aliases routes declare."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from tideflow.platform.db.session import session_scope
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.temporal_link import TemporalLink

SettingsDep = Annotated[Settings, Depends(get_settings)]


def _session(settings: SettingsDep) -> Iterator[Session]:
    yield from session_scope(settings.db_url)


def _temporal_link(request: Request) -> TemporalLink:
    link: TemporalLink = request.app.state.temporal
    return link


SessionDep = Annotated[Session, Depends(_session)]
TemporalDep = Annotated[TemporalLink, Depends(_temporal_link)]
