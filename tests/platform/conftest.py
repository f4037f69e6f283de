"""Fixtures of the platform tests: spans in memory, a loopback OTLP receiver, settings with
Temporal payload encryption on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import WorkflowEnvironment

from tests.fakes.otlp_receiver import OtlpReceiver, start_otlp_receiver
from tests.platform.codec_support import encrypted_settings
from tideflow.platform.settings import Settings
from tideflow.platform.telemetry import use_tracer_provider


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tideflow traces into memory for this test (the global provider stays untouched)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_tracer_provider(provider)
    yield exporter
    use_tracer_provider(None)
    provider.shutdown()


@pytest.fixture(scope="session")
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """One receiver for the session: the Temporal runtime exporting to it lives as long (it
    is left serving, a daemon thread, so the runtime's last exports at exit find it)."""
    yield start_otlp_receiver()


@pytest.fixture
def encrypting_settings(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Settings]:
    """Settings of one test against the session's dev server, payload encryption on."""
    yield from encrypted_settings(temporal_env, task_queue, tmp_path, monkeypatch)
