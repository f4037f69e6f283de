"""What a sandbox process is started with: limits, the spawn command lines and rlimits.

``code_sandbox.py`` runs the processes; this module only describes them. Spawned runners get
their rlimits from outside (``apply_limits``, once started); forked ones set the same values
on themselves (``code_runners/forkserver.py``).
"""

from __future__ import annotations

import functools
import math
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Language = Literal["python3", "javascript"]

RUNNERS_DIR = Path(__file__).parent / "code_runners"
MAX_OPEN_FILES = 64


class SandboxError(Exception):
    """The sandbox could not run the code to a reply (crash, limit, missing interpreter)."""


class SandboxLost(SandboxError):
    """The process died with its fork server, not by anything the code did (safe to re-run:
    no reply was read)."""


class SandboxTimeout(SandboxError):
    """The code ran past its wall-time or CPU-time limit."""


@dataclass(frozen=True)
class SandboxLimits:
    """Per-run resource limits."""

    timeout_s: float
    memory_mb: int
    max_output_bytes: int


@dataclass(frozen=True)
class SandboxReply:
    """What the runner reported, plus the tail of the user's prints."""

    data: dict[str, Any]
    log: str


@functools.cache
def network_unshare_command() -> tuple[str, ...]:
    """The ``unshare`` prefix that gives a process no network, or () where that is refused."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    command = (unshare, "--user", "--net", "--")
    probe = subprocess.run([*command, "/bin/true"], capture_output=True, check=False)
    return command if probe.returncode == 0 else ()


def runner_command(
    language: Language, result_fd: int, memory_mb: int, workdir: str, *, require: bool
) -> list[str]:
    """The command that spawns ``language``'s runner (Node behind the Landlock launcher)."""
    if language == "python3":
        runner = RUNNERS_DIR / "python3.py"
        # -I: ignore PYTHON* variables and the user site; -S: no site-packages at all.
        command = [sys.executable, "-I", "-S", "-B", str(runner), str(result_fd)]
    else:
        node = shutil.which("node")
        if node is None:
            raise SandboxError("javascript code needs Node.js, and `node` is not installed")
        runner = RUNNERS_DIR / "javascript.js"
        command = [
            *landlock_launcher(
                workdir, (str(runner), os.path.realpath(node), *_NODE_READS), require=require
            ),
            node,
            "--experimental-permission",
            f"--allow-fs-read={runner}",
            f"--allow-fs-read={workdir}",
            f"--allow-fs-write={workdir}",
            "--no-warnings",
            # V8 throws a clean heap error before RLIMIT_DATA makes it abort.
            f"--max-old-space-size={max(16, memory_mb * 3 // 4)}",
            str(runner),
            str(result_fd),
        ]
    return [*network_unshare_command(), *command]


# What Node needs to read once Landlock confines it: its shared libraries, the loader cache
# and the OpenSSL configuration it reads at start.
_NODE_READS = (
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/etc/ld.so.cache",
    "/etc/ssl/openssl.cnf",
    "/dev/null",
)


def landlock_launcher(workdir: str, readable: tuple[str, ...], *, require: bool) -> list[str]:
    """The prefix that confines a command with Landlock before exec (``landlock.py``)."""
    launcher = [sys.executable, "-I", "-S", "-B", str(RUNNERS_DIR / "landlock.py")]
    launcher += ["--require"] if require else []
    return [*launcher, "--rw", workdir, "--ro", *readable, "--"]


def cpu_limit(limits: SandboxLimits) -> int:
    """RLIMIT_CPU for ``limits``: a second past the wall-time limit."""
    return math.ceil(limits.timeout_s) + 1  # the wall clock normally fires first


RLimits = list[tuple[int, tuple[int, int]]]


def rlimits(language: Language, limits: SandboxLimits) -> RLimits:
    """The (resource, (soft, hard)) limits of a sandbox process: spawned runners get them from
    outside (``apply_limits``), forked ones set them on themselves (``forkserver.py``)."""
    cpu = cpu_limit(limits)
    memory = limits.memory_mb * 1024 * 1024
    memory_kind = resource.RLIMIT_AS if language == "python3" else resource.RLIMIT_DATA
    return [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (memory_kind, (memory, memory)),
        (resource.RLIMIT_FSIZE, (limits.max_output_bytes, limits.max_output_bytes)),
        (resource.RLIMIT_NPROC, (0, 0)),
        (resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]


def apply_limits(pid: int, language: Language, limits: SandboxLimits) -> None:
    """Set a spawned runner's rlimits from outside (``prlimit``) once it has started."""
    for kind, value in rlimits(language, limits):
        resource.prlimit(pid, kind, value)
