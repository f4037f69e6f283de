"""The code node's activity, run for real: sandboxed subprocesses, limits and Dify's checks."""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.helpers import runner_children
from tideflow.activities.code import CodeOutputSpec, CodeRunInput, CodeRunResult, run_code
from tideflow.activities.code_pool import current_pool, shutdown_code_pool
from tideflow.activities.code_sandbox import network_unshare_command
from tideflow.platform.settings import get_settings

pytestmark = pytest.mark.slow

# Generous enough for a loaded CI machine, short enough to keep the timeout tests quick.
TIMEOUT_S = 4.0
HAS_NODE = shutil.which("node") is not None
# Returns its input unchanged, so a test can hand any value to the output checks.
ECHO = "def main(value):\n    return value\n"


@pytest.fixture(autouse=True)
def code_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Short limits so the timeout and memory tests finish quickly."""
    monkeypatch.setenv("TIDEFLOW_CODE_TIMEOUT_S", str(TIMEOUT_S))
    monkeypatch.setenv("TIDEFLOW_CODE_MEMORY_MB", "128")
    monkeypatch.setenv("TIDEFLOW_CODE_MAX_OUTPUT_BYTES", "2000000")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True, scope="module")
async def close_the_pool() -> AsyncIterator[None]:
    """Kill the pre-started runners while the event loop still runs."""
    yield
    await shutdown_code_pool()


def spec(kind: str, children: dict[str, CodeOutputSpec] | None = None) -> CodeOutputSpec:
    return CodeOutputSpec(type=kind, children=children)


async def run(
    code: str,
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, CodeOutputSpec] | None = None,
    language: str = "python3",
) -> CodeRunResult:
    request = CodeRunInput.model_validate(
        {
            "node_id": "code_1",
            "language": language,
            "code": code,
            "inputs": inputs or {},
            "outputs": outputs or {},
        }
    )
    return await ActivityEnvironment().run(run_code, request)


async def fails(
    code: str,
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, CodeOutputSpec] | None = None,
    language: str = "python3",
) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await run(code, inputs, outputs, language)
    assert not caught.value.non_retryable  # the node's retry_config decides, not the activity
    return caught.value


async def echo_fails(value: dict[str, Any], outputs: dict[str, CodeOutputSpec]) -> ApplicationError:
    return await fails(ECHO, {"value": value}, outputs)


async def test_arithmetic() -> None:
    code = "def main(a, b):\n    return {'sum': a + b * 2, 'product': a * b}"
    outputs = {"sum": spec("number"), "product": spec("number")}
    result = await run(code, {"a": 3, "b": 4}, outputs)
    assert result.outputs == {"sum": 11, "product": 12}


async def test_dify_default_template_concatenates_strings() -> None:
    code = 'def main(arg1: str, arg2: str):\n    return {"result": arg1 + arg2}\n'
    result = await run(code, {"arg1": "tide", "arg2": "flow"}, {"result": spec("string")})
    assert result.outputs == {"result": "tideflow"}


async def test_outputs_of_every_type() -> None:
    value = {
        "s": "text\x00with nul",
        "n": 1.5,
        "i": -(2**63),
        "flag": True,
        "as_number": True,
        "obj": {"name": "x", "tags": ["a", "b"], "inner": {"k": [1, 2]}},
        "typed": {"title": "t", "score": 3},
        "strings": ["a", None, "c"],
        "numbers": [1, 2.25, False],
        "objects": [{"id": 1}, None, {"id": 2}],
        "flags": [True, None, False],
        "nothing": None,
    }
    outputs = {
        "s": spec("string"),
        "n": spec("number"),
        "i": spec("number"),
        "flag": spec("boolean"),
        "as_number": spec("number"),
        "obj": spec("object"),
        "typed": spec("object", {"title": spec("string"), "score": spec("number")}),
        "strings": spec("array[string]"),
        "numbers": spec("array[number]"),
        "objects": spec("array[object]", {"id": spec("number")}),
        "flags": spec("array[boolean]"),
        "nothing": spec("string"),
    }
    result = await run(ECHO, {"value": value}, outputs)
    assert result.outputs == {
        **value,
        "s": "textwith nul",  # NUL bytes are stripped, as in Dify
        "as_number": 1,  # a boolean declared as number becomes 0/1, as in Dify
        "numbers": [1, 2.25, 0],
    }


@pytest.mark.parametrize(
    ("value", "outputs", "error_type", "words"),
    [
        ({}, {"r": spec("string")}, "OutputValidationError", "`r` is missing"),
        ({"r": "x", "extra": 1}, {"r": spec("string")}, "CodeNodeError", "`extra` not declared"),
        ({"r": 1}, {"r": spec("string")}, "OutputValidationError", "`r` must be a string"),
        ({"r": "1"}, {"r": spec("number")}, "OutputValidationError", "`r` must be a number"),
        ({"r": 1}, {"r": spec("boolean")}, "OutputValidationError", "`r` must be a boolean"),
        ({"r": [1]}, {"r": spec("object")}, "OutputValidationError", "`r` must be an object"),
        ({"r": "a"}, {"r": spec("array[string]")}, "OutputValidationError", "`r` must be an array"),
        (
            {"r": [1]},
            {"r": spec("array[string]")},
            "OutputValidationError",
            "`r[0]` must be a string",
        ),
        (
            {"r": [None]},
            {"r": spec("array[number]")},
            "OutputValidationError",
            "`r[0]` must be a number",
        ),
        (
            {"r": [1]},
            {"r": spec("array[object]")},
            "OutputValidationError",
            "`r[0]` must be an object",
        ),
        (
            {"r": [1]},
            {"r": spec("array[boolean]")},
            "OutputValidationError",
            "`r[0]` must be a boolean",
        ),
        (
            {"r": "x" * 400_001},
            {"r": spec("string")},
            "OutputValidationError",
            "`r` is longer than",
        ),
        ({"r": 2**63}, {"r": spec("number")}, "OutputValidationError", "`r` is out of range"),
        (
            {"r": -(2**63) - 1},
            {"r": spec("number")},
            "OutputValidationError",
            "`r` is out of range",
        ),
        ({"r": 1e-21}, {"r": spec("number")}, "OutputValidationError", "`r` has more than 20"),
        ({"r": ["s"] * 31}, {"r": spec("array[string]")}, "OutputValidationError", "`r` has 31"),
        (
            {"r": [{"id": n} for n in range(31)]},
            {"r": spec("array[object]")},
            "OutputValidationError",
            "`r` has 31",
        ),
        ({"r": [1] * 1001}, {"r": spec("array[number]")}, "OutputValidationError", "`r` has 1001"),
        (
            {"r": {"a": {"b": {"c": {"d": {}}}}}},
            {"r": spec("object")},
            "OutputValidationError",
            "`r.a.b.c.d` is nested deeper than 5",
        ),
        (
            {"r": {"a": [1, "x"]}},
            {"r": spec("object")},
            "OutputValidationError",
            "`r.a` is not a valid array",
        ),
        (
            {"r": {"a": "x" * 400_001}},
            {"r": spec("object")},
            "OutputValidationError",
            "`r.a` is longer than",
        ),
        (
            {"r": {"title": 1}},
            {"r": spec("object", {"title": spec("string")})},
            "OutputValidationError",
            "`r.title` must be a string",
        ),
        (
            {"r": {}},
            {"r": spec("object", {"title": spec("string")})},
            "OutputValidationError",
            "`r.title` is missing",
        ),
        (
            {"r": [{"id": 1, "more": 2}]},
            {"r": spec("array[object]", {"id": spec("number")})},
            "CodeNodeError",
            "`r[0].more` not declared",
        ),
        ({"r": 1}, {"r": spec("array[file]")}, "CodeNodeError", "r: array[file]"),
    ],
)
async def test_output_validation_failures_name_the_variable(
    value: dict[str, Any], outputs: dict[str, CodeOutputSpec], error_type: str, words: str
) -> None:
    error = await echo_fails(value, outputs)
    assert error.type == error_type
    assert words in error.message


async def test_depth_five_is_allowed() -> None:
    value = {"r": {"a": {"b": {"c": {"d": 1}}}}}
    result = await run(ECHO, {"value": value}, {"r": spec("object")})
    assert result.outputs == value


async def test_main_must_return_a_dict() -> None:
    error = await fails("def main():\n    return [1]")
    assert error.type == "CodeNodeError"
    assert "main() must return a dict" in error.message


async def test_result_over_the_output_byte_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_CODE_MAX_OUTPUT_BYTES", "4096")
    get_settings.cache_clear()
    error = await fails("def main():\n    return {'r': 'x' * 10000}", outputs={"r": spec("string")})
    assert error.type == "CodeNodeError"
    assert "4096-byte output limit" in error.message


async def test_forever_loop_times_out_within_the_limit() -> None:
    started = time.monotonic()
    error = await fails("def main():\n    while True:\n        pass")
    assert error.type == "CodeTimeoutError"
    assert time.monotonic() - started < TIMEOUT_S + 2


async def test_sleeping_code_times_out_on_wall_time() -> None:
    started = time.monotonic()
    error = await fails("import time\ndef main():\n    time.sleep(60)")
    assert error.type == "CodeTimeoutError"
    assert time.monotonic() - started < TIMEOUT_S + 2


async def test_memory_bomb_fails_cleanly() -> None:
    error = await fails(
        "def main():\n    chunks = []\n    while True:\n        chunks.append(' ' * 10**7)"
    )
    assert error.type == "CodeNodeError"
    assert "memory" in error.message.lower()


async def test_user_exception_names_type_message_and_line() -> None:
    code = "def helper(x):\n    return x / 0\n\ndef main(a):\n    return {'r': helper(a)}\n"
    error = await fails(code, {"a": 1}, {"r": spec("number")})
    assert error.type == "CodeNodeError"
    assert error.message == "ZeroDivisionError: division by zero (line 2)"


async def test_syntax_error_names_the_line() -> None:
    error = await fails("def main():\n    return {'r': (}\n")
    assert error.message.startswith("SyntaxError:")
    assert "(line 2)" in error.message


async def test_missing_main_is_reported() -> None:
    error = await fails("x = 1\n")
    assert "no main() function" in error.message


async def test_worker_keeps_serving_after_hard_exits() -> None:
    for code in (
        "import os\ndef main():\n    os._exit(3)",
        "import sys\ndef main():\n    sys.exit(0)",
    ):
        error = await fails(code)
        assert error.type == "CodeNodeError"
    result = await run("def main():\n    return {'ok': True}", outputs={"ok": spec("boolean")})
    assert result.outputs == {"ok": True}


async def waiting_in_pool() -> set[int]:
    """Pids of the pre-started runners waiting for work (started ones included)."""
    pool = current_pool(get_settings().code_pool_size)
    if pool is None:
        return set()
    await pool.settled()
    return pool.idle_pids()


async def test_cancelling_the_activity_kills_the_process() -> None:
    env = ActivityEnvironment()
    request = CodeRunInput(
        node_id="code_1",
        language="python3",
        code="import time\ndef main():\n    time.sleep(60)",
        inputs={},
        outputs={},
    )
    task = asyncio.ensure_future(env.run(run_code, request))
    await asyncio.sleep(0.5)
    running = runner_children() - await waiting_in_pool()
    assert running, "the runner should be running"
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not running & runner_children()


async def test_parent_secrets_are_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_SECRET_KEY", "s3cret-value")
    code = "import os\ndef main():\n    return {'env': dict(os.environ), 'cwd': os.getcwd()}"
    result = await run(code, outputs={"env": spec("object"), "cwd": spec("string")})
    assert "TIDEFLOW_SECRET_KEY" not in result.outputs["env"]
    assert "s3cret-value" not in str(result.outputs)
    assert result.outputs["cwd"] != os.getcwd()
    proc = "import os\ndef main():\n    return {'r': open(f'/proc/{os.getppid()}/environ').read()}"
    assert "cannot open" in (await fails(proc, outputs={"r": spec("string")})).message


@pytest.mark.parametrize(
    "code",
    [
        "import socket\ndef main():\n    socket.create_connection(('127.0.0.1', 7233), timeout=1)",
        "import socket\ndef main():\n    socket.getaddrinfo('example.com', 80)",
        "import urllib.request\ndef main():\n    urllib.request.urlopen('http://127.0.0.1:1')",
        "import os\ndef main():\n    os.system('true')",
        "import os\ndef main():\n    os.fork()",
        "import subprocess\ndef main():\n    subprocess.run(['true'])",
        "import ctypes\ndef main():\n    ctypes.CDLL(None)",
        "import os, signal\ndef main():\n    os.kill(os.getppid(), signal.SIGKILL)",
        "def main():\n    open('/tmp/tideflow-escape', 'w').write('x')",
        "def main():\n    open('/etc/passwd').read()",
    ],
)
async def test_python_sandbox_refuses(code: str) -> None:
    error = await fails(code)
    assert error.type == "CodeNodeError"
    assert "PermissionError" in error.message or "not allowed" in error.message


async def test_resource_limits_are_applied() -> None:
    code = (
        "import resource\ndef main():\n"
        "    names = ['CPU', 'AS', 'FSIZE', 'NPROC', 'NOFILE', 'CORE']\n"
        "    return {n: resource.getrlimit(getattr(resource, 'RLIMIT_' + n))[0] for n in names}"
    )
    names = ("CPU", "AS", "FSIZE", "NPROC", "NOFILE", "CORE")
    result = await run(code, outputs={name: spec("number") for name in names})
    assert result.outputs == {
        "CPU": math.ceil(TIMEOUT_S) + 1,
        "AS": 128 * 1024 * 1024,
        "FSIZE": 2_000_000,
        "NPROC": 0,
        "NOFILE": 64,
        "CORE": 0,
    }


@pytest.mark.skipif(not network_unshare_command(), reason="no unprivileged network namespaces")
async def test_python_runs_in_its_own_network_namespace() -> None:
    code = "import os\ndef main():\n    return {'ns': os.readlink('/proc/self/ns/net')}"
    result = await run(code, outputs={"ns": spec("string")})
    assert result.outputs["ns"] != os.readlink("/proc/self/ns/net")


async def test_files_inside_the_sandbox_dir_work() -> None:
    code = (
        "import os\ndef main():\n"
        "    with open('note.txt', 'w') as f:\n        f.write('hi')\n"
        "    return {'files': os.listdir('.'), 'text': open('note.txt').read()}"
    )
    outputs = {"files": spec("array[string]"), "text": spec("string")}
    result = await run(code, outputs=outputs)
    assert result.outputs == {"files": ["note.txt"], "text": "hi"}


async def test_prints_do_not_break_the_result() -> None:
    code = (
        "import os, sys\ndef main():\n"
        "    print('{\"ok\": false}')\n"
        "    print('x' * 200000)\n"
        "    os.write(1, b'raw bytes on fd 1')\n"
        "    sys.stderr.write('to stderr')\n"
        "    return {'r': 'fine'}"
    )
    result = await run(code, outputs={"r": spec("string")})
    assert result.outputs == {"r": "fine"}


async def test_concurrent_runs_stay_separate() -> None:
    code = "def main(n):\n    return {'n': n * 10}"
    results = await asyncio.gather(*(run(code, {"n": n}, {"n": spec("number")}) for n in range(6)))
    assert [r.outputs["n"] for r in results] == [n * 10 for n in range(6)]


needs_node = pytest.mark.skipif(not HAS_NODE, reason="node is not installed")


@needs_node
async def test_javascript_basics() -> None:
    code = (
        "function main({arg1, arg2, n}) {\n"
        "  console.log('noise', JSON.stringify({ok: false}));\n"
        "  return {result: arg1 + arg2, doubled: n * 2, list: [1, 2], obj: {a: true}};\n"
        "}\n"
    )
    outputs = {
        "result": spec("string"),
        "doubled": spec("number"),
        "list": spec("array[number]"),
        "obj": spec("object"),
    }
    result = await run(code, {"arg1": "a", "arg2": "b", "n": 21}, outputs, "javascript")
    assert result.outputs == {"result": "ab", "doubled": 42, "list": [1, 2], "obj": {"a": True}}


@needs_node
async def test_javascript_async_main() -> None:
    code = "async function main({x}) {\n  return {r: await Promise.resolve(x + 1)};\n}"
    result = await run(code, {"x": 1}, {"r": spec("number")}, "javascript")
    assert result.outputs == {"r": 2}


@needs_node
async def test_javascript_exception_names_type_and_line() -> None:
    code = "function main() {\n  const x = null;\n  return {r: x.y};\n}"
    error = await fails(code, outputs={"r": spec("number")}, language="javascript")
    assert error.type == "CodeNodeError"
    assert error.message.startswith("TypeError: Cannot read properties of null")
    assert error.message.endswith("(line 3)")


@needs_node
async def test_javascript_forever_loop_times_out() -> None:
    started = time.monotonic()
    error = await fails("function main() { while (true) {} }", language="javascript")
    assert error.type == "CodeTimeoutError"
    assert time.monotonic() - started < TIMEOUT_S + 2


@needs_node
@pytest.mark.parametrize(
    ("code", "words"),
    [
        # V8 heap exhaustion kills the process; the activity reports it as memory.
        ("const a = []; while (true) { a.push(new Array(1e6).fill(a.length)); }", "memory"),
        # Off-heap buffers hit RLIMIT_DATA and surface as a catchable JS error.
        ("const a = []; while (true) { a.push(new Uint8Array(1e7).fill(1)); }", "RangeError"),
    ],
)
async def test_javascript_memory_bomb_fails_cleanly(code: str, words: str) -> None:
    error = await fails(f"function main() {{ {code} }}", language="javascript")
    assert error.type == "CodeNodeError"
    assert words in error.message


@needs_node
@pytest.mark.parametrize(
    "code",
    [
        "function main() { return {r: require('fs').readFileSync('/etc/passwd', 'utf8')}; }",
        "function main() { process.kill(process.ppid, 'SIGKILL'); return {}; }",
        "async function main() { await fetch('http://127.0.0.1:7233'); return {}; }",
        "function main() { return {r: process.binding('fs')}; }",
        "function main() { return {r: process.mainModule.require('net')}; }",
    ],
)
async def test_javascript_sandbox_refuses(code: str) -> None:
    error = await fails(code, language="javascript")
    assert error.type == "CodeNodeError"


async def test_missing_node_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    # Pre-started node processes from earlier tests would run the code anyway.
    monkeypatch.setenv("TIDEFLOW_CODE_POOL_SIZE", "0")
    get_settings.cache_clear()
    error = await fails("function main() { return {}; }", language="javascript")
    assert error.type == "CodeNodeError"
    assert "`node` is not installed" in error.message
