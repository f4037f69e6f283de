"""``tideflow up``: start, watch and stop the whole embedded stack.

Children: the Temporal dev server (unless TIDEFLOW_TEMPORAL_ADDRESS is set), the worker, the API
and the console. Temporal starts first, the others once the database is migrated
(``Supervisor.start_all``). Each runs in its own session so a Ctrl-C reaches only the
supervisor, which then stops the console, API, worker and Temporal in that order (SIGTERM, then
SIGKILL after a grace period).

A child that dies unexpectedly is reported with the tail of its log and restarted after a short
back-off: Temporal keeps its state in its SQLite file, the worker and API reconnect. A child that
dies more than MAX_RESTARTS times within RESTART_WINDOW_S is given up on: everything is stopped
and ``up`` exits 1.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO

from tideflow.console_server import console_argv
from tideflow.platform.settings import Settings
from tideflow.temporal_server import dev_server_argv

MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
STOP_GRACE_S = 10.0
LOG_TAIL_BYTES = 16_384


@dataclasses.dataclass
class Child:
    """One supervised process."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None
    deaths: deque[float] = dataclasses.field(default_factory=deque[float])

    def start(self, env: dict[str, str]) -> None:
        """Start (or restart) the process, appending to its log."""
        self._close_log()
        self.log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )

    def stop(self) -> None:
        """SIGTERM, wait, then SIGKILL the whole process group."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        self._close_log()

    def _close_log(self) -> None:
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the child's log, for death reports (reads only its end)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _tideflow_argv(command: str) -> list[str]:
    return [sys.executable, "-m", "tideflow.cli", command]


class Supervisor:
    """Starts the children, waits for health, restarts the fallen, stops all on a signal."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        logs = settings.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []
        if settings.embedded_temporal:
            self.children.append(
                Child("temporal", dev_server_argv(settings), logs / "temporal.log")
            )
        for name in ("worker", "api"):
            self.children.append(Child(name, _tideflow_argv(name), logs / f"{name}.log"))
        # Streamlit itself, not ``tideflow console``: this process already checked the settings.
        self.children.append(Child("console", console_argv(settings), logs / "console.log"))
        self.stopping = threading.Event()
        self.env = {**os.environ, "TIDEFLOW_DATA_DIR": str(settings.data_dir.resolve())}

    def say(self, message: str) -> None:
        """One line of status to the terminal."""
        print(f"[tideflow] {message}", flush=True)

    def _wait_for_port(self, port: int, timeout_s: float) -> bool:
        import socket

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.stopping.is_set():
            try:
                with socket.create_connection((self.settings.host, port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.1)
        return False

    def _wait_for_health(self, timeout_s: float) -> bool:
        import httpx  # imported once the children are starting, not before

        deadline = time.monotonic() + timeout_s
        url = f"{self.settings.api_base_url}/health"
        # One client for every poll: httpx.get would build a TLS context (reading the CA
        # bundle) ten times a second, CPU the starting children need.
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline and not self.stopping.is_set():
                try:
                    if client.get(url).status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        return False

    def start_all(self, started: float) -> bool:
        """Start everything; True when the stack reports healthy. ``started`` is when this
        process began (``time.monotonic()``): "healthy in X s" counts the CLI's start-up too.

        Temporal needs nothing of ours, so it starts first and the database is migrated while
        it boots. The worker (the slowest to start) follows on the migrated database and waits
        for Temporal by itself; the API once the owner exists (it would make it too), then the
        console.
        """
        from tideflow.platform.db.migrate import upgrade_database

        logs = self.settings.data_dir / "logs"
        by_name = {child.name: child for child in self.children}
        if "temporal" in by_name:
            by_name["temporal"].start(self.env)
        upgrade_database(self.settings.db_url)
        self.say("database migrated")
        by_name["worker"].start(self.env)
        self._bootstrap_owner()
        by_name["api"].start(self.env)
        by_name["console"].start(self.env)
        temporal = by_name.get("temporal")
        if temporal is not None and not self._wait_for_port(self.settings.temporal_port, 15):
            if not self.stopping.is_set():
                self.say(f"Temporal did not start; see {temporal.log_path}\n{temporal.log_tail()}")
            return False
        if not self._wait_for_port(self.settings.console_port, 30):
            self.say(f"the console did not start; see {logs / 'console.log'}")
            return False
        if not self._wait_for_health(30):
            self.say(f"the stack did not become healthy in 30 s; logs in {logs}")
            return False
        self.say(f"healthy in {time.monotonic() - started:.1f} s")
        return True

    def _bootstrap_owner(self) -> None:
        from tideflow.platform.bootstrap import bootstrap_owner, owner_password_file

        if bootstrap_owner(self.settings) is not None:
            self.say(
                f"console owner {self.settings.owner_email} created; its password is in "
                f"{owner_password_file(self.settings).resolve()}"
            )

    def print_urls(self) -> None:
        """Where a person goes next."""
        s = self.settings
        self.say(f"API docs    http://{s.host}:{s.api_port}/docs")
        self.say(f"Console     http://{s.host}:{s.console_port}")
        if s.embedded_temporal:
            self.say(f"Temporal UI http://{s.host}:{s.temporal_ui_port}")
        self.say(f"logs in {s.data_dir.resolve() / 'logs'}; Ctrl-C stops everything")

    def watch(self) -> int:
        """Restart children that die; return the exit code once stopping."""
        while not self.stopping.wait(0.5):
            for child in self.children:
                assert child.process is not None
                code = child.process.poll()
                if code is None:
                    continue
                now = time.monotonic()
                child.deaths.append(now)
                while child.deaths and now - child.deaths[0] > RESTART_WINDOW_S:
                    child.deaths.popleft()
                self.say(
                    f"{child.name} exited with code {code}; last log lines:\n{child.log_tail()}"
                )
                if len(child.deaths) > MAX_RESTARTS:
                    self.say(f"{child.name} died {len(child.deaths)} times in a minute: giving up")
                    return 1
                time.sleep(min(2.0, 0.25 * len(child.deaths)))
                self.say(f"restarting {child.name}")
                child.start(self.env)
        return 0

    def stop_all(self) -> None:
        """Stop the children in reverse start order."""
        for child in reversed(self.children):
            child.stop()
        self.say("stopped")


def run_up(settings: Settings, started: float) -> int:
    """Run the stack until Ctrl-C or SIGTERM; the exit code for the CLI. ``started``: the
    ``time.monotonic()`` of the process start, which "healthy in X s" counts from."""
    supervisor = Supervisor(settings)

    def on_signal(_signum: int, _frame: object) -> None:
        supervisor.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if not supervisor.start_all(started):
            return 1
        supervisor.print_urls()
        return supervisor.watch()
    finally:
        supervisor.stop_all()
