"""Pre-started sandbox processes: one execution each, refilled, isolated, and never leaked."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.activities.code_support import fresh_sandboxes, run_node
from tests.helpers import runner_children
from tideflow.activities.code import CodeOutputSpec
from tideflow.activities.code_pool import (
    SandboxPool,
    current_pool,
    sandbox_limits,
    sandbox_pool,
    shutdown_code_pool,
)
from tideflow.platform.settings import Settings, get_settings

pytestmark = pytest.mark.slow

# Reports its process, what an earlier run might have left behind, and then leaves some.
PROBE = """
import json, os, sys
def main():
    seen = {
        'pid': os.getpid(),
        'files': sorted(os.listdir('.')),
        'module_flag': hasattr(json, 'left_by_an_earlier_run'),
        'builtin_flag': hasattr(sys, 'left_by_an_earlier_run'),
    }
    json.left_by_an_earlier_run = True
    sys.left_by_an_earlier_run = True
    with open('left.txt', 'w') as f:
        f.write('x')
    return seen
"""
PROBE_OUTPUTS = {
    "pid": CodeOutputSpec(type="number"),
    "files": CodeOutputSpec(type="array[string]"),
    "module_flag": CodeOutputSpec(type="boolean"),
    "builtin_flag": CodeOutputSpec(type="boolean"),
}


@pytest.fixture(autouse=True)
async def pool_settings(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """A pool of two per language, started afresh for each test and shut down after it."""
    async with fresh_sandboxes(monkeypatch, TIDEFLOW_CODE_POOL_SIZE="2"):
        yield


def pool() -> SandboxPool:
    found = current_pool(get_settings().code_pool_size)
    assert found is not None
    return found


async def test_each_waiting_process_serves_one_run_then_dies() -> None:
    first = await run_node(PROBE, PROBE_OUTPUTS)  # an empty pool: a fresh process, then a refill
    await pool().settled()
    waiting = pool().idle_pids()
    assert len(waiting) == 2
    assert first.outputs["pid"] not in waiting
    second = await run_node(PROBE, PROBE_OUTPUTS)
    third = await run_node(PROBE, PROBE_OUTPUTS)
    assert {second.outputs["pid"], third.outputs["pid"]} == waiting  # both came from the pool
    await pool().settled()
    assert not waiting & runner_children()  # used once, then killed
    for result in (first, second, third):
        # Nothing the previous run left (files, module or sys attributes) is visible.
        assert result.outputs["files"] == []
        assert result.outputs["module_flag"] is False
        assert result.outputs["builtin_flag"] is False


async def test_concurrent_runs_get_separate_processes() -> None:
    await run_node("def main():\n    return {}", {})
    await pool().settled()
    code = "import os\ndef main(n):\n    return {'n': n * 10, 'pid': os.getpid()}"
    outputs = {"n": CodeOutputSpec(type="number"), "pid": CodeOutputSpec(type="number")}
    results = await asyncio.gather(*(run_node(code, outputs, n=n) for n in range(8)))
    assert [r.outputs["n"] for r in results] == [n * 10 for n in range(8)]
    assert len({r.outputs["pid"] for r in results}) == 8


async def test_an_empty_or_disabled_pool_starts_a_fresh_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert pool().idle_pids() == set()
    result = await run_node(
        "def main():\n    return {'r': 1}", {"r": CodeOutputSpec(type="number")}
    )
    assert result.outputs == {"r": 1}
    await shutdown_code_pool()
    monkeypatch.setenv("TIDEFLOW_CODE_POOL_SIZE", "0")
    get_settings.cache_clear()
    assert current_pool(get_settings().code_pool_size) is None
    result = await run_node(
        "def main():\n    return {'r': 2}", {"r": CodeOutputSpec(type="number")}
    )
    assert result.outputs == {"r": 2}
    assert not runner_children()


async def test_a_dead_waiting_process_is_skipped() -> None:
    await run_node("def main():\n    return {}", {})
    await pool().settled()
    for pid in pool().idle_pids():
        os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.2)  # let the loop notice the exits
    result = await run_node(
        "def main():\n    return {'r': 3}", {"r": CodeOutputSpec(type="number")}
    )
    assert result.outputs == {"r": 3}


async def test_new_limits_retire_processes_started_with_the_old_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await run_node("def main():\n    return {}", {})
    await pool().settled()
    old = pool().idle_pids()
    monkeypatch.setenv("TIDEFLOW_CODE_MEMORY_MB", "256")
    get_settings.cache_clear()
    code = "import resource as r\ndef main():\n    return {'as': r.getrlimit(r.RLIMIT_AS)[0]}"
    result = await run_node(code, {"as": CodeOutputSpec(type="number")})
    assert result.outputs == {"as": 256 * 1024 * 1024}
    await pool().settled()
    assert not old & runner_children()


async def test_shutdown_kills_every_waiting_process() -> None:
    await asyncio.gather(*(run_node("def main():\n    return {}", {}) for _ in range(3)))
    await pool().settled()
    assert runner_children() == pool().idle_pids() != set()
    await shutdown_code_pool()
    assert not runner_children()


async def test_the_worker_pre_starts_and_then_kills_its_pool(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, code_pool_size=3)
    async with sandbox_pool(settings) as started:
        assert started is not None
        await started.settled()
        waiting = started.idle_pids()
        assert len(waiting) == 3
        assert waiting == runner_children()
        # The activity takes from this pool when its settings ask for the same limits.
        assert sandbox_limits(settings) == sandbox_limits(get_settings())
        code = "import os\ndef main():\n    return {'pid': os.getpid()}"
        result = await run_node(code, {"pid": CodeOutputSpec(type="number")})
        assert result.outputs["pid"] in waiting
    assert not runner_children()
