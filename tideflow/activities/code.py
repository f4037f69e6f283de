"""The ``code`` node's activity: run the user's ``main()`` in a sandbox, then check its outputs.

Every failure is an ``ApplicationError`` whose ``type`` is Dify's error class name
(``CodeNodeError``, ``OutputValidationError``, ``CodeTimeoutError``). It is retryable until
the attempt ``max_attempts`` (from the node's ``retry_config``); the workflow's retry policy allows
more, for attempts lost with their worker (see ``tideflow.activities.heartbeat.node_attempts``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tideflow.activities.code_outputs import (
    CodeOutputSpec,
    OutputCheckError,
    check_outputs,
    declared_type_problems,
)
from tideflow.activities.code_pool import run_in_sandbox, sandbox_limits
from tideflow.activities.code_sandbox import SandboxError, SandboxTimeout
from tideflow.activities.heartbeat import attempt, heartbeating, node_attempts
from tideflow.platform.settings import get_settings

__all__ = ["CodeOutputSpec", "CodeRunInput", "CodeRunResult", "run_code"]


class CodeRunInput(BaseModel):
    """One code node run: the source, its mapped input variables and its declared outputs."""

    node_id: str
    language: Literal["python3", "javascript"]
    code: str
    inputs: dict[str, Any]
    outputs: dict[str, CodeOutputSpec]
    # The node's retry_config as attempts (retries + 1): its own failures stop there (None:
    # the retry policy decides, as for inputs scheduled before this field existed).
    max_attempts: int | None = None


class CodeRunResult(BaseModel):
    """The validated outputs, keyed by declared output name, and the attempt that made them."""

    outputs: dict[str, Any]
    attempt: int = 1


def _user_code_error(reply: dict[str, Any], memory_mb: int) -> ApplicationError:
    error_type = str(reply.get("error_type") or "Error")
    message = str(reply.get("message") or "")
    if error_type == "MemoryError":
        message = message or f"the code ran out of memory (limit {memory_mb} MB)"
    line = reply.get("line")
    where = f" (line {line})" if isinstance(line, int) else ""
    text = f"{error_type}: {message}{where}" if message else f"{error_type}{where}"
    return ApplicationError(text, type="CodeNodeError")


@activity.defn(name="run_code")
async def run_code(req: CodeRunInput) -> CodeRunResult:
    """Run a code node's ``main()`` in a sandbox process of its own (pre-started when the pool
    has one waiting) and return its checked outputs."""
    with node_attempts(req.max_attempts):
        return await _run_code(req)


async def _run_code(req: CodeRunInput) -> CodeRunResult:
    problems = declared_type_problems(req.outputs)
    if problems:
        raise ApplicationError(
            f"Unsupported output type for a code node: {', '.join(problems)}", type="CodeNodeError"
        )
    settings = get_settings()
    limits = sandbox_limits(settings)
    try:
        # Heartbeats carry the workflow's cancellation here; the sandbox then kills its group.
        async with heartbeating():
            reply = await run_in_sandbox(
                req.language, req.code, req.inputs, limits, pool_size=settings.code_pool_size
            )
    except SandboxTimeout as exc:
        raise ApplicationError(str(exc), type="CodeTimeoutError") from None
    except SandboxError as exc:
        raise ApplicationError(str(exc), type="CodeNodeError") from None
    if not reply.data.get("ok"):
        raise _user_code_error(reply.data, limits.memory_mb)
    result = reply.data.get("result")
    if not isinstance(result, dict):
        got = "null" if result is None else type(result).__name__
        raise ApplicationError(
            f"main() must return a dict of outputs, got {got}", type="CodeNodeError"
        )
    try:
        outputs = check_outputs(result, req.outputs)  # pyright: ignore[reportUnknownArgumentType]
    except OutputCheckError as exc:
        raise ApplicationError(str(exc), type=exc.error_type) from None
    return CodeRunResult(outputs=outputs, attempt=attempt())
