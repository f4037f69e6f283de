"""``tideflow up`` as a newcomer runs it: healthy, a workflow end to end, a child death
handled, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import SHARED_DIR
from tests.helpers import free_port, processes_with_data_dir

pytestmark = pytest.mark.slow

TIDEFLOW = str(Path(sys.executable).parent / "tideflow")
PASSTHROUGH = SHARED_DIR / "conformance" / "dify-fixtures" / "simple_passthrough_workflow.yml"


class UpProcess:
    """A running ``tideflow up`` whose output lines are collected as they come."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "tideflow"), "up"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def wait_for_line(self, fragment: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.lines:
                if fragment in line:
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no line with {fragment!r} in:\n" + "\n".join(self.lines))


def start_up(tmp_path: Path, **settings: str) -> tuple[UpProcess, dict[str, int], Path]:
    """``tideflow up`` on free ports and a fresh data dir, plus extra TIDEFLOW_* settings."""
    data_dir = tmp_path / "data"
    ports = {
        name: free_port()
        for name in ("api_port", "console_port", "temporal_port", "temporal_ui_port")
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEFLOW_")}
    env.update({f"TIDEFLOW_{k.upper()}": str(v) for k, v in ports.items()})
    env.update({f"TIDEFLOW_{k.upper()}": v for k, v in settings.items()})
    env["TIDEFLOW_DATA_DIR"] = str(data_dir)
    return UpProcess(env), ports, data_dir.resolve()


def stop_leftovers(up: UpProcess, data_dir: Path) -> None:
    """Kill whatever a failed test left running."""
    if up.proc.poll() is None:
        up.proc.kill()
        up.proc.wait()
    for pid in processes_with_data_dir(data_dir):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[UpProcess, dict[str, int], Path]]:
    up, ports, data_dir = start_up(tmp_path)
    yield up, ports, data_dir
    stop_leftovers(up, data_dir)


def test_up_healthy_runs_workflow_survives_child_death_and_stops_clean(
    stack: tuple[UpProcess, dict[str, int], Path],
) -> None:
    up, ports, data_dir = stack
    # A bound against hangs only: how fast the stack starts is measured in bench/, not here.
    up.wait_for_line("healthy in", timeout_s=120)
    up.wait_for_line("Temporal UI", timeout_s=5)

    api = f"http://127.0.0.1:{ports['api_port']}"
    deep = httpx.get(f"{api}/health", params={"deep": True}, timeout=15)
    assert deep.status_code == 200, deep.text
    assert deep.json()["worker"]["detail"].startswith("round trip via ")
    assert (
        httpx.get(f"http://127.0.0.1:{ports['temporal_ui_port']}/", timeout=10).status_code == 200
    )
    assert httpx.get(f"http://127.0.0.1:{ports['console_port']}/", timeout=10).status_code == 200
    assert httpx.get(f"{api}/docs", timeout=10).status_code == 200
    assert (data_dir / "temporal.db").exists()
    assert (data_dir / "app.db").exists()

    # A newcomer's first app: the owner was created with a saved password, the CLI imports and
    # publishes a Dify file, and the key runs it through the Dify-compatible API.
    up.wait_for_line("console owner owner@tideflow.local created", timeout_s=1)
    assert (data_dir / "owner-password").stat().st_mode & 0o077 == 0
    imported = subprocess.run(
        [TIDEFLOW, "app", "import", str(PASSTHROUGH), "--publish", "--key"],
        env=up.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr
    key = json.loads(imported.stdout)["api_key"]
    run = httpx.post(
        f"{api}/v1/workflows/run",
        headers={"Authorization": f"Bearer {key}"},
        json={"inputs": {"query": "hello tide"}, "user": "smoke", "response_mode": "blocking"},
        timeout=60,
    )
    assert run.status_code == 200, run.text
    assert run.json()["data"]["status"] == "succeeded"
    assert run.json()["data"]["outputs"] == {"query": "hello tide"}

    # A worker that dies is reported and restarted; the stack becomes healthy again.
    workers = [
        p for p, cmd in processes_with_data_dir(data_dir).items() if cmd.endswith(" worker ")
    ]
    assert len(workers) == 1
    os.kill(workers[0], signal.SIGKILL)
    up.wait_for_line("worker exited with code -9", timeout_s=10)
    up.wait_for_line("restarting worker", timeout_s=10)
    deadline = time.monotonic() + 20
    response = httpx.get(f"{api}/health", params={"deep": True}, timeout=15)
    while response.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.3)
        response = httpx.get(f"{api}/health", params={"deep": True}, timeout=15)
    assert response.status_code == 200, response.text

    up.proc.send_signal(signal.SIGTERM)
    assert up.proc.wait(timeout=30) == 0
    up.wait_for_line("stopped", timeout_s=1)
    assert processes_with_data_dir(data_dir) == {}


def test_up_uses_a_configured_temporal_server(
    tmp_path: Path, temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    target = temporal_env.client.service_client.config.target_host
    up, ports, data_dir = start_up(tmp_path, temporal_address=target, task_queue=task_queue)
    try:
        up.wait_for_line("healthy in", timeout_s=120)
        assert not any("Temporal UI" in line for line in up.lines)
        api = f"http://127.0.0.1:{ports['api_port']}"
        deep = httpx.get(f"{api}/health", params={"deep": True}, timeout=15)
        assert deep.status_code == 200, deep.text
        assert deep.json()["temporal"]["detail"] == target
        assert not (data_dir / "temporal.db").exists()
        up.proc.send_signal(signal.SIGTERM)
        assert up.proc.wait(timeout=30) == 0
    finally:
        stop_leftovers(up, data_dir)
