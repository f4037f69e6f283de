"""Escape attempts from the code node's sandbox, in Python and JavaScript, run for real.

Each attempt must be refused (the node fails, or the code gets an error) and leak nothing:
network (TCP to a loopback listener the test runs, DNS, UDP), files outside the sandbox dir
(/etc/passwd, the app database, the worker's environ, writes to /tmp, symlinks, chdir), the
worker's secrets, fork and spawn bombs, memory and CPU bombs. The Python attempts are also run
after trying to switch the audit hook off by rebinding the runner's globals (which used to
work). The kernel layer under the in-process guards (Landlock) is tested on its own too.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.activities.test_ssrf_everywhere import Listener
from tideflow.activities.code import CodeOutputSpec, CodeRunInput, run_code
from tideflow.activities.code_commands import RUNNERS_DIR
from tideflow.activities.code_pool import shutdown_code_pool
from tideflow.platform.settings import get_settings

pytestmark = pytest.mark.slow

TIMEOUT_S = 4.0
SECRETS = {"TIDEFLOW_SECRET_KEY": "tf-secret-4711", "OPENAI_API_KEY": "sk-leak-4711"}
DB_SECRET = "db-secret-4711"
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def _landlock_abi() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))


@pytest.fixture(autouse=True)
def worker_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Short limits, secrets in the worker's environment, an app DB file in the data dir."""
    monkeypatch.setenv("TIDEFLOW_CODE_TIMEOUT_S", str(TIMEOUT_S))
    monkeypatch.setenv("TIDEFLOW_CODE_MEMORY_MB", "128")
    monkeypatch.setenv("TIDEFLOW_DATA_DIR", str(tmp_path))
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "app.db").write_text(DB_SECRET)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture(autouse=True, scope="module")
async def close_the_pool() -> AsyncIterator[None]:
    """Kill the pre-started runners while the event loop still runs."""
    yield
    await shutdown_code_pool()


async def outcome(code: str, language: str) -> str:
    """The node's output ``r``, or ``failed: <message>`` when the node fails."""
    request = CodeRunInput(
        node_id="code_1",
        language=language,  # pyright: ignore[reportArgumentType]
        code=code,
        inputs={},
        outputs={"r": CodeOutputSpec(type="string")},
    )
    try:
        result = await ActivityEnvironment().run(run_code, request)
    except ApplicationError as exc:
        return f"failed: {exc.message}"
    return str(result.outputs["r"])


# Rebinds names the runner's audit hook used to read from its module globals (it no longer
# does): the builtin isinstance shadowed there made every path look like an open fd.
DISABLE_HOOK = """
import sys
_m = sys.modules['__main__']
_m._BLOCKED_PREFIXES = ()
_m._BLOCKED_MODULES = frozenset()
_m._WRITE_EVENTS = frozenset()
_m._READ_EVENTS = frozenset()
_m._inside = lambda *args: True
_m.isinstance = lambda value, kind: kind is int  # every path an "fd the process holds"
"""


def python_attempt(body: str, *, disable_hook: bool = False) -> str:
    """Python code running ``body`` (which sets ``result``), reporting an error as refused."""
    prelude = DISABLE_HOOK if disable_hook else ""
    return (
        f"import os, socket\n{prelude}\ndef main():\n    try:\n"
        + textwrap.indent(body.strip(), " " * 8)
        + "\n        return {'r': 'ESCAPED: ' + repr(result)}\n"
        + "    except BaseException as exc:\n"
        + "        return {'r': 'refused: ' + type(exc).__name__ + ': ' + str(exc)}\n"
    )


def js_attempt(body: str) -> str:
    """JavaScript code running ``body`` (which returns a value), reporting errors as refused."""
    return (
        "async function main() {\n  try {\n    const result = await (async () => {\n"
        + textwrap.indent(body.strip(), " " * 6)
        + "\n    })();\n    return {r: 'ESCAPED: ' + String(result)};\n"
        + "  } catch (e) {\n"
        + "    return {r: 'refused: ' + (e && e.name) + ': ' + (e && e.message)};\n"
        + "  }\n}\n"
    )


