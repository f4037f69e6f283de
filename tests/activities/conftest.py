"""Fixtures of the activity tests: a local HTTP server and settings overrides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.activities.support import UseSettings, apply_settings, running_server
from tideflow.platform.settings import get_settings


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """Base URL of the local test server (echo, status, bytes, redirect, slow)."""
    with running_server() as url:
        yield url


@pytest.fixture
def use_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[UseSettings]:
    """Settings from TIDEFLOW_* variables, data dir in tmp; the cache is cleared after."""
    yield lambda **env: apply_settings(monkeypatch, tmp_path, **env)
    monkeypatch.undo()  # the environment first, so no later get_settings() sees the tmp one
    get_settings.cache_clear()
