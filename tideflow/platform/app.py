"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tideflow import __version__
from tideflow.platform.api import health
from tideflow.platform.settings import get_settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.platform.temporal_link import TemporalLink


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncGenerator[None]:
    link = TemporalLink(TideflowTemporal(get_settings()))
    link.start()
    app.state.temporal = link
    yield
    await link.stop()


def create_app() -> FastAPI:
    """Build the API application (``uvicorn --factory tideflow.platform.app:create_app``)."""
    app = FastAPI(
        title="Tideflow",
        version=__version__,
        description="Dify-compatible LLM app platform on Temporal.",
        lifespan=_lifespan,
    )
    app.include_router(health.router)
    return app
