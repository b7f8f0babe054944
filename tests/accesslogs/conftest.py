"""Helpers for the access-log tests: scrape a gateway's /metrics over HTTP, and send log records
with the OpenTelemetry SDK (LoggerProvider + OTLP log exporter, gRPC or HTTP) like any client."""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from llmpulse.server import Gateway  # noqa: E402

Series = dict[tuple[tuple[str, str], ...], float]


def scrape(gateway: Gateway, name: str, keep: Sequence[str]) -> Series:
    """``name``'s samples from GET /metrics, summed over every label not in ``keep``."""
    text = httpx.get(f"http://{gateway.config.metrics.endpoint}/metrics", timeout=10).text
    out: Series = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != name:
                continue
            key = tuple((label, sample.labels[label]) for label in keep if label in sample.labels)
            out[key] += sample.value
    return dict(out)


def delta(after: Series, before: Series) -> Series:
    keys = set(after) | set(before)
    changed = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in keys}
    return {k: v for k, v in changed.items() if abs(v) > 1e-12}


@contextmanager
def sdk_logger(gateway: Gateway, transport: str, resource: dict[str, Any]) -> Iterator[Any]:
    """An SDK logger exporting to the gateway; every record is exported before the block ends."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcExporter

        exporter: Any = GrpcExporter(endpoint=gateway.config.receivers.grpc.endpoint, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpExporter

        exporter = HttpExporter(endpoint=f"http://{gateway.config.receivers.http.endpoint}/v1/logs")
    provider = LoggerProvider(resource=Resource.create(resource))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    try:
        yield provider.get_logger("mesh.access")
    finally:
        provider.shutdown()
