"""The API in-process (httpx ASGITransport + lifespan) against the session's Temporal dev
server, with a worker on the test's own task queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from tests.conftest import SHARED_DIR
from tests.fakes.openai_server import FakeLLMServer
from tideflow.activities.knowledge.vector_store import close_vector_stores
from tideflow.platform.app import create_app
from tideflow.platform.db.crud.accounts import create_tenant_with_owner
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.session import get_engine
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.worker import registered_activities, registered_workflows

FIXTURES = SHARED_DIR / "conformance" / "dify-fixtures"
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "correct horse battery staple"


@pytest.fixture
def settings(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Settings]:
    """Settings of one test: its own SQLite file and task queue, a known owner."""
    target = temporal_env.client.service_client.config.target_host
    monkeypatch.setenv("TIDEFLOW_TEMPORAL_ADDRESS", target)
    monkeypatch.setenv("TIDEFLOW_TASK_QUEUE", task_queue)
    monkeypatch.setenv("TIDEFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TIDEFLOW_OWNER_EMAIL", OWNER_EMAIL)
    monkeypatch.setenv("TIDEFLOW_OWNER_PASSWORD", OWNER_PASSWORD)
    monkeypatch.setenv("TIDEFLOW_SSE_PING_INTERVAL_S", "0.5")
    get_settings.cache_clear()
    settings = get_settings()
    upgrade_database(settings.db_url)
    yield settings
    get_settings.cache_clear()


@dataclass
class Api:
    """The in-process API with the owner logged in."""

    http: httpx.AsyncClient
    console: dict[str, str]
    settings: Settings
    asgi: Any = None  # the ASGI app itself (for a client of one's own, e.g. without re-raise)

    async def import_app(self, fixture: str, publish: bool = True) -> str:
        """Import a Dify fixture file (multipart), publish it; the app id."""
        content = (FIXTURES / fixture).read_bytes()
        response = await self.http.post(
            "/console/api/apps/imports",
            files={"file": (fixture, content, "application/x-yaml")},
            headers=self.console,
        )
        assert response.status_code == 201, response.text
        app_id: str = response.json()["app_id"]
        if publish:
            published = await self.http.post(
                f"/console/api/apps/{app_id}/workflows/publish", headers=self.console
            )
            assert published.status_code == 201, published.text
        return app_id

    async def app_key(self, app_id: str) -> dict[str, str]:
        """Headers with a new app key."""
        response = await self.http.post(
            f"/console/api/apps/{app_id}/api-keys", headers=self.console
        )
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    async def login(self, email: str, password: str) -> dict[str, str]:
        """Console headers for an account."""
        response = await self.http.post(
            "/console/api/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}

    async def other_tenant(self) -> dict[str, str]:
        """Console headers of the owner of a second workspace."""
        email = f"other-{uuid.uuid4().hex[:6]}@example.com"
        with Session(get_engine(self.settings.db_url)) as session:
            create_tenant_with_owner(session, tenant_name="other", email=email, password="pw-other")
        return await self.login(email, "pw-other")


@pytest.fixture
async def api(settings: Settings, temporal_env: WorkflowEnvironment) -> AsyncIterator[Api]:
    """The API with a worker serving the test's task queue."""
    app = create_app()
    temporal = TideflowTemporal(settings)
    worker = temporal.worker(
        temporal_env.client,
        workflows=registered_workflows(),
        activities=registered_activities(),
    )
    async with app.router.lifespan_context(app), worker:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", timeout=60
        ) as http:
            api = Api(http=http, console={}, settings=settings, asgi=app)
            api.console = await api.login(OWNER_EMAIL, OWNER_PASSWORD)
            for _ in range(100):  # the API connects to Temporal in the background
                if app.state.temporal.client is not None:
                    break
                import asyncio

                await asyncio.sleep(0.05)
            yield api
    close_vector_stores()  # the worker's Qdrant local folder is the test's own


def sse_events(body: str) -> list[tuple[int | None, dict[str, Any] | str]]:
    """(id, payload) of each SSE message; ``ping`` messages as the string "ping"."""
    import json

    out: list[tuple[int | None, dict[str, Any] | str]] = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        event_id: int | None = None
        payload: dict[str, Any] | str | None = None
        for line in block.splitlines():
            if line.startswith("id: "):
                # Live token lines have ``N:T[:R]`` ids (runs/relay.py): their event index.
                event_id = int(line[4:].split(":")[0])
            elif line.startswith("data: "):
                payload = json.loads(line[6:])
            elif line == "event: ping":
                payload = "ping"
        assert payload is not None, block
        out.append((event_id, payload))
    return out


@pytest.fixture
def gateway(api: Api, fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> FakeLLMServer:
    """Model calls of the test's worker go to the fake server."""
    del api  # the API's settings first, then the gateway on top of them
    monkeypatch.setenv("TIDEFLOW_MODEL_GATEWAY_URL", fake_llm.base_url)
    get_settings.cache_clear()
    return fake_llm
