"""The model-call activities: ``llm_invoke`` (a node's call) and ``check_model_credentials``.

``llm_invoke`` resolves where the call goes (the model gateway when one is set, else the
tenant's stored credentials, which never travel in the request), streams the answer while
heartbeating, appends the pieces to the stream store for SSE clients, and returns the whole
answer with its usage. Its failures are ApplicationErrors typed as in ``errors``.

litellm takes seconds to import, so the worker registers these activities without it and
starts polling at once: ``warm_up`` imports it on a background thread, and a call that comes
first waits for it off the event loop (``litellm_loaded``).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import threading
import time
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tideflow.activities.files import FileFetchError
from tideflow.activities.heartbeat import attempt, heartbeating, node_attempts
from tideflow.activities.llm.chunks import ChunkWriter
from tideflow.activities.llm.models import (
    CHECK_CREDENTIALS_ACTIVITY,
    LLM_ACTIVITY,
    CredentialCheck,
    LlmRequest,
    LlmResult,
)
from tideflow.activities.llm.parts import LlmParamError, completion_params, litellm_messages
from tideflow.activities.llm.reasoning import PieceKind
from tideflow.activities.llm.route import bad_request, guard_endpoint, model_route, spec_for
from tideflow.activities.ssrf import SSRFBlockedError
from tideflow.platform.model_credentials import unseal
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.telemetry import describe_model_call, record_model_usage
from tideflow.plugins.model_providers import litellm_call_args

NODE_HEADER = "X-Tideflow-Node"


_CLIENT_MODULE = "tideflow.activities.llm.client"


# Set once litellm and the modules that import it are loaded. ``sys.modules`` is no signal:
# a module is there while another thread is still importing it, and importing it from the
# event loop then blocks the loop on the import lock for seconds.
_LOADED = threading.Event()
_LITELLM_MODULES = (
    _CLIENT_MODULE,
    "tideflow.activities.llm.errors",
    "tideflow.activities.llm.embedding",
)


def _import_litellm() -> None:
    for module in _LITELLM_MODULES:
        importlib.import_module(module)
    if not _LOADED.is_set():
        # litellm's few hundred thousand objects live as long as the process: frozen, the
        # full collections a fan-out of model calls triggers stop walking them (each took
        # about 0.3 s). Collected first, so no import garbage is kept forever.
        gc.collect()
        gc.freeze()
    _LOADED.set()


def warm_up() -> None:
    """Import litellm on a daemon thread so the first model call does not pay for it."""
    threading.Thread(target=_import_litellm, name="litellm-import", daemon=True).start()


async def litellm_loaded() -> None:
    """Return once litellm is imported (importing it off the event loop if need be)."""
    if not _LOADED.is_set():
        await asyncio.to_thread(_import_litellm)


async def _route(request: LlmRequest, settings: Settings) -> tuple[str, dict[str, Any]]:
    """litellm's model string and connection arguments for the request."""
    return await model_route(settings, request.tenant_id, request.provider, request.model)


def _call_kwargs(request: LlmRequest, model: str, settings: Settings) -> dict[str, Any]:
    """Sampling parameters, tools, structured output, timeout and the node header."""
    from tideflow.activities.llm.client import supports_response_schema

    try:
        kwargs = completion_params(request.params)
    except LlmParamError as exc:
        raise bad_request(f"llm node {request.node_id}: {exc}") from None
    if request.json_schema is not None and supports_response_schema(model):
        kwargs["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": request.json_schema, "strict": False},
        }
    if request.tools:
        kwargs["tools"] = request.tools
    if request.tool_choice is not None:
        kwargs["tool_choice"] = request.tool_choice
    kwargs["timeout"] = settings.llm_timeout_s
    if request.node_id:
        kwargs["extra_headers"] = {NODE_HEADER: request.node_id}
    return kwargs


async def _messages(request: LlmRequest, settings: Settings) -> list[dict[str, Any]]:
    try:
        return await litellm_messages(request, settings)
    except (FileFetchError, SSRFBlockedError) as exc:
        retryable = isinstance(exc, FileFetchError) and exc.retryable
        raise ApplicationError(
            f"llm node {request.node_id}: image: {exc}",
            type="FileFetchError",
            non_retryable=not retryable,
        ) from None


@activity.defn(name=LLM_ACTIVITY)
async def llm_invoke(request: LlmRequest) -> LlmResult:
    """Call the model, streaming; return its whole answer, usage and the attempt number."""
    # GenAI semantic-convention attributes on this activity's span (no-op when not traced).
    describe_model_call(request.provider, request.model, request.mode, request.params)
    with node_attempts(request.max_attempts):
        result = await _invoke(request)
    usage = result.usage
    record_model_usage(
        usage.prompt_tokens, usage.completion_tokens, result.finish_reason, result.model
    )
    return result


