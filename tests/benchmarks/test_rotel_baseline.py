"""The Rotel that ``run_throughput --rotel-exporter otlp`` measures really forwards: every span it
is sent reaches the endpoint it is given over OTLP/gRPC, gzip-compressed as the benchmark says
(and llmpulse is set to forward the same way). Without this, a Rotel that quietly dropped or
failed to export would look cheap, and the comparison would flatter it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from benchmarks.loadgen import build_load
from benchmarks.run_throughput import CountingSink, rotel_server, send

LOAD = build_load(batches=4)
REQUESTS = 12


class Sink(CountingSink):
    """The benchmark's sink, keeping the names of the spans it was sent too; with ``gzip=False``
    it refuses compressed calls (``UNIMPLEMENTED``), as grpc does when told to."""

    def __init__(self, gzip: bool) -> None:
        self.names: Counter[str] = Counter()
        super().__init__([] if gzip else [("grpc.compression_enabled_algorithms_bitset", 1)])

    def _count(self, body: bytes) -> bytes:
        request = ExportTraceServiceRequest.FromString(body)
        with self._lock:
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    self.names.update(span.name for span in ss.spans)
        return super()._count(body)


@pytest.fixture
def sinks() -> Iterator[dict[bool, Sink]]:
    made = {gzip: Sink(gzip) for gzip in (True, False)}
    try:
        yield made
    finally:
        for sink in made.values():
            sink.close()


def _through_rotel(tmp_path: Path, sink: Sink, wait_s: float) -> int:
    with rotel_server(tmp_path, forward_to=sink.grpc_endpoint) as rotel:
        assert send(rotel.grpc_endpoint, LOAD, range(REQUESTS), streams=2, deadline_s=60) == (
            REQUESTS * 512,
            0,
        )
        deadline = time.monotonic() + wait_s
        while sum(sink.names.values()) < REQUESTS * 512 and time.monotonic() < deadline:
            time.sleep(0.1)
    return sum(sink.names.values())


def test_rotel_with_its_otlp_exporter_forwards_every_span_compressed(
    tmp_path: Path, sinks: dict[bool, Sink]
) -> None:
    sent: Counter[str] = Counter()
    for n in range(REQUESTS):
        request = ExportTraceServiceRequest.FromString(LOAD[n % len(LOAD)].stamped(n))
        sent.update(s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans)
    assert _through_rotel(tmp_path / "gzip", sinks[True], 30) == REQUESTS * 512
    assert sinks[True].names == sent
    # compressed: a sink that takes only uncompressed calls gets nothing (Rotel drops what fails)
    assert _through_rotel(tmp_path / "identity", sinks[False], 3) == 0
