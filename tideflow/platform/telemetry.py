"""OpenTelemetry for every Tideflow process: traces, metrics, structured logs.

One trace runs from the API request (FastAPI instrumentation) through ``StartWorkflow`` and
``RunWorkflow`` to each node's ``StartActivity``/``RunActivity`` span (Temporal's
``TracingInterceptor``, put on the client in ``TideflowTemporal.connect``, so workers built
from the client have it too). Activity spans carry ``tideflow.run_id``/``node_id``/
``node_type``; model calls carry GenAI semantic-convention attributes.

With an OTLP endpoint (``TIDEFLOW_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``) spans and
the API's HTTP metrics are exported over OTLP/HTTP. Without one nothing is configured: the
tracer is OpenTelemetry's no-op proxy and spans cost next to nothing. Tests (or an embedding
program) hand a provider of their own to ``use_tracer_provider``: the global provider can be
set only once per process.

Temporal SDK metrics go to Prometheus (``TIDEFLOW_METRICS_BIND``) or to the OTLP endpoint,
through the ``Runtime`` the client connects with (``temporal_runtime``).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    OpenTelemetryConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
)

from tideflow.platform.settings import Settings
from tideflow.platform.telemetry_context import NodeActivityInterceptor, configure_logging

if TYPE_CHECKING:
    # The SDK is imported when it is used (an endpoint is set, a test installs a provider):
    # a third of a second at every start otherwise.
    from fastapi import FastAPI
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("tideflow.telemetry")

API_SERVICE = "tideflow-api"
WORKER_SERVICE = "tideflow-worker"
RUN_SERVICE = "tideflow-run"
TRACER_NAME = "tideflow"


class _State:
    """What this process configured (module state: one process, one telemetry setup)."""

    tracer_provider: trace.TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    # Providers configure_telemetry made (and installed globally), shut down at exit.
    owned: list[TracerProvider | MeterProvider] = []  # noqa: RUF012


def otlp_endpoint(settings: Settings) -> str | None:
    """The OTLP/HTTP base URL: TIDEFLOW_OTLP_ENDPOINT, else the standard variable, else None."""
    endpoint = settings.otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return endpoint.rstrip("/") or None


def service_name(settings: Settings, default: str) -> str:
    """``service.name`` of this process: TIDEFLOW_SERVICE_NAME, else the role's default."""
    return settings.service_name or default


def build_tracer_provider(settings: Settings, service: str) -> TracerProvider | None:
    """An SDK provider exporting over OTLP/HTTP in batches, or None when no endpoint is set."""
    endpoint = otlp_endpoint(settings)
    if endpoint is None:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces")))
    return provider


def _build_meter_provider(endpoint: str, service: str) -> MeterProvider:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(f"{endpoint}/v1/metrics"))
    return MeterProvider(
        metric_readers=[reader], resource=Resource.create({"service.name": service})
    )


def configure_telemetry(settings: Settings, service: str) -> None:
    """Set up this process: log format and context filter always; OTLP traces and metrics
    when an endpoint is set (once per process; later calls only redo the logging)."""
    configure_logging(settings.log_format)
    endpoint = otlp_endpoint(settings)
    if endpoint is None or _State.owned:
        return
    service = service_name(settings, service)
    tracer_provider = build_tracer_provider(settings, service)
    meter_provider = _build_meter_provider(endpoint, service)
    assert tracer_provider is not None  # an endpoint is set
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    _State.tracer_provider = tracer_provider
    _State.meter_provider = meter_provider
    _State.owned = [tracer_provider, meter_provider]
    log.info("telemetry: exporting traces and metrics to %s as %s", endpoint, service)


def shutdown_telemetry() -> None:
    """Flush and stop the exporters ``configure_telemetry`` started (spans still batched go)."""
    for provider in _State.owned:
        provider.shutdown()
    _State.owned = []


def use_tracer_provider(provider: trace.TracerProvider | None) -> None:
    """Trace with ``provider`` from now on (clients connected and apps created after this
    call); None: back to the global provider."""
    _State.tracer_provider = provider


