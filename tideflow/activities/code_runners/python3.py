"""Runs one Python code node inside a sandbox process (executed as a script, never imported).

Protocol, shared with ``javascript.js``: ``argv[1]`` is the result fd. The runner writes ``R``
to it once started (here: warmed up and with the guard below installed), reads
``{"code", "inputs"}`` as JSON from stdin, runs ``main(**inputs)`` and writes one JSON reply to
the result fd: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_type", "message",
"line"}``. Anything the user prints goes to stdout, which the parent only keeps as a log, so
prints cannot corrupt the reply.

An audit hook refuses sockets, DNS, subprocesses, fork/exec, ctypes, signals to other
processes, and file access outside the sandbox dir and the standard library. Audit hooks are a
speed bump, not a wall (see ``code_sandbox.py`` for what the OS-level limits add).
"""

import contextlib
import json
import linecache
import os
import sys
import traceback

USER_FILE = "<code>"

# Event prefixes refused outright: network, process creation, native code, other processes.
_BLOCKED_PREFIXES = (
    "socket.",
    "subprocess.",
    "ctypes.",
    "os.system",
    "os.exec",
    "os.spawn",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.killpg",
    "signal.pthread_kill",
    "pty.",
    "webbrowser.",
    # gc walks reach every object, the hook's closure included (cells are writable).
    "gc.get_objects",
    "gc.get_referrers",
    "gc.get_referents",
)
# Modules that reach the same things without raising an audit event of their own.
# (Sockets are refused at creation by the socket.* events, so `socket` itself may be imported.)
_BLOCKED_MODULES = frozenset({"_posixsubprocess", "_ctypes", "_multiprocessing"})
# Events whose string arguments are paths that may only point into the sandbox dir.
_WRITE_EVENTS = frozenset(
    {
        "os.remove",
        "os.rename",
        "os.rmdir",
        "os.mkdir",
        "os.chmod",
        "os.chown",
        "os.symlink",
        "os.link",
        "os.truncate",
        "os.utime",
        "os.setxattr",
        "os.removexattr",
        "shutil.rmtree",
    }
)
_READ_EVENTS = frozenset({"os.listdir", "os.scandir", "glob.glob"})


def install_guard(sandbox_dir: str) -> None:
    """Refuse network, process and out-of-sandbox file access for the rest of this process.

    The user's code runs in this process and may rebind any module attribute (this runner is
    ``sys.modules["__main__"]``), so the hook reads only what it captured here, never a global
    or builtin; the ``gc`` walks that would reach its closure are refused too.
    """
    fsdecode, realpath, sep = os.fsdecode, os.path.realpath, os.sep
    # Builtins too: a name the hook looked up at call time could be shadowed in __main__.
    isinstance_, len_, any_, refused = isinstance, len, any, PermissionError
    str_, bytes_, int_ = str, bytes, int
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT
    blocked_prefixes, blocked_modules = _BLOCKED_PREFIXES, _BLOCKED_MODULES
    write_events, read_events = _WRITE_EVENTS, _READ_EVENTS
    stdlib = realpath(os.path.dirname(os.__file__))
    write_roots = (realpath(sandbox_dir),)
    read_roots = (*write_roots, stdlib, "/usr/share/zoneinfo", "/dev/null", "/dev/urandom")

    def inside(path: object, roots: tuple[str, ...]) -> bool:
        if isinstance_(path, int_):
            return True  # an fd the process already holds
        if not isinstance_(path, str_ | bytes_):
            return False
        real = realpath(fsdecode(path))
        return any_(real == root or real.startswith(root + sep) for root in roots)

    def hook(event: str, args: tuple[object, ...]) -> None:
        first = args[0] if len_(args) > 0 else None
        if event.startswith(blocked_prefixes):
            raise refused(f"sandbox: {event} is not allowed")
        if event == "import" and first in blocked_modules:
            raise refused(f"sandbox: importing {first} is not allowed")
        if event == "open":
            mode = args[1] if len_(args) > 1 else "r"
            flags = args[2] if len_(args) > 2 else 0
            writing = (isinstance_(mode, str_) and any_(c in mode for c in "wax+")) or (
                isinstance_(flags, int_) and flags & write_flags != 0
            )
            if not inside(first, write_roots if writing else read_roots):
                raise refused(f"sandbox: cannot open {first!r}")
        elif event in write_events:
            for arg in args:
                if isinstance_(arg, str_ | bytes_) and not inside(arg, write_roots):
                    raise refused(f"sandbox: {event} outside the sandbox dir")
        elif event in read_events and not inside("." if first is None else first, read_roots):
            raise refused(f"sandbox: {event} outside the sandbox dir")

    sys.addaudithook(hook)


