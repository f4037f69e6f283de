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

import _thread
import contextlib
import gc
import json
import linecache
import os
import sys
import traceback
from collections.abc import Callable

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
# Frames of other threads, and tracers (which are handed every frame, the hook's included).
_FRAME_EVENTS = frozenset({"sys._current_frames", "sys.settrace", "sys.setprofile"})
# Function attributes whose change rewrites what a function does.
_CODE_ATTRS = frozenset({"__code__", "__defaults__", "__kwdefaults__"})


# Every helper below reads only what its factory captured (C functions, immutable values),
# never a global or builtin: the user's code may rebind any module attribute (this runner is
# ``sys.modules["__main__"]``, and ``os.path`` is as writable).
Check = Callable[[str, tuple[object, ...]], None]


def _resolver() -> Callable[[str], str]:
    """``os.path.realpath`` made of C calls only (the real one reads rebindable globals)."""
    lstat, readlink, getcwd, oserror, refused, sep = (
        os.lstat,
        os.readlink,
        os.getcwd,
        OSError,
        PermissionError,
        "/",
    )

    def real(path: str) -> str:
        pending = path.split(sep)
        if not path.startswith(sep):
            pending = [*getcwd().split(sep), *pending]
        resolved: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                resolved = resolved[:-1]
                continue
            candidate = sep + sep.join([*resolved, part])
            try:
                is_link = lstat(candidate).st_mode & 0o170000 == 0o120000
            except oserror:
                is_link = False  # not there (yet): kept as written, as realpath does
            if not is_link:
                resolved.append(part)
                continue
            hops += 1
            if hops > 40:
                raise refused("sandbox: too many levels of symbolic links")
            target = readlink(candidate)
            if target.startswith(sep):
                resolved = []
            pending = [*target.split(sep), *pending]
        return sep + sep.join(resolved)

    return real


def _path_checker(real: Callable[[str], str]) -> Callable[[object, tuple[str, ...]], bool]:
    """Whether a path argument of an audit event is under one of ``roots`` (each ending in
    ``/``; no generator expressions here: their frames would not lead back to the hook)."""
    isinstance_, str_, bytes_, int_, sep = isinstance, str, bytes, int, "/"

    def inside(path: object, roots: tuple[str, ...]) -> bool:
        if isinstance_(path, int_):
            return True  # an fd the process already holds
        # The unbound C methods give an exact str, whatever a subclass overrides.
        if isinstance_(path, str_):
            text = str_.__str__(path)
        elif isinstance_(path, bytes_):
            text = bytes_.decode(path, "utf-8", "surrogateescape")
        else:
            return False
        if "\0" in text:
            return False
        return str_.startswith(real(text) + sep, roots)

    return inside


