"""Small test utilities shared by several test modules."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def runner_children() -> set[int]:
    """Pids of this process's live code-node runners (from /proc): its children running a
    runner, and the children of its code fork server (which itself is not a runner)."""
    parents: dict[int, int] = {}
    servers: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if b"code_runners" not in cmdline:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        parents[int(entry)] = parent
        if parent == os.getpid() and b"forkserver.py" in cmdline:
            servers.add(int(entry))
    return {
        pid
        for pid, parent in parents.items()
        if (parent == os.getpid() and pid not in servers) or parent in servers
    }


def processes_with_data_dir(data_dir: Path) -> dict[int, str]:
    """pid -> command line of every process started for this data dir."""
    found: dict[int, str] = {}
    marker = f"TIDEFLOW_DATA_DIR={data_dir}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found[int(entry.name)] = cmdline
    return found
