"""Support for the code-sandbox tests: one code node run through the activity, and settings
with a fresh pool and fork server around each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from tideflow.activities.code import CodeOutputSpec, CodeRunInput, CodeRunResult, run_code
from tideflow.activities.code_pool import shutdown_code_pool
from tideflow.platform.settings import get_settings


async def run_node(code: str, outputs: dict[str, CodeOutputSpec], **inputs: Any) -> CodeRunResult:
    """Run a Python code node with ``inputs`` through the ``run_code`` activity."""
    request = CodeRunInput(
        node_id="code_1", language="python3", code=code, inputs=inputs, outputs=outputs
    )
    return await ActivityEnvironment().run(run_code, request)


@asynccontextmanager
async def fresh_sandboxes(monkeypatch: pytest.MonkeyPatch, **env: str) -> AsyncIterator[None]:
    """``env`` set, with no pool or fork server left from before, and none left after."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    await shutdown_code_pool()
    try:
        yield
    finally:
        await shutdown_code_pool()
        get_settings.cache_clear()
