"""A real Tideflow worker in a process of its own, so a test can kill it (SIGKILL: no goodbye,
only missed heartbeats tell Temporal) and let another worker take its runs over."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

# Every workflow and activity of the worker process, on the given task queue; settings from
# the environment the test set (TIDEFLOW_*).
_WORKER = """
import asyncio, sys
from temporalio.client import Client
from tideflow.local_run import graph_worker
from tideflow.platform.settings import get_settings
from tideflow.platform.temporal import DATA_CONVERTER

async def main() -> None:
    client = await Client.connect(sys.argv[1], data_converter=DATA_CONVERTER)
    await graph_worker(client, get_settings(), sys.argv[2]).run()

asyncio.run(main())
"""


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (sandboxes and the like)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and everything below it, and reap it.

    The process first: a sandbox killed before its worker would be reported by that worker as
    the code's own failure (a SIGKILLed runner reads as "more than its CPU-time limit")."""
    below = descendants(proc.pid)
    for pid in [proc.pid, *below]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)


@contextlib.contextmanager
def worker_process(target: str, task_queue: str) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process serving ``task_queue`` at ``target``; killed on exit if still alive."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, target, task_queue],
        env=dict(os.environ),
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            kill_tree(proc)
