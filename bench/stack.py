"""A whole ``tideflow up`` stack for the benchmarks: free ports, its own data dir, stopped
with whatever it started (imported by ``llm_stream.py`` and ``paused_runs.py``)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.helpers import free_port, processes_with_data_dir

TIDEFLOW = str(Path(sys.executable).parent / "tideflow")


@dataclass
class Stack:
    """A running ``tideflow up`` and what it needs."""

    proc: subprocess.Popen[str]
    env: dict[str, str]
    api: str
    temporal: str
    data_dir: Path
    log: list[str] = field(default_factory=list[str])


def start_stack(work: Path, extra_env: dict[str, str] | None = None) -> Stack:
    """``tideflow up`` on free ports with its data dir in ``work``, healthy (60 s at most)."""
    ports = {n: free_port() for n in ("api", "console", "temporal", "temporal_ui")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEFLOW_")}
    env.update({f"TIDEFLOW_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    data_dir = (work / "data").resolve()
    env.update(TIDEFLOW_DATA_DIR=str(data_dir), **(extra_env or {}))
    proc = subprocess.Popen(
        [TIDEFLOW, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    api, temporal = f"http://127.0.0.1:{ports['api']}", f"127.0.0.1:{ports['temporal']}"
    stack = Stack(proc, env, api, temporal, data_dir)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            stack.log.append(line.rstrip())

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 60
    # One client: httpx.get makes a TLS context per call (~25 ms CPU), taken from the stack.
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"{stack.api}/health").status_code == 200:
                    return stack
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    raise RuntimeError("tideflow up did not become healthy:\n" + "\n".join(stack.log[-30:]))


def stop_stack(stack: Stack) -> None:
    """Stop ``up`` and whatever it left behind."""
    if stack.proc.poll() is None:
        stack.proc.send_signal(signal.SIGTERM)
        try:
            stack.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stack.proc.kill()
    for pid in processes_with_data_dir(stack.data_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def app_key(stack: Stack, path: Path) -> str:
    """Import and publish an app file; its new API key."""
    done = subprocess.run(
        [TIDEFLOW, "app", "import", str(path), "--publish", "--key"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return str(json.loads(done.stdout)["api_key"])
