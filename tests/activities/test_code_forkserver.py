"""Python sandboxes forked from the warm server: one fresh confined child per run, each child
gone after its run, and a dead server replaced without losing the worker."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from tests.activities.code_support import fresh_sandboxes, run_node
from tests.helpers import runner_children
from tideflow.activities.code import CodeOutputSpec
from tideflow.activities.code_forkserver import current_forkserver
from tideflow.activities.code_pool import shutdown_code_pool
from tideflow.activities.code_sandbox import network_unshare_command
from tideflow.platform.settings import get_settings

pytestmark = pytest.mark.slow

# What the child can see of itself: its parent, its limits and its directory.
PROBE = """
import os, resource
def main():
    return {
        'pid': os.getpid(),
        'ppid': os.getppid(),
        'pgid': os.getpgid(0),
        'nproc': resource.getrlimit(resource.RLIMIT_NPROC)[0],
        'memory': resource.getrlimit(resource.RLIMIT_AS)[0],
        'cwd': os.getcwd(),
        'env': sorted(os.environ),
        'fds': [fd for fd in range(64) if is_open(fd)],
    }

def is_open(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
"""
NUMBER = CodeOutputSpec(type="number")
PROBE_OUTPUTS = {
    "pid": NUMBER,
    "ppid": NUMBER,
    "pgid": NUMBER,
    "nproc": NUMBER,
    "memory": NUMBER,
    "cwd": CodeOutputSpec(type="string"),
    "env": CodeOutputSpec(type="array[string]"),
    "fds": CodeOutputSpec(type="array[number]"),
}


@pytest.fixture(autouse=True)
async def fresh_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """No pool (every run forks on demand) and a server started afresh for each test."""
    async with fresh_sandboxes(
        monkeypatch, TIDEFLOW_CODE_POOL_SIZE="0", TIDEFLOW_CODE_MEMORY_MB="256"
    ):
        yield


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def server_pid() -> int:
    return (await current_forkserver(network_unshare_command())).process.pid


async def test_each_run_is_a_fresh_confined_child_of_the_server() -> None:
    results = [await run_node(PROBE, PROBE_OUTPUTS) for _ in range(3)]
    server = await server_pid()
    pids = {r.outputs["pid"] for r in results}
    assert len(pids) == 3  # a new process per run
    for result in results:
        out = result.outputs
        assert out["ppid"] == server  # forked by the server
        assert out["fds"] == [0, 1, 2, 3]  # stdin, the log twice, the result pipe: nothing else
        assert out["pgid"] == out["pid"]  # its own session: the kill reaches all of it
        assert out["nproc"] == 0
        assert out["memory"] == 256 * 1024 * 1024
        assert Path(out["cwd"]).name.startswith("tideflow-code-")
        assert out["env"] == ["HOME", "LANG", "PATH", "TMPDIR"]
        assert not Path(out["cwd"]).exists()  # its temp dir went with it
    assert len({r.outputs["cwd"] for r in results}) == 3
    assert not pids & runner_children()  # each gone after its run


async def test_a_timed_out_child_is_killed_by_the_server() -> None:
    os.environ["TIDEFLOW_CODE_TIMEOUT_S"] = "1"
    get_settings.cache_clear()
    try:
        began = time.monotonic()
        with pytest.raises(ApplicationError) as caught:
            await run_node("def main():\n    while True:\n        pass", {})
        assert caught.value.type == "CodeTimeoutError"
        assert time.monotonic() - began < 5
    finally:
        del os.environ["TIDEFLOW_CODE_TIMEOUT_S"]
        get_settings.cache_clear()
    await asyncio.sleep(0.2)
    assert not runner_children()


async def test_a_run_lost_with_its_server_runs_again_on_a_new_one() -> None:
    first = await server_pid()
    sleeper = asyncio.create_task(
        run_node("import time\ndef main():\n    time.sleep(30)\n    return {}", {})
    )
    for _ in range(100):  # until the child is running
        if runner_children():
            break
        await asyncio.sleep(0.05)
    running = runner_children()
    assert running
    os.kill(first, signal.SIGKILL)
    # The run is lost with the server, not failed: it runs again in a fresh process (the
    # sleep outlives the test's patience, so the rerun is cancelled here).
    await asyncio.sleep(1.0)
    assert not sleeper.done()
    assert not any(alive(pid) for pid in running)  # the parent-death signal
    second = await server_pid()
    assert second != first
    assert runner_children() - running  # the rerun's process, from the new server
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    result = await run_node("def main():\n    return {'r': 1}", {"r": NUMBER})
    assert result.outputs == {"r": 1}


async def test_shutdown_stops_the_server_and_its_children() -> None:
    await run_node("def main():\n    return {}", {})
    server = await server_pid()
    sleeper = asyncio.create_task(
        run_node("import time\ndef main():\n    time.sleep(30)\n    return {}", {})
    )
    for _ in range(100):
        if runner_children():
            break
        await asyncio.sleep(0.05)
    running = runner_children()
    assert running
    await shutdown_code_pool()
    with pytest.raises(ApplicationError):
        await asyncio.wait_for(sleeper, 10)
    await asyncio.sleep(0.2)
    assert not alive(server)
    assert not any(alive(pid) for pid in running)


async def test_spawning_instead_when_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_CODE_FORKSERVER", "false")
    get_settings.cache_clear()
    code = "import os\ndef main():\n    return {'ppid': os.getppid()}"
    result = await run_node(code, {"ppid": NUMBER})
    assert result.outputs["ppid"] in (os.getpid(), 0)


async def test_a_child_cannot_signal_its_server() -> None:
    server = await server_pid()
    code = "import os\ndef main():\n    os.kill(os.getppid(), 9)\n    return {}"
    with pytest.raises(ApplicationError) as caught:
        await run_node(code, {})
    assert "not allowed" in str(caught.value)
    assert alive(server) and await server_pid() == server
