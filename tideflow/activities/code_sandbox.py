"""One sandboxed interpreter process that runs one code node, then dies.

What the sandbox does:

- Runs the interpreter in its own session (so the whole process group can be killed), with a
  fresh temp dir as cwd and HOME, and an environment holding only PATH, HOME, TMPDIR and LANG:
  no ``TIDEFLOW_*`` or other parent secrets.
- Applies, with ``prlimit`` once the runner says it has started: RLIMIT_CPU, RLIMIT_AS (Python)
  or RLIMIT_DATA (Node, whose V8 reserves far more address space than it uses), RLIMIT_FSIZE
  (files it writes), RLIMIT_NPROC = 0 (no fork or new threads; the kernel does not enforce this
  for uid 0), RLIMIT_NOFILE and RLIMIT_CORE = 0. A wall-time limit kills the process group.
- Reads the reply from a dedicated pipe, capped at ``max_output_bytes``; stdout and stderr are a
  log kept only for error messages, so prints cannot corrupt the reply.
- Network: when ``unshare --user --net`` works on this host (probed once), the interpreter runs
  in an empty network namespace — no interface but a downed loopback, so no TCP/UDP/DNS at all.
- Python (``-I -S``: standard library only, no site-packages) installs an audit hook before the
  user's code runs that refuses sockets and DNS, subprocesses, fork/exec, ctypes, kill, and file
  access outside the temp dir and the standard library (so ``/proc/<worker>/environ`` and the
  worker's ``.env`` are unreadable). Importing ``subprocess`` or ``asyncio`` fails as a result.
- Node runs with its permission model (reads limited to the runner and temp dir, writes to the
  temp dir, no child processes or worker threads); the runner also removes ``fetch``,
  ``process.kill``, ``process.binding``, ``process.mainModule`` and friends, and user code has
  no ``require`` or dynamic ``import()``.

- Landlock (``code_runners/landlock.py``, where the kernel has it): the kernel confines the
  process to reading its temp dir, the interpreter's standard library and system libraries,
  and writing only its temp dir; TCP bind/connect and signals or abstract sockets reaching
  outside the sandbox are refused. A seccomp filter refuses new processes (threads stay
  allowed): RLIMIT_NPROC does not bind uid 0, this does. Python applies both to itself after
  warming up; Node is started through the launcher, which applies both before exec. These
  hold even if user code gets past the in-process guards.

Not blocked: the process runs as the worker's own uid, with no mount or pid namespace and no
seccomp filter beyond process creation; without Landlock (old kernels) the audit hook and
Node's permission model are the only file guards, and without user namespaces UDP and DNS
are refused only by those in-process guards. ``TIDEFLOW_CODE_REQUIRE_LANDLOCK`` makes a worker
without Landlock refuse to run code instead (a non-retryable ``CodeSandboxUnavailable``).
Processes are single-use; ``SandboxProcess.start`` is split from ``run`` so that
``code_pool.py`` can keep started, limited processes waiting for work. Python processes are
forked from a warm server (``code_forkserver.py``; ``TIDEFLOW_CODE_FORKSERVER=false`` spawns
each instead): each child confines itself exactly as a spawned runner does, before any request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import tempfile
from typing import Any, cast

from temporalio.exceptions import ApplicationError

from tideflow.activities.code_commands import (
    Language,
    SandboxError,
    SandboxLimits,
    SandboxLost,
    SandboxReply,
    SandboxTimeout,
    apply_limits,
    network_unshare_command,
    rlimits,
    runner_command,
)
from tideflow.activities.code_forkserver import (
    ForkedChild,
    ForkServer,
    ForkServerError,
    current_forkserver,
)
from tideflow.activities.code_runners import landlock
from tideflow.platform.settings import get_settings

log = logging.getLogger(__name__)

LOG_LIMIT_BYTES = 64 * 1024  # keep this much of the user's prints for error messages
START_TIMEOUT_S = 10.0


@functools.cache
def landlock_abi() -> int:
    """The Landlock ABI version sandbox processes get here (0: none, in-process guards only)."""
    return landlock.abi_version()


def landlock_status() -> str:
    """One line for the worker's start-up log: whether Landlock confines code sandboxes."""
    abi = landlock_abi()
    if abi:
        return f"code sandboxes are confined by Landlock (ABI {abi})"
    return (
        "Landlock is not available: code sandboxes rely on in-process guards only "
        "(TIDEFLOW_CODE_REQUIRE_LANDLOCK=true refuses to run code without it)"
    )


