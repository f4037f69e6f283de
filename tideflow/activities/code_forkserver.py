"""The worker's side of the Python fork server (``code_runners/forkserver.py``).

One server per event loop, started on first use inside the same network sandbox a spawned
runner gets (``unshare --user --net`` where the host allows it). ``fork`` hands it three pipes
and the run's limits; it answers with the pid of a fresh child that confines itself (rlimits,
Landlock, seccomp, the audit hook) and then says ``R`` on the result pipe, exactly like a
spawned ``python3.py``. A child serves one run and dies, so isolation between runs is that of
separate processes; what the fork saves is the interpreter's start (tens of milliseconds,
most of it on a busy CPU) against about one for a fork.

Children are the server's, not the worker's: the server reaps them and reports each exit
status, and kills on request only a child it has not yet reaped (so a reused pid is never
hit). If the worker dies, the server sees its socket close and kills its children; if the
server dies, its children get SIGKILL from the parent-death signal and every waiting
``wait()`` here ends with -9. The next ``current_forkserver`` then starts a new server.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SERVER = Path(__file__).parent / "code_runners" / "forkserver.py"
START_TIMEOUT_S = 10.0


class ForkServerError(Exception):
    """The fork server could not be started or did not answer."""


class ForkedChild:
    """A child of the fork server: the subset of ``asyncio.subprocess.Process`` the sandbox
    uses, plus ``kill`` (its process group) and ``close_pipes``."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server = server
        self.pid = pid
        self.exited: asyncio.Future[int] = server.loop.create_future()
        self.stdin: asyncio.StreamWriter | None = None
        self.stdout: asyncio.StreamReader | None = None
        self.attached: list[asyncio.BaseTransport] = []
        # Set when the server went before reporting this child's exit: "died" (unexpectedly)
        # or "closed" (the worker is shutting down).
        self.lost: str | None = None

    @property
    def returncode(self) -> int | None:
        return self.exited.result() if self.exited.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self.exited)

    def kill(self) -> None:
        self.server.kill(self.pid)

    def close_pipes(self) -> None:
        for transport in self.attached:
            with contextlib.suppress(RuntimeError):  # the loop may be closed
                transport.close()

    async def attach(self, stdin_fd: int, log_fd: int) -> None:
        """Wrap the worker's ends of the child's stdin and log pipes in asyncio streams (both
        closed again if this fails or is cancelled)."""
        loop = self.server.loop
        log_file, stdin_file = os.fdopen(log_fd, "rb", 0), os.fdopen(stdin_fd, "wb", 0)
        try:
            reader = asyncio.StreamReader()
            out, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), log_file
            )
            self.attached.append(out)
            self.stdout = reader
            protocol = asyncio.StreamReaderProtocol(asyncio.StreamReader())
            into, _ = await loop.connect_write_pipe(lambda: protocol, stdin_file)
            self.attached.append(into)
            self.stdin = asyncio.StreamWriter(into, protocol, None, loop)
        except BaseException:
            self.close_pipes()
            log_file.close()  # a no-op for a file its transport already closed
            stdin_file.close()
            raise


