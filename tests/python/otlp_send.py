"""Sends one small trace through the OpenTelemetry Python SDK and its OTLP
exporter, configured only by the standard environment variables
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_COMPRESSION), as a stack
under test would be. Used by tests/it/otlp_python.rs.

usage: otlp_send.py http|grpc LABEL

Prints one JSON line: the trace and span ids it sent, how many exports ran and
how many failed, and the SDK version. Exits 1 if any export failed.
"""

import json
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.version import __version__ as sdk_version
from opentelemetry.trace import SpanKind, Status, StatusCode


def otlp_exporter(transport):
    if transport == "http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    elif transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        raise SystemExit(f"unknown transport {transport!r}: use http or grpc")
    return OTLPSpanExporter()


class Checked(SpanExporter):
    """Passes spans on and remembers every export's result."""

    def __init__(self, inner):
        self.inner = inner
        self.results = []

    def export(self, spans):
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def main():
    transport, label = sys.argv[1], sys.argv[2]
    checked = Checked(otlp_exporter(transport))
    resource = Resource.create({"service.name": "py-checkout", "deployment.environment": "ordeal-test"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(checked))
    tracer = provider.get_tracer("ordeal.python.test", "1.0.0")

    attributes = {"ordeal.label": label, "http.route": "/orders"}
    with tracer.start_as_current_span("HandleOrder", kind=SpanKind.SERVER, attributes=attributes) as parent:
        with tracer.start_as_current_span("ChargeCard", kind=SpanKind.CLIENT) as child:
            child.set_attribute("payment.amount", 12.5)
            child.set_attribute("payment.attempts", 3)
            child.set_attribute("payment.ok", False)
            child.set_attribute("payment.tags", ["card", "visa"])
            child.add_event("retry", {"attempt": 2})
            child.set_status(Status(StatusCode.ERROR, "card declined"))
    provider.shutdown()

    failed = [str(r) for r in checked.results if r != SpanExportResult.SUCCESS]
    print(json.dumps({
        "trace_id": format(parent.get_span_context().trace_id, "032x"),
        "parent_span_id": format(parent.get_span_context().span_id, "016x"),
        "child_span_id": format(child.get_span_context().span_id, "016x"),
        "exports": len(checked.results),
        "failed": failed,
        "sdk_version": sdk_version,
    }))
    return 1 if failed or not checked.results else 0


if __name__ == "__main__":
    sys.exit(main())
