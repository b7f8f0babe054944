"""The pipeline with the native scanner and without it (``scan_message`` over the decoded request)
exports the same bytes and records the same calls, on the benchmark's mixed load."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

import llmpulse.pipeline as pipeline_module
from benchmarks.loadgen import build_load
from llmpulse.config import validate
from llmpulse.otlp import decode_protobuf
from llmpulse.otlp.scan import NATIVE
from llmpulse.pipeline import Pipeline
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics
from tests.support.gateway import CaptureExporter


def _run(native: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[bytes], dict[str, float]]:
    monkeypatch.setattr(pipeline_module, "NATIVE", native)
    registry = CollectorRegistry()
    selfmetrics = SelfMetrics(registry)
    capture = CaptureExporter()
    pipeline = Pipeline(validate({}), selfmetrics, SpanMetrics(selfmetrics), exporters=[capture])
    for number, batch in enumerate(build_load(4, spans_per_batch=256)):
        body = batch.stamped(number)
        pipeline.consume(
            "traces", decode_protobuf("traces", body), protocol="grpc", size=len(body), body=body
        )
    calls = {
        sample.labels["dialect"]: sample.value
        for metric in registry.collect()
        if metric.name == "llmpulse_calls_recognised"
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    return [request.SerializeToString() for _, request in capture.requests], calls


def test_native_and_fallback_scans_export_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    fallback, fallback_calls = _run(False, monkeypatch)
    assert sum(fallback_calls.values()) > 100 and len(fallback_calls) == 5
    if not NATIVE:
        pytest.fail("the C scanner is not built (tests/run-all.sh builds it)")
    native, native_calls = _run(True, monkeypatch)
    assert native_calls == fallback_calls
    assert native == fallback
