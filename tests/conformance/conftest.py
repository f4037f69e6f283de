"""Conformance fixtures: one worker for the module, and the pass counts printed at the end."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import SHARED_DIR
from tideflow.activities.code_pool import sandbox_pool
from tideflow.local_run import graph_worker
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.settings import get_settings

CONFORMANCE_DIR = SHARED_DIR / "conformance"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# suite -> case id -> "passed" | "failed: ..." ; filled by the tests, printed by the summary hook.
RESULTS: dict[str, dict[str, str]] = {}


def record(suite: str, case_id: str, outcome: str) -> None:
    """Remember one case's outcome for the summary."""
    RESULTS.setdefault(suite, {})[case_id] = outcome


@pytest.fixture(scope="module")
async def conformance_queue(temporal_env: WorkflowEnvironment) -> AsyncIterator[str]:
    """A task queue served by a full Tideflow worker for the whole module."""
    task_queue = f"conformance-{uuid.uuid4().hex[:8]}"
    settings = get_settings()
    upgrade_database(settings.db_url)  # model calls write their tokens to the stream store
    async with sandbox_pool(settings), graph_worker(temporal_env.client, settings, task_queue):
        yield task_queue


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print how many cases of each conformance suite passed, and save the detail."""
    if not RESULTS:
        return
    terminalreporter.section("conformance")
    for suite, outcomes in sorted(RESULTS.items()):
        passed = sum(1 for o in outcomes.values() if o == "passed")
        terminalreporter.write_line(f"{suite}: {passed}/{len(outcomes)} passed")
        for case_id, outcome in sorted(outcomes.items()):
            if outcome != "passed":
                terminalreporter.write_line(f"  {case_id}: {outcome[:200]}")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "conformance.json").write_text(json.dumps(RESULTS, indent=2, ensure_ascii=False))
