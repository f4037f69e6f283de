"""Against a live ``tideflow api`` process: the CLI imports an app, and a stream cut mid-run
reattaches with Last-Event-ID, losing and duplicating nothing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import FIXTURES, OWNER_EMAIL, OWNER_PASSWORD, sse_events
from tests.api.test_service_misc import SLOW_APP
from tests.helpers import free_port
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.settings import Settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.worker import registered_activities, registered_workflows

BIN = Path(sys.executable).parent / "tideflow"
pytestmark = pytest.mark.slow


@pytest.fixture
def live_env(
    temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """A running ``tideflow api`` and the environment that reaches it."""
    port = free_port()
    env = {
        **os.environ,
        "TIDEFLOW_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "TIDEFLOW_TASK_QUEUE": task_queue,
        "TIDEFLOW_DATA_DIR": str(tmp_path),
        "TIDEFLOW_API_PORT": str(port),
        "TIDEFLOW_OWNER_EMAIL": OWNER_EMAIL,
        "TIDEFLOW_OWNER_PASSWORD": OWNER_PASSWORD,
    }
    upgrade_database(f"sqlite:///{(tmp_path / 'app.db').resolve()}")
    log = (tmp_path / "api.log").open("w")
    proc = subprocess.Popen([str(BIN), "api"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code in (
                    200,
                    503,
                ):
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError((tmp_path / "api.log").read_text())
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "app", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_cli_import_export_and_a_cut_stream_reattached(
    live_env: dict[str, str], temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    fixture = FIXTURES / "conditional_parallel_code_execution_workflow.yml"
    done = await asyncio.to_thread(_cli, live_env, "import", str(fixture), "--publish", "--key")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["api_key"].startswith("app-") and len(printed["api_key"]) == 28
    exported = await asyncio.to_thread(_cli, live_env, "export", printed["app_id"])
    assert exported.returncode == 0 and "kind: app" in exported.stdout
    missing = await asyncio.to_thread(_cli, live_env, "import", str(tmp_path / "none.yml"))
    assert missing.returncode == 2

    slow = tmp_path / "slow.yml"
    slow.write_text(SLOW_APP.replace("time.sleep(8)", "time.sleep(1)"))
    done = await asyncio.to_thread(_cli, live_env, "import", str(slow), "--publish", "--key")
    key = {"Authorization": f"Bearer {json.loads(done.stdout)['api_key']}"}
    base = f"http://127.0.0.1:{live_env['TIDEFLOW_API_PORT']}"
    settings = Settings(task_queue=live_env["TIDEFLOW_TASK_QUEUE"])
    worker = TideflowTemporal(settings).worker(
        temporal_env.client, workflows=registered_workflows(), activities=registered_activities()
    )
    async with worker, httpx.AsyncClient(base_url=base, timeout=60) as http:
        body = {"inputs": {}, "user": "live", "response_mode": "streaming"}
        seen: list[str] = []
        async with http.stream("POST", "/v1/workflows/run", json=body, headers=key) as stream:
            async for chunk in stream.aiter_text():
                seen.append(chunk)
                if "node_started" in "".join(seen) and "Nap" in "".join(seen):
                    break  # cut while the code node runs
        head = [(i, p) for i, p in sse_events("".join(seen).rsplit("\n\n", 1)[0] + "\n\n")]
        last_id = head[-1][0]
        run_id = head[0][1]["workflow_run_id"]  # type: ignore[index]
        rest = await http.get(
            f"/v1/workflow/{run_id}/events", headers={**key, "Last-Event-ID": str(last_id)}
        )
        tail = [(i, p) for i, p in sse_events(rest.text) if p != "ping"]
        full = await http.get(f"/v1/workflow/{run_id}/events", headers=key)
        everything = [(i, p) for i, p in sse_events(full.text) if p != "ping"]
    ids = [i for i, _ in head if i is not None] + [i for i, _ in tail]
    assert ids == [i for i, _ in everything]
    assert tail[-1][1]["event"] == "workflow_finished"  # type: ignore[index]
    assert tail[-1][1]["data"]["outputs"] == {"done": "yes"}  # type: ignore[index]
