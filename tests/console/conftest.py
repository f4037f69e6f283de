"""The console end to end: a real ``tideflow up`` stack (API, worker, Streamlit console,
Temporal dev server) on free ports, the fake model server for model calls, and Debian's
Chromium driven by Playwright. Each test leaves a screenshot in ``test-artifacts/console/``.

Without Chromium (``/usr/bin/chromium``; ``.ci/run`` installs it) the tests are skipped,
except under CI, where they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fakes.openai_server import FakeLLMServer
from tests.test_up_smoke import UpProcess, start_up, stop_leftovers

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "console test password"

pytestmark = pytest.mark.slow


@dataclass
class Stack:
    """The running stack's addresses and its owner's console token."""

    up: UpProcess
    api: str
    console: str
    temporal_ui: str
    data_dir: Path
    token: str

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """An API call as the owner (test set-up and checks; the console itself is driven
        through the browser)."""
        response = httpx.request(
            method,
            f"{self.api}{path}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
            **kwargs,
        )
        assert response.status_code < 400, response.text
        return response.json() if response.content else None


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, _fake_llm_server: FakeLLMServer
) -> Iterator[Stack]:
    """``tideflow up`` for the module's tests."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    up, ports, data_dir = start_up(
        tmp_path_factory.mktemp("console"),
        owner_email=OWNER_EMAIL,
        owner_password=OWNER_PASSWORD,
        model_gateway_url=_fake_llm_server.base_url,
        # The settings page checks provider credentials against the fake server, on loopback:
        # the SSRF guard lets only that host:port through.
        ssrf_allowed_hosts=json.dumps([urlsplit(_fake_llm_server.base_url).netloc]),
    )
    try:
        up.wait_for_line("healthy in", timeout_s=60)
        api = f"http://127.0.0.1:{ports['api_port']}"
        login = httpx.post(
            f"{api}/console/api/login",
            json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD},
            timeout=30,
        )
        assert login.status_code == 200, login.text
        yield Stack(
            up=up,
            api=api,
            console=f"http://127.0.0.1:{ports['console_port']}",
            temporal_ui=f"http://127.0.0.1:{ports['temporal_ui_port']}",
            data_dir=data_dir,
            token=login.json()["data"]["access_token"],
        )
    finally:
        if up.proc.poll() is None:
            up.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):  # stop_leftovers kills it
                up.proc.wait(timeout=30)
        stop_leftovers(up, data_dir)


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    """Debian's Chromium under Playwright (never ``playwright install``)."""
    del stack
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, stack: Stack, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser page signed in to the console; a screenshot is saved when the test
    ends (``test-artifacts/console/<test>.png``)."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    sign_in(page, stack)
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()


def sign_in(page: Any, stack: Stack) -> None:
    """Sign in through the console's form."""
    page.goto(stack.console)
    page.get_by_label("Email").fill(OWNER_EMAIL)
    page.get_by_role("textbox", name="Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {OWNER_EMAIL}").wait_for()


def open_page(page: Any, title: str) -> None:
    """Open a console page through the sidebar (a reload would start a new, signed-out
    Streamlit session) and wait for its script to finish."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    wait_idle(page)


def wait_idle(page: Any, timeout_s: float = 30) -> None:
    """Wait until Streamlit is not running the script (its status widget gone)."""
    deadline = time.monotonic() + timeout_s
    page.wait_for_timeout(300)
    while time.monotonic() < deadline:
        if page.locator('[data-testid="stStatusWidget"]').count() == 0:
            return
        page.wait_for_timeout(200)