def _user_line(exc: BaseException) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename == USER_FILE:
        return exc.lineno
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == USER_FILE:
            line = frame.lineno
    return line


def run_user_code(code: str, inputs: dict[str, object]) -> dict[str, object]:
    """Run ``main(**inputs)`` from ``code`` and describe the outcome as a reply dict."""
    # Registering the source lets tracebacks in the log quote the user's lines.
    linecache.cache[USER_FILE] = (len(code), None, code.splitlines(keepends=True), USER_FILE)
    namespace: dict[str, object] = {"__name__": "__main__"}
    try:
        exec(compile(code, USER_FILE, "exec"), namespace)
        entry = namespace.get("main")
        if not callable(entry):
            return {"ok": False, "error_type": "CodeError", "message": "no main() function"}
        result = entry(**inputs)
    except BaseException as exc:  # the user's code may raise anything, even SystemExit
        message = str(exc) if not isinstance(exc, SyntaxError) else str(exc.msg)
        reply: dict[str, object] = {
            "ok": False,
            "error_type": type(exc).__name__,
            "message": message,
            "line": _user_line(exc),
        }
        with contextlib.suppress(MemoryError):  # the log is a courtesy; the reply is what matters
            traceback.print_exception(exc, file=sys.stdout)
        return reply
    return {"ok": True, "result": result}


def encode_reply(reply: dict[str, object]) -> bytes:
    """JSON-encode the reply, or an error reply when the result is not JSON-serializable."""
    try:
        return json.dumps(reply, ensure_ascii=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        failure = {"ok": False, "error_type": "OutputError", "message": f"not JSON: {exc}"}
        return json.dumps(failure).encode()


# Compiled and run once before the runner says it is ready: the first compile() of a process
# costs ~1.5 ms (the compiler's one-time set-up), which a pre-started process pays while it
# waits rather than on the code node's clock. Nothing of it is visible to the user's code.
_WARM_UP = "def main(text, n=1):\n    return {'out': [text * n, 1.5, None, True]}\n"


def warm_up() -> None:
    """Pay the interpreter's one-time costs (compiler, JSON) before any request arrives."""
    exec(compile(_WARM_UP, "<warm-up>", "exec"), {"__name__": "warm_up"})
    json.loads(encode_reply({"ok": True, "result": {"out": ["x", 1.5, None, True]}}))


def confine(sandbox_dir: str) -> None:
    """Kernel-enforced limits (``landlock.py``): reads only from the sandbox dir, the standard
    library and system libraries, writes only to the sandbox dir; no TCP, no signals out of
    the sandbox, no new processes."""
    here = os.path.dirname(os.path.realpath(__file__))
    sys.path.insert(0, here)
    try:
        import landlock  # pyright: ignore[reportMissingImports]
    finally:
        sys.path.remove(here)
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    # Extension modules (zlib, _ssl...) load system shared libraries when first imported.
    libraries = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache")
    readable = (stdlib, *libraries, "/usr/share/zoneinfo", "/dev/null", "/dev/urandom")
    landlock.restrict([sandbox_dir], readable)  # pyright: ignore[reportUnknownMemberType]
    landlock.forbid_new_processes()  # pyright: ignore[reportUnknownMemberType]


def main() -> None:
    """Serve one request as described in the module docstring."""
    result_fd = int(sys.argv[1])
    warm_up()
    confine(os.getcwd())
    install_guard(os.getcwd())
    os.write(result_fd, b"R")
    request = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    reply = encode_reply(run_user_code(request["code"], request["inputs"]))
    sys.stdout.flush()
    sys.stderr.flush()
    # Close the log pipe first, so the parent has all of it when the reply arrives, without
    # waiting for this process to be torn down.
    for log_fd in (1, 2):
        with contextlib.suppress(OSError):
            os.close(log_fd)
    view = memoryview(reply)
    while view:
        view = view[os.write(result_fd, view) :]
    os.close(result_fd)
    os._exit(0)  # skip interpreter shutdown; the parent has everything it needs


if __name__ == "__main__":
    main()
