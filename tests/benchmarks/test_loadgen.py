"""The benchmark load stays what the README says it is: 512-span batches, 20 % LLM spans in five
dialects, every LLM call recognised by the real pipeline (so the throughput figures measure the
work they claim to). Speed is never asserted here; that is ``benchmarks/run_throughput.py``."""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry

from benchmarks.loadgen import DIALECTS, build_load
from llmpulse.config import validate
from llmpulse.otlp import decode_protobuf
from llmpulse.pipeline import LLM_KEY_PREFIXES, Pipeline
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics
from llmpulse.spanmetrics._contract import DURATION

LOAD = build_load(batches=3)


def test_batches_hold_512_spans_of_which_exactly_102_are_llm_spans() -> None:
    for batch in LOAD:
        request = decode_protobuf("traces", batch.body)
        spans = [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
        llm = [span for span in spans if any(kv.key.startswith(LLM_KEY_PREFIXES) for kv in span.attributes)]
        assert (len(spans), len(llm)) == (512, 102) == (batch.spans, batch.llm_spans)
        assert len({(span.trace_id, span.span_id) for span in spans}) == 512
        # Vercel calls are two LLM spans (the outer ai.generateText repeats the usage), others one
        assert sum(batch.calls.values()) + batch.calls.get("vercel_ai", 0) == 102
        resources = {
            kv.value.string_value
            for rs in request.resource_spans
            for kv in rs.resource.attributes
            if kv.key == "service.name"
        }
        assert len(resources) == 4


def test_every_dialect_is_present_and_the_load_is_deterministic() -> None:
    calls: Counter[str] = Counter()
    for batch in LOAD:
        calls.update(batch.calls)
    assert set(calls) == set(DIALECTS)
    assert [b.body for b in build_load(batches=3)] == [b.body for b in LOAD]
    assert len({b.body for b in LOAD}) == 3


def test_the_pipeline_recognises_exactly_the_calls_the_generator_planted() -> None:
    registry = CollectorRegistry()
    selfmetrics = SelfMetrics(registry)
    spanmetrics = SpanMetrics(selfmetrics)
    pipeline = Pipeline(validate({}), selfmetrics, spanmetrics)
    expected: Counter[str] = Counter()
    for batch in LOAD:
        outcome = pipeline.consume("traces", decode_protobuf("traces", batch.body), protocol="grpc", size=1)
        assert (outcome.accepted, outcome.rejected) == (512, 0)
        expected.update(batch.calls)
    for dialect, count in expected.items():
        assert registry.get_sample_value("llmpulse_calls_recognised_total", {"dialect": dialect}) == count
    assert registry.get_sample_value("llmpulse_calls_deduplicated_total", {"reason": "nested"}) is None
    # one duration observation per call: nothing the generator planted was dropped or doubled
    observed = sum(s.count for s in spanmetrics.snapshot() if s.metric.name == DURATION.name)
    assert observed == sum(expected.values())


def test_stamped_replays_are_new_traces_with_the_same_spans() -> None:
    batch = LOAD[0]
    original = decode_protobuf("traces", batch.body)
    replay = decode_protobuf("traces", batch.stamped(0x01020304))
    spans = [s for rs in original.resource_spans for ss in rs.scope_spans for s in ss.spans]
    stamped = [s for rs in replay.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert {s.trace_id[:4] for s in stamped} == {b"\x01\x02\x03\x04"}
    assert [(s.trace_id[4:], s.span_id, s.parent_span_id, s.name) for s in stamped] == [
        (s.trace_id[4:], s.span_id, s.parent_span_id, s.name) for s in spans
    ]
    # and the pipeline still finds exactly the planted calls in the stamped bytes
    registry = CollectorRegistry()
    selfmetrics = SelfMetrics(registry)
    pipeline = Pipeline(validate({}), selfmetrics, SpanMetrics(selfmetrics))
    pipeline.consume("traces", replay, protocol="grpc", size=1)
    for dialect, count in batch.calls.items():
        assert registry.get_sample_value("llmpulse_calls_recognised_total", {"dialect": dialect}) == count