# The activity ends a call this long before Temporal's start-to-close limit would.
_DEADLINE_MARGIN_S = 5.0


def _time_limit(settings: Settings) -> float:
    """Seconds this attempt may take: TIDEFLOW_LLM_TIMEOUT_S, within the activity's limit."""
    limit = settings.llm_timeout_s
    start_to_close = activity.info().start_to_close_timeout
    if start_to_close is not None:
        limit = min(limit, start_to_close.total_seconds() - _DEADLINE_MARGIN_S)
    return max(limit, 1.0)


async def _invoke(request: LlmRequest) -> LlmResult:
    settings = get_settings()
    limit = _time_limit(settings)
    # Heartbeats from the start: loading litellm and reading credentials take seconds too.
    async with heartbeating():
        try:
            async with asyncio.timeout(limit):
                return await _call(request, settings)
        except TimeoutError:
            raise ApplicationError(
                f"model {request.provider} {request.model}: no complete answer within "
                f"{limit:g} s (TIDEFLOW_LLM_TIMEOUT_S)",
                type="ModelTimeout",
            ) from None


async def _call(request: LlmRequest, settings: Settings) -> LlmResult:
    await litellm_loaded()
    from tideflow.activities.llm.client import StreamAccumulator, model_usage, stream_completion
    from tideflow.activities.llm.errors import model_error
    from tideflow.activities.llm.window import fit_memory

    model, route = await _route(request, settings)
    messages = await _messages(request, settings)
    kwargs = {**route, **_call_kwargs(request, model, settings)}
    memory = [i for i, message in enumerate(request.messages) if message.memory]
    left_out: list[int] = []
    if memory:  # no memory, nothing to cut: no thread hop
        # Token counting is CPU work: off the event loop, which heartbeats and streams.
        messages, left_out = await asyncio.to_thread(fit_memory, model, messages, memory, kwargs)
    number = attempt()
    writer = ChunkWriter(settings.db_url, request.stream, number) if request.stream else None

    def on_piece(kind: PieceKind, text: str) -> None:
        if writer is not None:
            writer.add(kind, text)

    accumulator = StreamAccumulator(request.separate_reasoning, on_piece)
    started = time.monotonic()
    try:
        await stream_completion(model, messages, kwargs, accumulator)
        if writer is not None:
            await writer.flush()
    except Exception as exc:
        if writer is not None:
            writer.abandon()
        raise model_error(exc, request.provider, request.model) from None
    except BaseException:  # cancelled: stop writing too
        if writer is not None:
            writer.abandon()
        raise
    return LlmResult(
        text=accumulator.text,
        reasoning_content=accumulator.reasoning,
        tool_calls=accumulator.tool_calls,
        finish_reason=accumulator.finish_reason,
        usage=model_usage(model, messages, accumulator, time.monotonic() - started),
        model=model,
        attempt=number,
        left_out=left_out,
    )


@activity.defn(name=CHECK_CREDENTIALS_ACTIVITY)
async def check_model_credentials(check: CredentialCheck) -> dict[str, Any]:
    """One cheap call with ``check.credentials``: ``{"ok": True}``, or a non-retryable error
    carrying the provider's message (the user is waiting to save them)."""
    await litellm_loaded()
    from tideflow.activities.llm.client import probe_model
    from tideflow.activities.llm.errors import model_error

    spec = spec_for(check.provider)
    model = check.model or spec.check_model
    if not model:
        raise bad_request(f"name a model to check {spec.label} credentials with")
    settings = get_settings()
    try:
        credentials = unseal(check.sealed_credentials, settings.secret_key)
    except ValueError as exc:  # the worker's TIDEFLOW_SECRET_KEY is not the API's
        raise bad_request(f"{spec.label} credentials: the worker {exc}") from None
    missing = [
        field.name
        for field in spec.credential_fields
        if field.required and credentials.get(field.name) in (None, "")
    ]
    if missing:
        raise bad_request(f"{spec.label} credentials: missing {', '.join(missing)}")
    try:
        model_name, kwargs = litellm_call_args(spec, model, credentials, check.model_type)
    except ValueError as exc:
        raise bad_request(f"{spec.label} credentials: {exc}") from None
    await guard_endpoint(spec, kwargs, settings)
    try:
        await probe_model(model_name, kwargs, check.model_type)
    except Exception as exc:
        error = model_error(exc, spec.label, model)
        raise bad_request(error.message, error.type or "ModelBadRequest") from None
    return {"ok": True}