def tracer_provider() -> trace.TracerProvider:
    """The provider Tideflow traces with: the one in use, else the global (no-op by default)."""
    return _State.tracer_provider or trace.get_tracer_provider()


def temporal_interceptors() -> list[ClientInterceptor]:
    """Client interceptors (workers built from the client inherit them): tracing first, so
    the activity's span is current when the node's ids are put on it."""
    tracer = tracer_provider().get_tracer(TRACER_NAME)
    # A workflow started without a client span (a schedule firing) gets no workflow spans,
    # and each of its activities a trace of its own: the SDK's interceptor parents workflow
    # spans only on the context carried in the workflow's headers.
    return [TracingInterceptor(tracer), NodeActivityInterceptor()]


def instrument_app(app: FastAPI) -> None:
    """Trace the API's requests (and count them) when a tracer provider is configured."""
    if _State.tracer_provider is None:
        return  # nothing would record the spans: keep the request path as it was
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_State.tracer_provider,
        meter_provider=_State.meter_provider,
        excluded_urls=r"/health(\?|$)",  # probes every few seconds: noise, not requests
        exclude_spans=["receive", "send"],  # one span a request, not one per ASGI message
    )


def temporal_runtime(settings: Settings, *, serve_metrics: bool) -> Runtime | None:
    """The Temporal runtime exporting SDK metrics: Prometheus on TIDEFLOW_METRICS_BIND when this
    process serves metrics, else OTLP when an endpoint is set; with JSON logs, the SDK core's
    log lines go through Python logging. None: the SDK's default runtime.

    ``serve_metrics``: only one process may bind the port (the worker; the API on the same
    machine connects without it). A port already taken is logged and metrics are left off.
    """
    bind = settings.metrics_bind if serve_metrics else None
    endpoint = None if bind else otlp_endpoint(settings)
    json_logs = settings.log_format == "json"
    if bind is None and endpoint is None and not json_logs:
        return None
    return _runtime(bind, endpoint, service_name(settings, WORKER_SERVICE))


@functools.cache
def _runtime(bind: str | None, endpoint: str | None, service: str) -> Runtime | None:
    # Cached: one runtime (one metrics server or exporter) per configuration and process.
    config: PrometheusConfig | OpenTelemetryConfig | None = None
    if bind is not None:
        config = PrometheusConfig(bind_address=bind)
    elif endpoint is not None:
        config = OpenTelemetryConfig(url=f"{endpoint}/v1/metrics", http=True)
    # The SDK core's own log lines go through Python logging (so JSON logs stay all JSON),
    # at the SDK's default levels.
    core_logs = LoggingConfig(
        filter=LoggingConfig.default.filter,
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    tags: Mapping[str, str] = {"service_name": service}
    try:
        return Runtime(
            telemetry=TelemetryConfig(
                logging=core_logs, metrics=config, global_tags=tags, attach_service_name=False
            )
        )
    except Exception as exc:  # the core raises a plain exception for a taken port
        log.warning("Temporal SDK metrics are off: %s", exc)
        return None


def describe_model_call(
    provider: str, model: str, mode: str, params: Mapping[str, Any] | None = None
) -> None:
    """GenAI semantic-convention attributes of a model call on the current span."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    system = provider.rsplit("/", 1)[-1]  # langgenius/openai/openai -> openai
    span.set_attributes(
        {
            "gen_ai.operation.name": "chat" if mode == "chat" else "text_completion",
            "gen_ai.system": system,
            "gen_ai.provider.name": system,
            "gen_ai.request.model": model,
        }
    )
    for key in ("temperature", "top_p", "max_tokens"):
        value = (params or {}).get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            span.set_attribute(f"gen_ai.request.{key}", value)


def record_model_usage(
    input_tokens: int, output_tokens: int, finish_reason: str, response_model: str = ""
) -> None:
    """GenAI usage attributes of a finished model call on the current span."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attributes(
        {
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
            "gen_ai.response.finish_reasons": [finish_reason],
        }
    )
    if response_model:
        span.set_attribute("gen_ai.response.model", response_model)
