"""Telemetry leaving the process: spans and SDK metrics to a loopback OTLP receiver, SDK
metrics scraped from Prometheus, and ``tideflow worker`` run as deployed (OTLP + JSON logs)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import WorkflowEnvironment

from tests.fakes.otlp_receiver import OtlpReceiver
from tests.helpers import free_port
from tideflow.activities.ping import PingInput, ping
from tideflow.platform.settings import Settings
from tideflow.platform.telemetry import (
    WORKER_SERVICE,
    build_tracer_provider,
    temporal_runtime,
    use_tracer_provider,
)
from tideflow.platform.temporal import TideflowTemporal
from tideflow.workflows.ping import PingWorkflow


async def test_spans_and_sdk_metrics_reach_an_otlp_collector(
    otlp_receiver: OtlpReceiver,
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The standard variable is honoured when TIDEFLOW_OTLP_ENDPOINT is not set.
    monkeypatch.delenv("TIDEFLOW_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.endpoint)
    target = temporal_env.client.service_client.config.target_host
    settings = Settings(temporal_address=target, task_queue=task_queue)
    provider = build_tracer_provider(settings, WORKER_SERVICE)
    assert provider is not None
    use_tracer_provider(provider)
    workflow_id = f"otlp-{uuid.uuid4()}"
    try:
        temporal = TideflowTemporal(settings)
        client = await temporal.connect()
        async with temporal.worker(client, workflows=[PingWorkflow], activities=[ping]):
            answer = await client.execute_workflow(
                PingWorkflow.run,
                PingInput(message="traced"),
                id=workflow_id,
                task_queue=task_queue,
            )
        assert answer.message == "traced"
        assert provider.force_flush()
    finally:
        use_tracer_provider(None)
        provider.shutdown()
    names = {
        s.name: s
        for s in otlp_receiver.spans
        if s.attributes.get("temporalWorkflowID") == workflow_id
    }
    started = names["StartWorkflow:PingWorkflow"]
    assert started.service == WORKER_SERVICE
    for name in ("RunWorkflow:PingWorkflow", "StartActivity:ping", "RunActivity:ping"):
        assert names[name].trace_id == started.trace_id, name
    assert "application/x-protobuf" in otlp_receiver.content_types
    # The client's runtime pushes the SDK's own metrics to the same collector.
    for _ in range(400):  # a hang bound: it exports every second
        if any(name.startswith("temporal_") for name in otlp_receiver.metric_names):
            break
        await asyncio.sleep(0.05)
    assert "temporal_workflow_completed" in otlp_receiver.metric_names


async def test_temporal_sdk_metrics_scraped_from_prometheus(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    bind = f"127.0.0.1:{free_port()}"
    target = temporal_env.client.service_client.config.target_host
    settings = Settings(temporal_address=target, task_queue=task_queue, metrics_bind=bind)
    # The API's client never binds the port (the worker on the same machine does).
    assert temporal_runtime(settings, serve_metrics=False) is None
    temporal = TideflowTemporal(settings)
    client = await temporal.connect()
    async with temporal.worker(client, workflows=[PingWorkflow], activities=[ping]):
        await client.execute_workflow(
            PingWorkflow.run, PingInput(), id=f"metrics-{uuid.uuid4()}", task_queue=task_queue
        )
    async with httpx.AsyncClient(timeout=10) as http:
        scraped = ""

        async def scrape() -> str:
            response = await http.get(f"http://{bind}/metrics")
            assert response.status_code == 200
            return response.text

        for _ in range(100):  # the counters are exported as soon as they are recorded
            scraped = await scrape()
            if "temporal_workflow_completed" in scraped:
                break
            await asyncio.sleep(0.05)
    assert "temporal_workflow_completed" in scraped
    assert "temporal_activity_execution_latency" in scraped
    assert f'task_queue="{task_queue}"' in scraped


@pytest.mark.slow
async def test_worker_process_exports_spans_and_writes_json_logs(
    otlp_receiver: OtlpReceiver,
    spans: InMemorySpanExporter,
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
) -> None:
    """``tideflow worker`` as deployed: TIDEFLOW_OTLP_ENDPOINT and TIDEFLOW_LOG_FORMAT=json."""
    target = temporal_env.client.service_client.config.target_host
    env = {
        **os.environ,
        "TIDEFLOW_TEMPORAL_ADDRESS": target,
        "TIDEFLOW_TASK_QUEUE": task_queue,
        "TIDEFLOW_DATA_DIR": str(tmp_path),
        "TIDEFLOW_OTLP_ENDPOINT": otlp_receiver.endpoint,
        "TIDEFLOW_LOG_FORMAT": "json",
        "TIDEFLOW_CODE_POOL_SIZE": "0",
    }
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "tideflow"), "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    workflow_id = f"worker-{uuid.uuid4()}"
    # This process plays the API: its client's spans are in memory, the worker's go over OTLP.
    client = await TideflowTemporal(Settings(temporal_address=target)).connect()
    try:
        answer = await client.execute_workflow(
            PingWorkflow.run,
            PingInput(message="from a process"),
            id=workflow_id,
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=120),
        )
        assert answer.message == "from a process"
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=120)
    assert worker.returncode == 0, stderr
    # The worker flushed its batched spans on the way out.
    mine = {
        s.name: s
        for s in otlp_receiver.spans
        if s.attributes.get("temporalWorkflowID") == workflow_id
    }
    assert mine["RunActivity:ping"].service == WORKER_SERVICE
    # One trace across the two processes.
    (started,) = [s for s in spans.get_finished_spans() if s.name == "StartWorkflow:PingWorkflow"]
    assert started.context is not None
    trace_id = trace.format_trace_id(started.context.trace_id)
    assert mine["RunWorkflow:PingWorkflow"].trace_id == trace_id
    assert mine["RunActivity:ping"].trace_id == trace_id
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    serving = [line for line in lines if line["logger"] == "tideflow.worker"]
    assert any(task_queue in line["message"] for line in serving), stderr
    assert all(set(line) >= {"time", "level", "logger", "message"} for line in lines)
