"""`helm test` for llmpulse: send one LLM span over OTLP/gRPC with the OpenTelemetry SDK, then
scrape /metrics of every ready replica (the headless Service's records) until the call shows,
exactly once. Runs in the llmpulse image; exits non-zero with the reason on failure.

Environment: LLMPULSE_TEST_OTLP_ENDPOINT (host:port), LLMPULSE_TEST_METRICS_HOST (a name that
resolves to every replica), LLMPULSE_TEST_METRICS_PORT, LLMPULSE_TEST_TOKEN_FILE (optional),
LLMPULSE_TEST_TIMEOUT_S.
"""

import os
import socket
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

METRIC = "gen_ai_client_operation_duration_seconds_count{"


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def send(endpoint: str, service: str, token: str | None) -> None:
    finished = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(finished))
    span = provider.get_tracer("llmpulse.helm-test").start_span("chat helm-test", kind=SpanKind.CLIENT)
    span.set_attributes(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "llmpulse-helm-test",
            "gen_ai.response.model": "llmpulse-helm-test",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 2,
        }
    )
    span.end()
    headers = {"authorization": f"Bearer {token}"} if token else None
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, headers=headers, timeout=10)
    result = exporter.export(finished.get_finished_spans())
    exporter.shutdown()
    if result is not SpanExportResult.SUCCESS:
        fail(f"OTLP export to {endpoint} failed (see the exporter's log above)")
    print(f"sent one span as service.name={service} to {endpoint}")


def counted(host: str, port: int, service: str) -> float:
    addresses = sorted({info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)})
    total = 0.0
    for address in addresses:
        url = f"http://[{address}]:{port}/metrics" if ":" in address else f"http://{address}:{port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(METRIC) and f'service_name="{service}"' in line:
                    total += float(line.rsplit(" ", 1)[1])
    return total


def main() -> None:
    endpoint = os.environ["LLMPULSE_TEST_OTLP_ENDPOINT"]
    host = os.environ["LLMPULSE_TEST_METRICS_HOST"]
    port = int(os.environ.get("LLMPULSE_TEST_METRICS_PORT", "9464"))
    timeout_s = float(os.environ.get("LLMPULSE_TEST_TIMEOUT_S", "60"))
    token_file = os.environ.get("LLMPULSE_TEST_TOKEN_FILE", "")
    token = Path(token_file).read_text().strip() if token_file else None
    service = f"llmpulse-helm-test-{uuid.uuid4().hex[:8]}"
    send(endpoint, service, token)
    deadline = time.monotonic() + timeout_s
    while True:
        total = counted(host, port, service)
        if total == 1:
            print(f'OK: the call is on /metrics ({METRIC}service_name="{service}"...}} 1)')
            return
        if total > 1:
            fail(f"the one call was counted {total:g} times")
        if time.monotonic() > deadline:
            fail(f"the call did not show on /metrics of {host}:{port} within {timeout_s:g}s")
        time.sleep(1)


if __name__ == "__main__":
    main()