class ForkServer:
    """A running fork server and the reader of its messages."""

    def __init__(self, process: asyncio.subprocess.Process, control: socket.socket) -> None:
        self.loop = asyncio.get_running_loop()
        self.process = process
        self.control = control
        # Every child not yet reaped, registered when the server's answer is read: its exit
        # (which the server can only report after that answer) always finds it here.
        self.children: dict[int, ForkedChild] = {}
        self.pending: dict[int, asyncio.Future[ForkedChild]] = {}
        self.next_id = 0
        self.alive = True
        self.closing = False  # close() or kill_now() was called: its end is no surprise
        self.reader = self.loop.create_task(self._read())

    @classmethod
    async def start(cls, unshare: Sequence[str]) -> ForkServer:
        """Spawn the server and wait until it has warmed up."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = await asyncio.create_subprocess_exec(
                *unshare,
                sys.executable,
                "-I",
                "-S",
                "-B",
                str(SERVER),
                str(theirs.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            ready = await asyncio.wait_for(loop.sock_recv(ours, 4096), START_TIMEOUT_S)
        except (TimeoutError, OSError):
            ready = b""
        if json.loads(ready or b"{}").get("op") != "ready":
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            ours.close()
            raise ForkServerError(f"the fork server did not start (status {process.returncode})")
        return cls(process, ours)

    async def fork(
        self,
        workdir: str,
        limits: Sequence[tuple[int, tuple[int, int]]],
        *,
        require_landlock: bool,
    ) -> tuple[ForkedChild, int]:
        """A fresh confined child in ``workdir``, and the read end of its result pipe."""
        if not self.alive:
            raise ForkServerError("the fork server has exited")
        stdin_r, stdin_w = os.pipe()
        log_r, log_w = os.pipe()
        result_r, result_w = os.pipe()
        request_id = self.next_id = self.next_id + 1
        answer = self.pending[request_id] = self.loop.create_future()
        message = {
            "op": "fork",
            "id": request_id,
            "workdir": workdir,
            "rlimits": [[kind, soft, hard] for kind, (soft, hard) in limits],
            "require_landlock": require_landlock,
        }
        child: ForkedChild | None = None
        try:
            try:
                self._send(message, (stdin_r, log_w, result_w))
                child = forked = await asyncio.wait_for(answer, START_TIMEOUT_S)
            finally:
                # An answer read after this (timed out, cancelled) kills the orphan (_dispatch).
                self.pending.pop(request_id, None)
                for fd in (stdin_r, log_w, result_w):
                    os.close(fd)
            await forked.attach(stdin_w, log_r)
        except BaseException:
            if child is None:
                os.close(stdin_w)
                os.close(log_r)
            else:
                child.kill()  # attach() closed its pipes
            os.close(result_r)
            raise
        return forked, result_r

    def kill(self, pid: int) -> None:
        """Ask the server to kill ``pid``'s process group (if it has not reaped it yet)."""
        with contextlib.suppress(OSError):
            self._send({"op": "kill", "pid": pid})

    def _send(self, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
        data = json.dumps(message).encode()
        if fds:
            socket.send_fds(self.control, [data], list(fds))
        else:
            self.control.send(data)

    async def _read(self) -> None:
        try:
            while data := await self.loop.sock_recv(self.control, 65536):
                self._dispatch(json.loads(data))
        except (OSError, ValueError) as exc:
            log.warning("the code fork server's socket failed: %s", exc)
        finally:
            self._lost()

    def _dispatch(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "exit":
            child = self.children.pop(int(message["pid"]), None)
            if child is not None and not child.exited.done():
                child.exited.set_result(int(message["returncode"]))
            return
        answer = self.pending.get(int(message.get("id") or 0))
        if op == "forked":
            child = self.children[int(message["pid"])] = ForkedChild(self, int(message["pid"]))
            if answer is None or answer.done():
                child.kill()  # its fork() gave up waiting: nobody will use it
            else:
                answer.set_result(child)
        elif answer is not None and not answer.done():
            answer.set_exception(ForkServerError(f"could not fork: {message.get('message')}"))

    def _lost(self) -> None:
        """The server is gone: its children died with it (parent-death signal)."""
        self.alive = False
        for child in self.children.values():
            if not child.exited.done():
                child.lost = "closed" if self.closing else "died"
                child.exited.set_result(-signal.SIGKILL)
        self.children.clear()
        for answer in self.pending.values():
            if not answer.done():
                answer.set_exception(ForkServerError("the fork server has exited"))

    async def close(self) -> None:
        """Close the socket (the server then kills its children and exits) and reap it."""
        self.closing = True
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader
        self.control.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.kill_now()
            await self.process.wait()

    def kill_now(self) -> None:
        """Kill the server without the event loop (its children follow it)."""
        self.closing = True
        self.alive = False
        if self.process.returncode is None:  # not reaped yet: the pid is still the server's
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.control.close()


_server: ForkServer | None = None
_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None


async def current_forkserver(unshare: Sequence[str]) -> ForkServer:
    """The running loop's fork server, started on first use (or after the last one died)."""
    global _server, _lock
    loop = asyncio.get_running_loop()
    if _lock is None or _lock[0] is not loop:
        _lock = (loop, asyncio.Lock())
    async with _lock[1]:
        if _server is not None and (_server.loop is not loop or not _server.alive):
            _server.kill_now()
            _server = None
        if _server is None:
            _server = await ForkServer.start(unshare)
        return _server


async def shutdown_forkserver() -> None:
    """Stop this process's fork server, if one runs."""
    global _server
    server, _server = _server, None
    if server is None:
        return
    if server.loop is asyncio.get_running_loop():
        await server.close()
    else:
        server.kill_now()


@atexit.register
def _kill_at_exit() -> None:
    if _server is not None:
        _server.kill_now()
