"""Observability with real parts: one trace from the API request through the workflow to the
model call (real API, worker and Temporal dev server, the fake model server), JSON log lines
naming run, node, trace and span, and the observability settings. Export: see
test_telemetry_export.py."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import OWNER_EMAIL, OWNER_PASSWORD, Api
from tests.fakes.openai_server import FakeLLMServer, Reply, unauthorized
from tideflow.activities.knowledge.vector_store import close_vector_stores
from tideflow.platform.app import create_app
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.redaction import install_redaction
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.telemetry import (
    WORKER_SERVICE,
    build_tracer_provider,
    otlp_endpoint,
)
from tideflow.platform.telemetry_context import (
    JsonLogFormatter,
    RunContextFilter,
    configure_logging,
)
from tideflow.platform.temporal import TideflowTemporal
from tideflow.worker import registered_activities, registered_workflows

WORKFLOW = "basic_llm_chat_workflow.yml"  # start -> llm (openai gpt-3.5-turbo) -> end
LLM_NODE = "llm_node"


async def until(check: Callable[[], bool], seconds: float = 20.0) -> None:
    """Wait for ``check`` (a hang bound, not a timing assertion)."""
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
async def traced_api(
    spans: InMemorySpanExporter,
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_llm: FakeLLMServer,
) -> AsyncIterator[Api]:
    """The API and a worker whose client comes from ``TideflowTemporal.connect`` (so both carry
    the tracing interceptors), model calls going to the fake server."""
    del spans  # installed before the app and the clients are made
    target = temporal_env.client.service_client.config.target_host
    for name, value in {
        "TIDEFLOW_TEMPORAL_ADDRESS": target,
        "TIDEFLOW_TASK_QUEUE": task_queue,
        "TIDEFLOW_DATA_DIR": str(tmp_path),
        "TIDEFLOW_OWNER_EMAIL": OWNER_EMAIL,
        "TIDEFLOW_OWNER_PASSWORD": OWNER_PASSWORD,
        "TIDEFLOW_MODEL_GATEWAY_URL": fake_llm.base_url,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    upgrade_database(settings.db_url)
    app = create_app()
    temporal = TideflowTemporal(settings)
    client = await temporal.connect()
    worker = temporal.worker(
        client, workflows=registered_workflows(), activities=registered_activities()
    )
    async with app.router.lifespan_context(app), worker:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", timeout=60
        ) as http:
            api = Api(http=http, console={}, settings=settings, asgi=app)
            api.console = await api.login(OWNER_EMAIL, OWNER_PASSWORD)
            await until(lambda: app.state.temporal.client is not None)
            yield api
    close_vector_stores()
    get_settings.cache_clear()


async def run_workflow(api: Api) -> dict[str, Any]:
    """POST /v1/workflows/run (blocking) on the LLM fixture app; the response body."""
    key = await api.app_key(await api.import_app(WORKFLOW))
    body = {"inputs": {"query": "hello"}, "user": "alice", "response_mode": "blocking"}
    response = await api.http.post("/v1/workflows/run", json=body, headers=key)
    assert response.status_code == 200, response.text
    return response.json()


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    """The only span called ``name``."""
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, sorted(s.name for s in spans))
    return found[0]


async def test_one_trace_from_api_request_to_model_call(
    traced_api: Api, spans: InMemorySpanExporter, fake_llm: FakeLLMServer
) -> None:
    fake_llm.script(Reply(text="Hi there.", prompt_tokens=200, completion_tokens=40))
    result = await run_workflow(traced_api)
    assert result["data"]["status"] == "succeeded", result
    run_id = result["workflow_run_id"]

    def finished() -> list[ReadableSpan]:
        return list(spans.get_finished_spans())

    await until(lambda: any(s.name == "POST /v1/workflows/run" for s in finished()))
    request = one(finished(), "POST /v1/workflows/run")
    assert request.kind is trace.SpanKind.SERVER
    assert request.context is not None
    in_trace = [
        s for s in finished() if s.context and s.context.trace_id == request.context.trace_id
    ]
    start_workflow = one(in_trace, "StartWorkflow:GraphWorkflow")
    run_workflow_span = one(in_trace, "RunWorkflow:GraphWorkflow")
    start_activity = one(in_trace, "StartActivity:llm_invoke")
    run_activity = one(in_trace, "RunActivity:llm_invoke")
    # Temporal's TracingInterceptor parents the workflow's spans (its zero-length RunWorkflow
    # and each StartActivity) on the StartWorkflow span carried in the workflow's headers.
    for parent, child in [
        (request, start_workflow),
        (start_workflow, run_workflow_span),
        (start_workflow, start_activity),
        (start_activity, run_activity),
    ]:
        assert child.parent is not None and parent.context is not None
        assert child.parent.span_id == parent.context.span_id, (parent.name, child.name)

    model_call = run_activity.attributes or {}
    assert model_call["gen_ai.operation.name"] == "chat"
    assert model_call["gen_ai.provider.name"] == model_call["gen_ai.system"] == "openai"
    assert model_call["gen_ai.request.model"] == "gpt-3.5-turbo"
    # What the fake server reported in its usage chunk.
    assert model_call["gen_ai.usage.input_tokens"] == 200
    assert model_call["gen_ai.usage.output_tokens"] == 40
    assert model_call["tideflow.run_id"] == run_id
    assert model_call["tideflow.node_id"] == LLM_NODE
    assert str(model_call["tideflow.workflow_id"]).endswith(run_id)


async def test_json_log_line_from_a_failed_activity_names_run_and_node(
    traced_api: Api, fake_llm: FakeLLMServer
) -> None:
    fake_llm.fail(unauthorized())  # not retried: one attempt, one log line
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(RunContextFilter())
    handler.setFormatter(JsonLogFormatter())
    logging.getLogger().addHandler(handler)
    try:
        result = await run_workflow(traced_api)
    finally:
        logging.getLogger().removeHandler(handler)
    assert result["data"]["status"] == "failed", result
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    (failed,) = [
        line
        for line in lines
        if line["message"].startswith("Completing activity as failed")
        and line.get("activity") == "llm_invoke"
    ]
    assert failed["level"] == "WARNING" and failed["logger"] == "temporalio.activity"
    assert failed["run_id"] == result["workflow_run_id"]
    assert failed["node_id"] == LLM_NODE
    assert failed["workflow_id"].endswith(result["workflow_run_id"])
    assert failed["attempt"] == 1
    assert "AuthenticationError" in failed["exception"] or "401" in failed["exception"]


def test_json_log_line_carries_the_current_trace_and_span(spans: InMemorySpanExporter) -> None:
    del spans
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(RunContextFilter())
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("tideflow.test_telemetry")
    logger.addHandler(handler)
    try:
        tracer = TracerProvider().get_tracer("test")
        with tracer.start_as_current_span("work") as span:
            logger.warning("inside %s", "work")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert inside["message"] == "inside work"
    assert inside["trace_id"] == trace.format_trace_id(span.get_span_context().trace_id)
    assert inside["span_id"] == trace.format_span_id(span.get_span_context().span_id)
    assert "trace_id" not in outside and "run_id" not in outside


def test_json_log_line_masks_a_key_in_the_traceback() -> None:
    key = "sk-" + "a1b2c3d4" * 4
    factory = logging.getLogRecordFactory()
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("tideflow.test_telemetry.redacted")
    logger.addHandler(handler)
    try:
        install_redaction(logger)
        try:
            raise RuntimeError(f"Incorrect API key provided: {key}")
        except RuntimeError:
            logger.exception("model call failed")
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(factory)
    line = json.loads(buffer.getvalue())
    assert "Incorrect API key provided" in line["exception"]
    assert key not in buffer.getvalue()


def test_configure_logging_switches_handlers_to_json() -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    buffer = io.StringIO()
    root.handlers = [logging.StreamHandler(buffer)]
    try:
        configure_logging("json")
        configure_logging("json")  # idempotent: one filter per handler
        (handler,) = root.handlers
        assert isinstance(handler.formatter, JsonLogFormatter)
        assert sum(isinstance(f, RunContextFilter) for f in handler.filters) == 1
        logging.getLogger("tideflow.test_telemetry").warning("hello")
    finally:
        root.handlers = saved
    assert json.loads(buffer.getvalue())["message"] == "hello"


def test_observability_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    assert otlp_endpoint(Settings()) == "http://collector:4318"
    # Tideflow's own setting wins over the standard variable.
    assert otlp_endpoint(Settings(otlp_endpoint="http://127.0.0.1:4318")) == "http://127.0.0.1:4318"
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    assert otlp_endpoint(Settings()) is None
    assert build_tracer_provider(Settings(), WORKER_SERVICE) is None  # no exporter, no cost
    with pytest.raises(ValidationError, match="otlp_endpoint"):
        Settings(otlp_endpoint="collector:4318")
    with pytest.raises(ValidationError, match="metrics_bind"):
        Settings(metrics_bind="9464")
    with pytest.raises(ValidationError, match="log_format"):
        Settings(log_format="xml")  # pyright: ignore[reportArgumentType]