def _file_check(sandbox_dir: str, inside: Callable[[object, tuple[str, ...]], bool]) -> Check:
    """Refuse file events outside the sandbox dir (reads: also the standard library)."""
    isinstance_, len_, refused = isinstance, len, PermissionError
    str_, bytes_, int_ = str, bytes, int
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT
    write_events, read_events = _WRITE_EVENTS, _READ_EVENTS
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    write_roots = (os.path.realpath(sandbox_dir) + "/",)
    read_roots = (
        *write_roots,
        *(p + "/" for p in (stdlib, "/usr/share/zoneinfo", "/dev/null", "/dev/urandom")),
    )
    write_modes = frozenset("wax+")

    def check_files(event: str, args: tuple[object, ...]) -> None:
        first = args[0] if len_(args) > 0 else None
        if event == "open":
            mode = args[1] if len_(args) > 1 and isinstance_(args[1], str_) else "r"
            flags = args[2] if len_(args) > 2 else 0
            writing = not write_modes.isdisjoint(str_.__str__(mode)) or (
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

    return check_files


def install_guard(sandbox_dir: str) -> None:
    """Refuse network, process and out-of-sandbox file access for the rest of this process.

    The hook calls no Python code but its own helpers. What would reach their closures (whose
    cells are writable) is refused: the ``gc`` walks, tracers, other threads' frames, and a
    frame of the hook itself, which a traceback of an exception it raised leads to.
    """
    isinstance_, len_, getattr_, refused, str_ = isinstance, len, getattr, PermissionError, str
    gc_enabled, gc_disable, gc_enable = gc.isenabled, gc.disable, gc.enable
    blocked_prefixes, blocked_modules = _BLOCKED_PREFIXES, _BLOCKED_MODULES
    frame_events, code_attrs = _FRAME_EVENTS, _CODE_ATTRS
    real = _resolver()
    inside = _path_checker(real)
    check_files = _file_check(sandbox_dir, inside)
    # Threads (by id) in the hook, and in the hook reading a traceback's frames.
    get_ident, running, reading = _thread.get_ident, set[int](), set[int]()

    def leads_to_hook(entry: object) -> bool:
        # No garbage collection (and so no finalizer of the user's) while our reads are let
        # through: it would get them too.
        collecting = gc_enabled()
        gc_disable()
        me = get_ident()
        reading.add(me)
        try:
            frame = getattr_(entry, "tb_frame")
            while frame is not None:
                if frame.f_code in guard_codes:
                    return True
                frame = frame.f_back
            return False
        finally:
            reading.discard(me)
            if collecting:
                gc_enable()

    def check(event: str, args: tuple[object, ...]) -> None:
        first = args[0] if len_(args) > 0 else None
        # Exact strs (a subclass could answer == and hash as it likes).
        name = str_.__str__(first) if isinstance_(first, str_) else ""
        second = str_.__str__(args[1]) if len_(args) > 1 and isinstance_(args[1], str_) else ""
        if event.startswith(blocked_prefixes) or event in frame_events:
            raise refused(f"sandbox: {event} is not allowed")
        if event == "import" and name in blocked_modules:
            raise refused(f"sandbox: importing {name} is not allowed")
        if event == "object.__setattr__" and second in code_attrs:
            raise refused(f"sandbox: setting {second} is not allowed")
        if event == "object.__getattr__" and second == "tb_frame" and leads_to_hook(first):
            raise refused("sandbox: the sandbox's own frames are not reachable")
        check_files(event, args)

    def hook(event: str, args: tuple[object, ...]) -> None:
        me = get_ident()
        if me in running:
            if me in reading and event == "object.__getattr__":
                return  # leads_to_hook's own reads
            # Raised while the hook runs: by a finalizer run here (the hook's frame is on
            # the stack), or a user object's method the hook called.
            raise refused(f"sandbox: {event} is not allowed here")
        running.add(me)
        try:
            check(event, args)
        finally:
            running.discard(me)

    helpers = (real, inside, check_files, leads_to_hook, check, hook)
    guard_codes = tuple(getattr_(helper, "__code__") for helper in helpers)
    sys.addaudithook(hook)


def _user_line(exc: BaseException) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename == USER_FILE:
        return exc.lineno
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == USER_FILE:
            line = frame.lineno
    return line


def _cut_guard_frames(exc: BaseException) -> None:
    """End each traceback in ``exc``'s chain before the audit hook's frames, which the hook
    refuses to hand out: the exception it raised ends in them."""
    pending: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        entry = current.__traceback__
        while entry is not None and entry.tb_next is not None:
            try:
                entry.tb_next.tb_frame  # noqa: B018 - the read is the test
            except PermissionError:
                entry.tb_next = None
            entry = entry.tb_next
        pending += [current.__cause__, current.__context__]


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
        _cut_guard_frames(exc)
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


def confine(sandbox_dir: str, *, require: bool) -> None:
    """Kernel-enforced limits (``landlock.py``): reads only from the sandbox dir, the standard
    library and system libraries, writes only to the sandbox dir; no TCP, no signals out of
    the sandbox, no new processes. Where Landlock cannot be applied and ``require`` is set,
    exit before any user code arrives."""
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
    abi = landlock.restrict([sandbox_dir], readable)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    if abi == 0 and require:
        print("sandbox: Landlock is not available, and it is required", file=sys.stderr)
        os._exit(landlock.NOT_CONFINED)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    landlock.forbid_new_processes()  # pyright: ignore[reportUnknownMemberType]


def serve(result_fd: int) -> None:
    """Say ``R``, then read one request from stdin, run it and write the reply (never returns).
    Call it confined, with the guard installed."""
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


def main() -> None:
    """Serve one request as described in the module docstring (the parent set
    ``TIDEFLOW_CODE_REQUIRE_LANDLOCK=1`` in the environment when Landlock is required)."""
    result_fd = int(sys.argv[1])
    warm_up()
    confine(os.getcwd(), require=os.environ.get("TIDEFLOW_CODE_REQUIRE_LANDLOCK") == "1")
    install_guard(os.getcwd())
    serve(result_fd)


if __name__ == "__main__":
    main()
