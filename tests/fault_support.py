"""The embedded stack as separate processes that fault tests kill one by one, and a loopback
HTTP server that counts every request it gets (shared by ``bench/faults.py`` and
``tests/runtime/test_faults_smoke.py``).

``FaultStack`` starts what ``tideflow up`` starts, minus the console, each in its own session
with the stack's settings (free ports, own data dir): ``tideflow temporal`` (the dev server on
its SQLite file), ``tideflow worker`` and ``tideflow api``. No supervisor restarts anything:
the caller kills a piece and starts it again when it chooses.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import httpx

from tests.helpers import free_port, processes_with_data_dir

TIDEFLOW = str(Path(sys.executable).parent / "tideflow")


@dataclass
class Piece:
    """One process of the stack (``tideflow <command>``), in a session of its own."""

    command: str
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = None

    def start(self) -> None:
        """Start (again), appending to its log."""
        if self._log is not None:
            self._log.close()
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [TIDEFLOW, self.command],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.starts += 1

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to its whole process group (sandboxes too) and reap it (30 s at most,
        then SIGKILL)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def close(self) -> None:
        """Stopped for good (SIGTERM, then SIGKILL), log closed."""
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGTERM)
        if self._log is not None:
            self._log.close()
            self._log = None


def wait_for_port(port: int, timeout_s: float) -> None:
    """Until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout_s} s")


@dataclass
class FaultStack:
    """Temporal dev server, worker and API as separate processes on free ports."""

    work: Path
    extra_env: dict[str, str] = field(default_factory=dict[str, str])
    ports: dict[str, int] = field(default_factory=dict[str, int])
    pieces: dict[str, Piece] = field(default_factory=dict[str, Piece])

    def __post_init__(self) -> None:
        self.ports = {n: free_port() for n in ("api", "temporal", "temporal_ui", "console")}
        self.data_dir = (self.work / "data").resolve()
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEFLOW_")}
        env.update({f"TIDEFLOW_{n.upper()}_PORT": str(p) for n, p in self.ports.items()})
        env.update(
            TIDEFLOW_DATA_DIR=str(self.data_dir),
            TIDEFLOW_OWNER_PASSWORD="fault-bench-owner",
            # The counting server is on loopback, which the SSRF guard refuses by default.
            TIDEFLOW_ALLOW_PRIVATE_NETWORK="true",
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            DO_NOT_TRACK="1",
            **self.extra_env,
        )
        self.env = env
        logs = self.data_dir / "logs"
        for name in ("temporal", "worker", "api"):
            self.pieces[name] = Piece(name, env, logs / f"{name}.log")

    @property
    def api(self) -> str:
        """The API's base URL."""
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def temporal(self) -> str:
        """The Temporal frontend's address."""
        return f"127.0.0.1:{self.ports['temporal']}"

    def start(self) -> None:
        """Temporal, the database schema, the worker and the API (healthy within 90 s)."""
        self.start_temporal()
        subprocess.run(
            [TIDEFLOW, "migrate"], env=self.env, check=True, capture_output=True, timeout=120
        )
        self.pieces["worker"].start()
        self.start_api()

    def start_temporal(self) -> None:
        """The dev server on its SQLite file, accepting connections."""
        self.pieces["temporal"].start()
        wait_for_port(self.ports["temporal"], 30)

    def start_api(self) -> None:
        """The API, answering ``/health``."""
        self.pieces["api"].start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api}/health", timeout=2).status_code == 200:
                    return
            proc = self.pieces["api"].proc
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("the API did not become healthy:\n" + self.log_tail("api"))

    def restart(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a piece with ``sig`` and start it again."""
        self.pieces[name].kill(sig)
        if name == "temporal":
            self.start_temporal()
        elif name == "api":
            self.start_api()
        else:
            self.pieces[name].start()

    def import_app(self, path: Path) -> tuple[str, str]:
        """Import and publish an app file: (app id, API key)."""
        done = subprocess.run(
            [TIDEFLOW, "app", "import", str(path), "--publish", "--key"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        imported = json.loads(done.stdout)
        return str(imported["app_id"]), str(imported["api_key"])

    def log_tail(self, name: str, lines: int = 30) -> str:
        """The end of a piece's log."""
        with contextlib.suppress(OSError):
            text = self.pieces[name].log_path.read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def close(self) -> None:
        """Stop every piece and anything else started for this data dir."""
        for name in ("api", "worker", "temporal"):
            self.pieces[name].close()
        for pid in processes_with_data_dir(self.data_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass(frozen=True)
class Hit:
    """One request the counting server got."""

    tag: str
    node: str
    wall: float  # time.time() when it arrived


class CountingServer:
    """``GET /hit/<tag>/<node>`` on loopback: records the hit, waits a random while (so a kill
    can land mid-request), answers ``<tag>/<node>``."""

    def __init__(self, delay: tuple[float, float] = (0.1, 0.8), seed: int = 0) -> None:
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.delay = delay
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/")
                if len(parts) != 3 or parts[0] != "hit":
                    self.send_error(404)
                    return
                with server._lock:
                    server.hits.append(Hit(parts[1], parts[2], time.time()))
                    pause = server._rng.uniform(*server.delay)
                time.sleep(pause)
                body = f"{parts[1]}/{parts[2]}".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the caller died meanwhile
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                del format, args  # quiet

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def hits_of(self, tag: str) -> list[Hit]:
        """The hits of one run, in arrival order."""
        with self._lock:
            return [h for h in self.hits if h.tag == tag]

    def close(self) -> None:
        """Stop serving."""
        self._httpd.shutdown()
        self._httpd.server_close()
