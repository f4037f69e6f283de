"""Fixtures of the platform tests: spans in memory, a loopback OTLP receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.fakes.otlp_receiver import OtlpReceiver, start_otlp_receiver
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
