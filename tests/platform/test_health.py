"""``GET /health`` reports each component, against a real Temporal dev server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tideflow.platform.app import create_app
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.worker import registered_activities, registered_workflows


@pytest.fixture
def settings(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Settings]:
    target = temporal_env.client.service_client.config.target_host
    monkeypatch.setenv("TIDEFLOW_TEMPORAL_ADDRESS", target)
    monkeypatch.setenv("TIDEFLOW_TASK_QUEUE", task_queue)
    monkeypatch.setenv("TIDEFLOW_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    settings = get_settings()
    upgrade_database(settings.db_url)
    yield settings
    get_settings.cache_clear()


async def get_health(app_client: httpx.AsyncClient, deep: bool = False) -> httpx.Response:
    # The API connects to Temporal in the background: give it a moment on first use.
    response = await app_client.get("/health", params={"deep": deep})
    for _ in range(50):
        if response.json()["temporal"]["ok"]:
            break
        await asyncio.sleep(0.1)
        response = await app_client.get("/health", params={"deep": deep})
    return response


async def test_health_degraded_without_worker_then_ok(settings: Settings) -> None:
    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            response = await get_health(client)
            assert response.status_code == 503
            body = response.json()
            assert body["status"] == "degraded"
            assert body["db"] == {"ok": True, "detail": "sqlite"}
            assert body["temporal"]["ok"] is True
            assert body["worker"]["ok"] is False
            assert settings.task_queue in body["worker"]["detail"]

            temporal = TideflowTemporal(settings)
            worker_client = await temporal.connect()
            async with temporal.worker(
                worker_client,
                workflows=registered_workflows(),
                activities=registered_activities(),
            ):
                response = await get_health(client, deep=True)
                assert response.status_code == 200, response.text
                assert response.json()["worker"]["detail"].startswith("round trip via ")
                shallow = await get_health(client)
                assert shallow.status_code == 200
                assert "poller" in shallow.json()["worker"]["detail"]


async def test_health_reports_unreachable_temporal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEFLOW_TEMPORAL_ADDRESS", "127.0.0.1:1")
    monkeypatch.setenv("TIDEFLOW_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        upgrade_database(get_settings().db_url)
        app = create_app()
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                response = await client.get("/health")
        assert response.status_code == 503
        body = response.json()
        assert body["db"]["ok"] is True
        assert body["temporal"]["ok"] is False
        assert body["worker"] == {"ok": False, "detail": "Temporal not reachable"}
    finally:
        get_settings.cache_clear()
