"""The FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from tideflow import __version__
from tideflow.platform.api import health
from tideflow.platform.api.error_handlers import install_error_handlers
from tideflow.platform.api.routes import (
    codec,
    console_apps,
    console_auth,
    console_dataset_keys,
    console_mcp,
    console_models,
    console_runs,
    console_schedules,
    console_settings,
    console_tools,
    console_workflows,
    datasets,
    mcp_server,
    service_app,
    service_chat,
    service_completion,
    service_conversations,
    service_files,
    service_forms,
    service_rerun,
    service_workflows,
    triggers_webhook,
)
from tideflow.platform.bootstrap import bootstrap_owner
from tideflow.platform.runs.service import RunService
from tideflow.platform.settings import get_settings
from tideflow.platform.telemetry import (
    API_SERVICE,
    configure_telemetry,
    instrument_app,
    shutdown_telemetry,
)
from tideflow.platform.temporal import TideflowTemporal
from tideflow.platform.temporal_link import TemporalLink


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncGenerator[None]:
    settings = get_settings()
    # The worker serves the Temporal SDK metrics port; the API's client does not bind it.
    link = TemporalLink(TideflowTemporal(settings, serve_metrics=False))
    link.start()
    runs = RunService(settings, link)
    app.state.temporal = link
    app.state.runs = runs
    await run_in_threadpool(bootstrap_owner, settings)
    # Runs left "running" by a previous API process are followed to their end again.
    reconcile = asyncio.create_task(runs.reconcile())
    yield
    reconcile.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reconcile
    await runs.close()
    await link.stop()
    shutdown_telemetry()  # spans of the last requests still go out


def create_app() -> FastAPI:
    """Build the API application (``uvicorn --factory tideflow.platform.app:create_app``)."""
    app = FastAPI(
        title="Tideflow",
        version=__version__,
        description="Dify-compatible LLM app platform on Temporal.",
        lifespan=_lifespan,
    )
    install_error_handlers(app)
    # Telemetry: OTLP export and JSON logs as configured; requests traced when a provider is.
    configure_telemetry(get_settings(), API_SERVICE)
    instrument_app(app)
    app.include_router(health.router)
    for module in (
        console_auth,
        console_apps,
        console_workflows,
        console_runs,
        console_settings,
        console_dataset_keys,
        console_models,
        console_schedules,
        console_mcp,
        console_tools,
        service_workflows,
        service_rerun,
        service_chat,
        service_completion,
        service_conversations,
        service_files,
        service_forms,
        service_app,
        triggers_webhook,
        mcp_server,
        codec,
    ):
        app.include_router(module.router)
    # After console_dataset_keys: /console/api/datasets/api-keys is not a dataset id.
    datasets.include_knowledge_routes(app)
    return app