def assert_refused(out: str, *, data_dir: Path | None = None) -> None:
    """The attempt failed, and nothing secret is in what came back."""
    assert out.startswith(("refused: ", "failed: ")), out
    for value in (*SECRETS.values(), DB_SECRET, "root:x:0:0"):
        assert value not in out, out
    if data_dir is not None:
        assert DB_SECRET not in out


def file_attempts(data_dir: Path) -> dict[str, str]:
    """Python bodies reading or writing outside the sandbox dir."""
    return {
        "passwd": "result = open('/etc/passwd').read()",
        "app_db": f"result = open({str(data_dir / 'app.db')!r}).read()",
        # The runner's parent is the fork server (minimal environment); the worker holds the
        # secrets, so its environ is tried by pid.
        "parent_environ": "result = open(f'/proc/{os.getppid()}/environ', 'rb').read()",
        "worker_environ": f"result = open('/proc/{os.getpid()}/environ', 'rb').read()",
        "self_environ": "result = open('/proc/self/environ', 'rb').read()",
        "init_environ": "result = open('/proc/1/environ', 'rb').read()",
        "write_tmp": (
            "open('/tmp/tideflow-escape-test', 'w').write('x')\n"
            "result = os.path.exists('/tmp/tideflow-escape-test')"
        ),
        "symlink": "os.symlink('/etc/passwd', 'link')\nresult = open('link').read()",
        "symlink_db": (f"os.symlink({str(data_dir)!r}, 'dir')\nresult = open('dir/app.db').read()"),
        "chdir_root": "os.chdir('/')\nresult = open('etc/passwd').read()",
        "listdir_data": f"result = os.listdir({str(data_dir)!r})",
        "os_open": "fd = os.open('/etc/passwd', os.O_RDONLY)\nresult = os.read(fd, 100)",
    }


@pytest.mark.parametrize("disable_hook", [False, True], ids=["plain", "hook-tampered"])
async def test_python_file_escapes(worker_env: Path, disable_hook: bool) -> None:
    for body in file_attempts(worker_env).values():
        out = await outcome(python_attempt(body, disable_hook=disable_hook), "python3")
        assert_refused(out, data_dir=worker_env)
    assert not Path("/tmp/tideflow-escape-test").exists()


@pytest.mark.parametrize("disable_hook", [False, True], ids=["plain", "hook-tampered"])
async def test_python_network_escapes(disable_hook: bool) -> None:
    listener = Listener()
    try:
        attempts = [
            f"s = socket.create_connection(('127.0.0.1', {listener.port}), timeout=2)\n"
            "result = s.getpeername()",
            "result = socket.getaddrinfo('localhost', 80)",
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"result = s.sendto(b'x', ('127.0.0.1', {listener.port}))",
            f"import urllib.request\nresult = urllib.request.urlopen('http://127.0.0.1:{listener.port}')",
        ]
        for body in attempts:
            out = await outcome(python_attempt(body, disable_hook=disable_hook), "python3")
            assert_refused(out)
        assert listener.accepted == 0
    finally:
        listener.close()


async def test_python_env_secrets_stay_out() -> None:
    out = await outcome(python_attempt("result = dict(os.environ)"), "python3")
    # The environment itself is readable, but holds none of the worker's variables.
    assert out.startswith("ESCAPED: "), out
    for name, value in SECRETS.items():
        assert name not in out and value not in out


@pytest.mark.parametrize("disable_hook", [False, True], ids=["plain", "hook-tampered"])
async def test_python_process_bombs_are_refused(disable_hook: bool) -> None:
    attempts = [
        "pids = [os.fork() for _ in range(200)]\nresult = pids",
        "import subprocess\nresult = [subprocess.Popen(['true']) for _ in range(200)]",
        "import multiprocessing\nps = [multiprocessing.Process(target=print) for _ in range(50)]\n"
        "[p.start() for p in ps]\nresult = len(ps)",
        "result = os.system('true')",
        "result = os.posix_spawn('/bin/true', ['true'], {})",
        "import ctypes\nresult = ctypes.CDLL(None).fork()",
        "import gc\nresult = [f for f in gc.get_objects() if getattr(f, '__name__', '') == 'hook']",
    ]
    for body in attempts:
        out = await outcome(python_attempt(body, disable_hook=disable_hook), "python3")
        assert_refused(out)
    # The worker keeps serving.
    assert await outcome("def main():\n    return {'r': str(6 * 7)}", "python3") == "42"