def _not_confined() -> ApplicationError:
    return ApplicationError(
        "refusing to run code: Landlock cannot confine the sandbox on this worker (the kernel "
        "or its seccomp profile does not offer it) and TIDEFLOW_CODE_REQUIRE_LANDLOCK is set",
        type="CodeSandboxUnavailable",
        non_retryable=True,
    )


async def _read_capped(reader: asyncio.StreamReader, cap: int, *, overflow_error: bool) -> bytes:
    """Read to EOF; beyond ``cap`` either fail or keep draining and drop the rest."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await reader.read(65536):
        if size < cap:
            chunks.append(chunk[: cap - size])
        size += len(chunk)
        if size > cap and overflow_error:
            raise SandboxError(f"the result is larger than the {cap}-byte output limit")
    return b"".join(chunks)


class SandboxProcess:
    """A started, limited interpreter waiting for one request on stdin."""

    def __init__(
        self,
        process: asyncio.subprocess.Process | ForkedChild,
        results: asyncio.StreamReader,
        transport: asyncio.BaseTransport,
        workdir: str,
        limits: SandboxLimits,
    ) -> None:
        self._process = process
        self._results = results
        self._transport = transport
        self._workdir = workdir
        self._limits = limits

    @classmethod
    async def start(cls, language: Language, limits: SandboxLimits) -> SandboxProcess:
        """Fork (Python, from the warm server) or spawn the runner, and wait until it is
        ready and limited."""
        settings = get_settings()
        require = settings.code_require_landlock
        if require and landlock_abi() == 0:
            raise _not_confined()
        if language == "python3" and settings.code_forkserver:
            try:
                server = await current_forkserver(network_unshare_command())
                return await cls._forked(server, limits, require=require)
            except (ForkServerError, OSError) as exc:
                log.warning("no code fork server (%s): spawning this sandbox instead", exc)
        workdir = tempfile.mkdtemp(prefix="tideflow-code-")
        read_fd, write_fd = os.pipe()
        try:
            command = runner_command(language, write_fd, limits.memory_mb, workdir, require=require)
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=workdir,
                env={
                    "PATH": "/usr/bin:/bin",
                    "HOME": workdir,
                    "TMPDIR": workdir,
                    "LANG": "C.UTF-8",
                    # Read by the runner before any user code arrives.
                    **({"TIDEFLOW_CODE_REQUIRE_LANDLOCK": "1"} if require else {}),
                },
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        finally:
            os.close(write_fd)
        sandbox = await cls._ready(process, read_fd, workdir, limits, language, require=require)
        try:
            apply_limits(process.pid, language, limits)
        except BaseException:
            await sandbox.close()
            raise
        return sandbox

    @classmethod
    async def _forked(
        cls, server: ForkServer, limits: SandboxLimits, *, require: bool
    ) -> SandboxProcess:
        """A child of the fork server: it applies its limits itself before saying ``R``."""
        workdir = tempfile.mkdtemp(prefix="tideflow-code-")
        try:
            child, read_fd = await server.fork(
                workdir,
                rlimits("python3", limits),
                require_landlock=require,
            )
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return await cls._ready(child, read_fd, workdir, limits, "python3", require=require)

    @classmethod
    async def _ready(
        cls,
        process: asyncio.subprocess.Process | ForkedChild,
        read_fd: int,
        workdir: str,
        limits: SandboxLimits,
        language: Language,
        *,
        require: bool,
    ) -> SandboxProcess:
        """Wrap the result pipe and wait for the runner's ``R``."""
        results = asyncio.StreamReader()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(results), os.fdopen(read_fd, "rb", 0)
        )
        sandbox = cls(process, results, transport, workdir, limits)
        try:
            ready = await asyncio.wait_for(results.read(1), START_TIMEOUT_S)
        except TimeoutError:
            ready = b""
        except BaseException:  # cancelled: no process or temp dir may be left behind
            sandbox.discard()
            raise
        if ready != b"R":
            await sandbox.close()
            if process.returncode == landlock.NOT_CONFINED and require:
                raise _not_confined()
            raise SandboxError(f"the {language} runner did not start: {await sandbox.log()}")
        return sandbox

    async def log(self) -> str:
        """What the process printed (call after it has been killed, or this waits for it)."""
        assert self._process.stdout is not None
        raw = await _read_capped(self._process.stdout, LOG_LIMIT_BYTES, overflow_error=False)
        return raw.decode(errors="replace").strip()

    async def run(self, code: str, inputs: dict[str, Any]) -> SandboxReply:
        """Send one request and wait for the reply, enforcing the wall-time limit."""
        assert self._process.stdout is not None
        log_task = asyncio.create_task(
            _read_capped(self._process.stdout, LOG_LIMIT_BYTES, overflow_error=False)
        )
        try:
            raw = await asyncio.wait_for(self._exchange(code, inputs), self._limits.timeout_s)
        except TimeoutError:
            raise SandboxTimeout(
                f"the code ran longer than the {self._limits.timeout_s:g} s time limit"
            ) from None
        finally:
            # Once the reply is complete nothing else from the process matters: kill it rather
            # than wait for interpreter shutdown.
            self._kill()
            log = (await log_task).decode(errors="replace")
        if not raw:
            returncode = await self._process.wait()
            lost = self._process.lost if isinstance(self._process, ForkedChild) else None
            if lost == "died":
                raise SandboxLost("the code's sandbox process was lost: its fork server exited")
            if lost == "closed":
                raise SandboxError("the code was stopped: the worker is shutting down")
            raise _failure(returncode, self._limits, log)
        # With a reply the exit status does not matter: ``close`` reaps the process.
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise SandboxError("the code wrote something other than a reply to the result pipe")
        return SandboxReply(cast(dict[str, Any], data), log)

    async def _exchange(self, code: str, inputs: dict[str, Any]) -> bytes:
        stdin = self._process.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.write(json.dumps({"code": code, "inputs": inputs}).encode())
            await stdin.drain()
            stdin.close()
        raw = await _read_capped(self._results, self._limits.max_output_bytes, overflow_error=True)
        if not raw:
            # No reply: let the process finish (within the time limit) so its status tells why.
            await self._process.wait()
        return raw

    @property
    def pid(self) -> int:
        """The interpreter's process id (it leads its own process group)."""
        return self._process.pid

    @property
    def alive(self) -> bool:
        """False once the process has exited (a waiting process should never have)."""
        return self._process.returncode is None

    def discard(self) -> None:
        """Kill the process group and delete the temp dir without the event loop (which may be
        closed); the child watcher reaps the process."""
        self._kill()
        shutil.rmtree(self._workdir, ignore_errors=True)
        # Marks the pipes closed, so their finalizers do not reach for a closed loop.
        with contextlib.suppress(RuntimeError):
            self._transport.close()
        if isinstance(self._process, ForkedChild):
            self._process.close_pipes()
            return
        with contextlib.suppress(RuntimeError):
            self._process._transport.close()  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]

    def _kill(self) -> None:
        # The runner leads its own session, so this also reaches anything it managed to start.
        if isinstance(self._process, ForkedChild):
            self._process.kill()  # by the fork server, which knows whether it is still alive
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)

    async def close(self) -> None:
        """Kill the process group, reap the process and delete the temp dir."""
        self._kill()
        await self._process.wait()
        self._transport.close()
        if isinstance(self._process, ForkedChild):
            self._process.close_pipes()
        shutil.rmtree(self._workdir, ignore_errors=True)


def _failure(returncode: int, limits: SandboxLimits, log: str) -> SandboxError:
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return SandboxTimeout("the code used more than its CPU-time limit")
    if returncode == -signal.SIGABRT or "out of memory" in log.lower() or "MemoryError" in log:
        return SandboxError(f"the code ran out of memory (limit {limits.memory_mb} MB)")
    tail = log[-2000:]
    detail = f"; it printed:\n{tail}" if tail else ""
    return SandboxError(f"the code process exited with status {returncode} and no result{detail}")
