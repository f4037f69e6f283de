"""A loopback OTLP/HTTP receiver: accepts ``/v1/traces`` (and ``/v1/metrics``) protobuf
exports as a collector does, and keeps the spans it was sent for assertions.

    receiver = start_otlp_receiver()
    ...  # an OTLP exporter pointed at receiver.endpoint
    receiver.close()
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span as the receiver decoded it."""

    service: str
    name: str
    trace_id: str
    attributes: dict[str, Any]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@dataclass
class OtlpReceiver:
    """The running receiver: its base URL and what it received."""

    endpoint: str
    spans: list[ReceivedSpan] = field(default_factory=list[ReceivedSpan])
    metric_names: list[str] = field(default_factory=list[str])
    content_types: list[str] = field(default_factory=list[str])
    _server: ThreadingHTTPServer | None = None

    def close(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def add_traces(self, body: bytes) -> None:
        """Decode an ExportTraceServiceRequest and keep its spans."""
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name", "")),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                        )
                    )

    def add_metrics(self, body: bytes) -> None:
        """Decode an ExportMetricsServiceRequest and keep its metric names."""
        request = ExportMetricsServiceRequest.FromString(body)
        for resource_metrics in request.resource_metrics:
            for scope in resource_metrics.scope_metrics:
                self.metric_names.extend(metric.name for metric in scope.metrics)


def start_otlp_receiver() -> OtlpReceiver:
    """Serve on a free loopback port, on a daemon thread."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            with lock:
                receiver.content_types.append(self.headers.get("Content-Type", ""))
                if self.path == "/v1/traces":
                    receiver.add_traces(body)
                elif self.path == "/v1/metrics":
                    receiver.add_metrics(body)
                else:
                    self.send_error(404)
                    return
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            del format, args  # quiet: the test output is not the place for access logs

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = OtlpReceiver(endpoint=f"http://127.0.0.1:{server.server_address[1]}")
    receiver._server = server
    threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True).start()
    return receiver