async def test_python_memory_and_cpu_bombs_are_limited() -> None:
    memory = await outcome(
        "def main():\n    x = bytearray(2 * 1024 ** 3)\n    return {'r': 'x'}", "python3"
    )
    assert memory.startswith("failed: ") and "MemoryError" in memory, memory
    cpu = await outcome("def main():\n    while True:\n        pass", "python3")
    assert cpu.startswith("failed: ") and "time limit" in cpu, cpu
    assert await outcome("def main():\n    return {'r': 'ok'}", "python3") == "ok"


JS_PROCESS = "const p = this.constructor.constructor('return process')();"


@needs_node
async def test_javascript_file_network_and_env_escapes(worker_env: Path) -> None:
    listener = Listener()
    db = str(worker_env / "app.db")
    attempts = [
        "return require('fs').readFileSync('/etc/passwd', 'utf8');",
        f"return require('fs').readFileSync({db!r}, 'utf8');",
        "const fs = await import('node:fs'); return fs.readFileSync('/etc/passwd', 'utf8');",
        f"const net = await import('node:net'); return net.connect({listener.port}, '127.0.0.1');",
        "const dns = await import('node:dns'); return await dns.promises.lookup('localhost');",
        f"return await fetch('http://127.0.0.1:{listener.port}/');",
        f"{JS_PROCESS} return p.binding('fs');",
        f"{JS_PROCESS} return p.mainModule.require('fs').readFileSync('/etc/passwd', 'utf8');",
        f"{JS_PROCESS} return p.getBuiltinModule('fs').readFileSync('/etc/passwd', 'utf8');",
        f"{JS_PROCESS} p.chdir('/'); return p.cwd() + p.dlopen;",
        f"{JS_PROCESS} p.kill(p.ppid, 'SIGKILL'); return 'killed';",
    ]
    try:
        for body in attempts:
            assert_refused(await outcome(js_attempt(body), "javascript"), data_dir=worker_env)
        assert listener.accepted == 0
    finally:
        listener.close()
    env = await outcome(js_attempt(f"{JS_PROCESS} return JSON.stringify(p.env);"), "javascript")
    for name, value in SECRETS.items():
        assert name not in env and value not in env


@needs_node
async def test_javascript_process_bombs_and_limits() -> None:
    attempts = [
        "const cp = await import('node:child_process'); return cp.execSync('true');",
        "const wt = await import('node:worker_threads'); return new wt.Worker('1', {eval: true});",
        f"{JS_PROCESS} return p.binding('spawn_sync');",
    ]
    for body in attempts:
        assert_refused(await outcome(js_attempt(body), "javascript"))
    cpu = await outcome("function main() { while (true) {} }", "javascript")
    assert cpu.startswith("failed: ") and "time limit" in cpu, cpu
    memory = await outcome(
        "function main() { const a = []; while (true) { a.push(new Array(1e6).fill(1)); } }",
        "javascript",
    )
    assert memory.startswith("failed: ") and "memory" in memory.lower(), memory
    assert await outcome("function main() { return {r: String(6 * 7)}; }", "javascript") == "42"


LANDLOCKED_PROBE = """
import os, signal, socket, sys
port, db, parent = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])


def fork():
    if os.fork() == 0:
        os._exit(0)


attempts = {
    "passwd": lambda: open("/etc/passwd").read(),
    "app_db": lambda: open(db).read(),
    "parent_environ": lambda: open(f"/proc/{parent}/environ", "rb").read(),
    "write_tmp": lambda: open("/tmp/tideflow-escape-test", "w"),
    "tcp": lambda: socket.create_connection(("127.0.0.1", port), timeout=2),
    "signal": lambda: os.kill(parent, 0),
    "fork": fork,
    "spawn": lambda: os.posix_spawn("/usr/bin/true", ["true"], {}),
}
for name, attempt in attempts.items():
    try:
        attempt()
        print(name, "ESCAPED")
    except OSError as exc:
        print(name, "refused", exc.errno)
"""


