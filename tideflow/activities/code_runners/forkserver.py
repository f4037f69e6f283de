"""A warm Python interpreter that forks one sandbox process per code-node run (run as a script).

Starting a sandbox interpreter costs tens of milliseconds (``unshare``, exec, start-up, imports,
the compiler's warm-up); forking one that has already paid them costs about one. This server
is started once per worker (``code_forkserver.py``), inside the same empty network namespace a
spawned runner gets, warms up, and then only forks: it never runs user code. Each child is a
fresh process that serves exactly one run and dies, as a spawned runner does, and confines
itself before it says it is ready, in this order:

1. ``setsid`` (the worker kills the child's process group), the parent-death signal (a dead
   server takes its children along), the worker's pipes as stdin, stdout/stderr and the
   result fd (every other fd closed), its own temp dir as cwd, HOME and TMPDIR;
2. rlimits: CPU, address space, file size, no new processes, open files, no core dumps;
3. Landlock and the seccomp filter (``landlock.py``), then the audit hook (``python3.py``);
4. ``R`` on the result fd; from here on it is ``python3.py``'s protocol.

Control protocol on ``argv[1]``, a SOCK_SEQPACKET socket (one JSON message per packet):
- worker -> server: ``{"op": "fork", "id", "workdir", "rlimits": [[resource, soft, hard],
  ...], "require_landlock"}`` with three fds (stdin, log, result), or
  ``{"op": "kill", "pid"}``;
- server -> worker: ``{"op": "forked", "id", "pid"}`` or ``{"op": "failed", "id", "message"}``,
  and ``{"op": "exit", "pid", "returncode"}`` (negative: the signal) once a child is reaped.

Unlike spawned runners, concurrent children share one network namespace (the server's: no
interface up, so still no network) and one user namespace. What could pass between two
children there, abstract unix sockets and signals, Landlock's scoping refuses (ABI 6 and
later) and so does the audit hook; a nested namespace per child would need the server to hold
capabilities in its own, which it does not.

The server is single-threaded (forking a threaded process is unsafe): a selector waits on the
control socket and on SIGCHLD. A failed fork fails that one request. When the worker closes
the socket, the server kills its children and exits.
"""

import contextlib
import ctypes
import json
import os
import resource
import selectors
import signal
import socket
import sys
from typing import cast

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
import landlock  # noqa: E402, F401  # pyright: ignore[reportMissingImports, reportUnusedImport]  # warm: children confine with it
import python3  # noqa: E402  # pyright: ignore[reportMissingImports]

sys.path.remove(HERE)

_PDEATHSIG = 1  # PR_SET_PDEATHSIG
_CHILD_FDS = 3
RESULT_FD = 3  # where a child finds its result pipe


def _child(request: dict[str, object], fds: list[int], server: int) -> None:
    """In the forked child: confine this process, then serve one run (never returns)."""
    try:
        stdin, log, result = fds
        os.setsid()
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != server:
            os._exit(1)  # the server died before the parent-death signal was armed
        os.dup2(stdin, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.dup2(result, RESULT_FD)
        os.closerange(RESULT_FD + 1, os.sysconf("SC_OPEN_MAX"))
        workdir = str(request["workdir"])
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update(PATH="/usr/bin:/bin", HOME=workdir, TMPDIR=workdir, LANG="C.UTF-8")
        # The worker's table (``code_commands.rlimits``), as a spawned runner gets it.
        for kind, soft, hard in cast(list[list[int]], request["rlimits"]):
            resource.setrlimit(kind, (soft, hard))
        python3.confine(workdir, require=bool(request.get("require_landlock")))
        python3.install_guard(workdir)
        python3.serve(RESULT_FD)
    except BaseException as exc:  # nothing may return into the server's loop
        with contextlib.suppress(BaseException):
            os.write(2, f"sandbox: the forked runner failed to start: {exc!r}\n".encode())
    os._exit(1)


def _ignore(signum: int, frame: object) -> None:
    """A Python-level handler, so the signal reaches the wakeup fd."""


class Server:
    """The fork loop described in the module docstring."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.children: set[int] = set()
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        signal.set_wakeup_fd(self.wake_write)
        signal.signal(signal.SIGCHLD, _ignore)  # the handler's wakeup fd wakes the selector

    def send(self, message: dict[str, object]) -> None:
        with contextlib.suppress(OSError):  # the worker went away: the loop ends on EOF
            self.control.send(json.dumps(message).encode())

    def fork(self, request: dict[str, object], fds: list[int]) -> None:
        if len(fds) != _CHILD_FDS:
            self.send({"op": "failed", "id": request.get("id"), "message": "expected 3 fds"})
            return
        server = os.getpid()
        try:
            pid = os.fork()
        except OSError as exc:  # e.g. a process limit: this run fails, the server goes on
            self.send({"op": "failed", "id": request.get("id"), "message": str(exc)})
            return
        if pid == 0:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in (self.control.fileno(), self.wake_read, self.wake_write):
                os.close(fd)
            _child(request, fds, server)
        self.children.add(pid)
        self.send({"op": "forked", "id": request.get("id"), "pid": pid})

    def kill(self, pid: object) -> None:
        # Only a child not yet reaped: its pid cannot have been reused.
        if isinstance(pid, int) and pid in self.children:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:  # not yet its own group leader (before its setsid)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            except PermissionError:
                pass

    def reap(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.wake_read, 512):
                pass
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self.send({"op": "exit", "pid": pid, "returncode": os.waitstatus_to_exitcode(status)})

    def handle(self) -> bool:
        """One control message; False once the worker has closed the socket."""
        try:
            data, fds, _, _ = socket.recv_fds(self.control, 65536, _CHILD_FDS)
        except InterruptedError:
            return True
        if not data:
            return False
        try:
            parsed: object = json.loads(data)
            if not isinstance(parsed, dict):
                return True
            request = cast(dict[str, object], parsed)
            if request.get("op") == "fork":
                self.fork(request, fds)
            elif request.get("op") == "kill":
                self.kill(request.get("pid"))
        except ValueError:
            pass  # not JSON: ignored (only the worker writes here)
        finally:
            for fd in fds:
                os.close(fd)
        return True

    def serve_forever(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.control, selectors.EVENT_READ, "control")
        selector.register(self.wake_read, selectors.EVENT_READ, "child")
        running = True
        while running:
            for key, _ in selector.select():
                if key.data == "child":
                    self.reap()
                elif not self.handle():
                    running = False
        for pid in list(self.children):
            self.kill(pid)


def main() -> None:
    """Warm up, say ``R`` on the control socket, then fork on request until it closes."""
    control = socket.socket(fileno=int(sys.argv[1]))
    python3.warm_up()
    server = Server(control)
    control.send(b'{"op": "ready"}')
    server.serve_forever()
    os._exit(0)


if __name__ == "__main__":
    main()