@pytest.mark.skipif(_landlock_abi() < 6, reason="needs Landlock ABI 6 (files, TCP, signals)")
def test_kernel_layer_alone_confines_files_tcp_signals_and_processes(
    worker_env: Path, tmp_path: Path
) -> None:
    """The kernel layer with no audit hook and no network namespace: a plain interpreter
    started through the launcher JavaScript uses (``landlock.py``: Landlock and seccomp)."""
    listener = Listener()
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    libraries = ["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache"]
    readable = [os.path.realpath(sys.executable), stdlib, *libraries]
    launcher = [sys.executable, "-I", "-S", "-B", str(RUNNERS_DIR / "landlock.py")]
    command = [
        *[*launcher, "--rw", str(sandbox), "--ro", *readable, "--"],
        *[os.path.realpath(sys.executable), "-I", "-S", "-c", LANDLOCKED_PROBE],
        *[str(listener.port), str(worker_env / "app.db"), str(os.getpid())],
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    finally:
        listener.close()
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    expected = {"passwd", "app_db", "parent_environ", "write_tmp", "tcp", "signal", "fork", "spawn"}
    assert set(lines) == expected
    assert all(result.startswith("refused") for result in lines.values()), lines
    assert listener.accepted == 0
    assert not Path("/tmp/tideflow-escape-test").exists()


# The reviewer's attack on the audit hook: the PermissionError it raised carries a traceback
# ending in the hook's own frame; from its locals, rewrite the path check to allow anything
# (``__code__`` needs a code object with as many free variables, so one is built to match).
FRAME_WALK = """
import os

def permissive(target):
    names = target.__code__.co_freevars
    if not names:
        return (lambda *args, **kwargs: True).__code__
    source = 'def outer():\\n' + ''.join(f'    {n} = None\\n' for n in names)
    source += '    def allow(*args, **kwargs):\\n        ' + ', '.join(names) + '\\n'
    source += '        return True\\n    return allow\\n'
    scope = {}
    exec(source, scope)
    return scope['outer']().__code__

def patch(value, seen):
    if id(value) in seen or not callable(value) or not hasattr(value, '__closure__'):
        return
    seen.add(id(value))
    for cell in value.__closure__ or ():
        patch(cell.cell_contents, seen)
    value.__code__ = permissive(value)

def main():
    try:
        open('/etc/passwd')
    except PermissionError as exc:
        try:
            entry = exc.__traceback__
            while entry.tb_next is not None:
                entry = entry.tb_next
            frame = entry.tb_frame
            while frame is not None:
                for value in list(frame.f_locals.values()):
                    patch(value, set())
                frame = frame.f_back
        except BaseException as refused:
            return {'r': 'refused: ' + type(refused).__name__ + ': ' + str(refused)}
    try:
        return {'r': 'ESCAPED: ' + open('/etc/passwd').read()}
    except BaseException as refused:
        return {'r': 'refused: ' + type(refused).__name__ + ': ' + str(refused)}
"""


async def test_python_frame_walking_to_the_hook_is_refused() -> None:
    out = await outcome(FRAME_WALK, "python3")
    assert_refused(out)
    assert "own frames are not reachable" in out, out
    # Tracebacks of the user's own errors stay readable, as do those the sandbox refused
    # (up to its frames), and names the hook once read from ``os.path`` can be rebound.
    readable = """
import posixpath, traceback

def main():
    try:
        int('x')
    except ValueError:
        own = traceback.format_exc().splitlines()[-1]
    posixpath.abspath = lambda path: '/tmp/inside'
    posixpath.realpath = lambda path, **kwargs: '/tmp/inside'
    try:
        open('/etc/passwd')
    except PermissionError as exc:
        refused = str(exc)
    def f():
        pass
    try:
        f.__code__ = (lambda: 1).__code__
    except PermissionError as exc:
        refused += ' / ' + str(exc)
    return {'r': own + ' / ' + refused}
"""
    out = await outcome(readable, "python3")
    assert out.startswith("ValueError: invalid literal"), out
    assert "cannot open '/etc/passwd'" in out and "setting __code__ is not allowed" in out, out


# A worker whose kernel offers no Landlock, made real with seccomp: the landlock_* system
# calls fail with ENOSYS for this process and its children (as on a kernel without them).
NO_LANDLOCK_WORKER = """
import asyncio, ctypes, json, os, sys

from tideflow.activities.code_sandbox import SandboxLimits, SandboxProcess, landlock_status

class Filter(ctypes.Structure):
    _fields_ = [('code', ctypes.c_uint16), ('jt', ctypes.c_uint8), ('jf', ctypes.c_uint8),
                ('k', ctypes.c_uint32)]

class Program(ctypes.Structure):
    _fields_ = [('len', ctypes.c_uint16), ('filter', ctypes.POINTER(Filter))]

ops = [(0x20, 0, 0, 0)]  # load the system call number
for nr in (444, 445, 446):  # landlock_create_ruleset, _add_rule, _restrict_self
    ops += [(0x15, 0, 1, nr), (0x06, 0, 0, 0x00050000 | 38)]  # ENOSYS
ops += [(0x06, 0, 0, 0x7FFF0000)]
filters = (Filter * len(ops))(*(Filter(*op) for op in ops))
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0  # no_new_privs
assert libc.prctl(22, 2, ctypes.byref(Program(len(ops), filters)), 0, 0) == 0

async def run(code):
    limits = SandboxLimits(timeout_s=10.0, memory_mb=256, max_output_bytes=100_000)
    try:
        sandbox = await SandboxProcess.start('python3', limits)
    except Exception as exc:
        return {'message': str(exc), 'type': getattr(exc, 'type', None),
                'non_retryable': getattr(exc, 'non_retryable', None)}
    try:
        return (await sandbox.run(code, {})).data
    finally:
        await sandbox.close()

async def main():
    runner = sys.argv[2]
    # The runner on its own, told by its parent to require Landlock.
    env = {'PATH': '/usr/bin:/bin', 'TIDEFLOW_CODE_REQUIRE_LANDLOCK': '1'}
    read, write = os.pipe()
    alone = await asyncio.create_subprocess_exec(
        sys.executable, '-I', '-S', '-B', runner, str(write), env=env, pass_fds=(write,),
        stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    os.close(write)
    _, stderr = await alone.communicate()
    ready = os.read(read, 1)
    print(json.dumps({'status': landlock_status(), 'reply': await run(sys.argv[1]),
                      'alone': [alone.returncode, ready.decode(), stderr.decode()]}))

asyncio.run(main())
"""


def run_without_landlock(code: str, *, require: bool) -> dict[str, Any]:
    """Run ``code`` in a sandbox started by a worker process that has no Landlock."""
    env = {
        **os.environ,
        "TIDEFLOW_CODE_REQUIRE_LANDLOCK": "true" if require else "false",
        "PYTHONPATH": str(Path(__file__).parents[2]),
    }
    runner = str(RUNNERS_DIR / "python3.py")
    command = [sys.executable, "-c", NO_LANDLOCK_WORKER, code, runner]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


needs_seccomp = pytest.mark.skipif(
    os.uname().machine != "x86_64" and os.uname().machine != "aarch64",
    reason="the no-Landlock worker uses seccomp with x86_64/aarch64 system call numbers",
)


@needs_seccomp
def test_hook_alone_refuses_the_frame_walk_and_the_rest() -> None:
    """Without Landlock the audit hook is the only file guard: it must hold on its own."""
    result = run_without_landlock(FRAME_WALK, require=False)
    assert "Landlock is not available" in result["status"], result
    out = result["reply"]["result"]["r"]
    assert out.startswith("refused: ") and "own frames are not reachable" in out, result
    tampered = python_attempt("result = open('/etc/passwd').read()", disable_hook=True)
    rebound = "import posixpath\nposixpath.abspath = lambda p: os.getcwd()\n" + tampered
    for code in (tampered, rebound):
        reply = run_without_landlock(code, require=False)["reply"]
        assert_refused(reply["result"]["r"])


@needs_seccomp
def test_require_landlock_refuses_to_run_code_without_it() -> None:
    result = run_without_landlock("def main():\n    return {'r': 'ran'}", require=True)
    reply = result["reply"]
    assert reply["type"] == "CodeSandboxUnavailable" and reply["non_retryable"], reply
    assert "TIDEFLOW_CODE_REQUIRE_LANDLOCK" in reply["message"], reply
    # The runner itself, asked by its parent to require Landlock, exits before saying ready.
    status, ready, stderr = result["alone"]
    assert (status, ready) == (3, "") and "Landlock is not available" in stderr, result
