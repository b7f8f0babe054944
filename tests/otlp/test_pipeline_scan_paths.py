"""The pipeline with the native scanner and without it (``scan_message`` over the decoded request)
exports the same bytes and records the same calls, on the benchmark's mixed load: with it, LLM
spans are rewritten in their encoding (``edit_attributes``) and spliced into the received bytes;
without it, they are changed through upb and the whole request is encoded again."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client import CollectorRegistry

import llmpulse.pipeline as pipeline_module
from benchmarks.loadgen import build_load
from llmpulse.config import validate
from llmpulse.otlp import attrs_to_dict, decode_protobuf, set_attributes
from llmpulse.otlp.scan import NATIVE, edit_attributes
from llmpulse.pipeline import Pipeline
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics
from tests.support.gateway import CaptureExporter


def _llm_span(n: int, attrs: dict[str, Any], events: tuple[str, ...] = ()) -> Span:
    span = Span(
        trace_id=bytes([n]) * 16,
        span_id=bytes([n]) * 8,
        name="chat gpt-4o",
        kind=Span.SpanKind.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_001_500_000_000,
    )
    base = {
        "gen_ai.system": "openai",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.prompt.0.content": "What is the capital of France?",
        "gen_ai.completion.0.content": "Paris.",
    }
    set_attributes(span.attributes, {**base, **attrs})
    for name in events:
        span.events.add(name=name, time_unix_nano=1).attributes.add(
            key="gen_ai.prompt"
        ).value.string_value = "hi"
    return span


def _edge_cases() -> bytes:
    """LLM spans on each side of the line between a rewrite of the encoding and upb."""
    spans = [
        _llm_span(1, {"http.request.header.authorization": "secret-value"}),  # a credential key
        _llm_span(2, {"error.message": "rejected Bearer abcdefghijklmnop"}),  # credential in a value
        _llm_span(3, {}, events=("gen_ai.content.prompt",)),  # a content event
        _llm_span(4, {}, events=("llm.content.completion.chunk",)),  # an event with content attributes
        _llm_span(5, {"llmpulse.content.redacted": True}),  # redacted by an earlier hop
        _llm_span(6, {"gen_ai.usage.input_tokens": "12", "gen_ai.request.stream": "yes"}),  # originals kept
        _llm_span(7, {"llmpulse.note": "no content at all"}),
    ]
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "edge"
    rs.scope_spans.add(scope=InstrumentationScope(name="custom"), spans=spans)
    return bytes(request.SerializeToString())


def _run(
    native: bool, monkeypatch: pytest.MonkeyPatch, mode: str = "drop"
) -> tuple[list[bytes], dict[str, float]]:
    monkeypatch.setattr(pipeline_module, "NATIVE", native)
    registry = CollectorRegistry()
    selfmetrics = SelfMetrics(registry)
    capture = CaptureExporter()
    config = validate({"enrich": {"redaction": {"content": mode, "truncate_chars": 8}}})
    pipeline = Pipeline(config, selfmetrics, SpanMetrics(selfmetrics), exporters=[capture])
    bodies = [batch.stamped(number) for number, batch in enumerate(build_load(4, spans_per_batch=256))]
    for body in [*bodies, _edge_cases()]:
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
    exported = [
        encoded if encoded is not None else request.SerializeToString()
        for (_, request), encoded in zip(capture.requests, capture.encodings, strict=True)
    ]
    return exported, calls


@pytest.mark.parametrize("mode", ["drop", "truncate", "keep"])
def test_native_and_fallback_scans_export_the_same(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fallback, fallback_calls = _run(False, monkeypatch, mode)
    assert sum(fallback_calls.values()) > 100 and len(fallback_calls) == 5
    if not NATIVE:
        pytest.fail("the C scanner is not built (tests/run-all.sh builds it)")
    native, native_calls = _run(True, monkeypatch, mode)
    assert native_calls == fallback_calls
    assert native == fallback
    edge = ExportTraceServiceRequest.FromString(native[-1]).resource_spans[0].scope_spans[0].spans
    attrs = [attrs_to_dict(span.attributes) for span in edge]
    assert [a["llmpulse.counted"] for a in attrs] == [True] * 7
    assert attrs[0]["http.request.header.authorization"] == "[REDACTED]"
    assert attrs[1]["error.message"] == "rejected [REDACTED]"
    assert attrs[5]["llmpulse.original.gen_ai.usage.input_tokens"] == "12"
    assert attrs[5]["gen_ai.usage.input_tokens"] == 12
    if mode == "drop":
        assert not any("gen_ai.prompt.0.content" in a for a in attrs)
        assert [len(span.events) for span in edge[2:4]] == [0, 1]
        assert [a.get("llmpulse.content.redacted") for a in attrs] == [True] * 7
    if mode == "keep":
        assert attrs[6]["gen_ai.prompt.0.content"] == "What is the capital of France?"
        assert "llmpulse.content.redacted" not in attrs[6]


def test_attributes_appended_to_a_rewrite_are_redacted_like_the_others() -> None:
    """Write-back's own keys are never content or credentials; should one be, it is redacted
    as an attribute the span came with would be."""
    selfmetrics = SelfMetrics(CollectorRegistry())
    pipeline = Pipeline(validate({}), selfmetrics, SpanMetrics(selfmetrics))
    span = _llm_span(9, {})
    rewrite = pipeline_module._Rewrite(span, span.SerializeToString(), bytes([1, 1, 1, 1, 1, 5, 5]))
    rewrite.appends = [("api_key", "sk-live"), ("gen_ai.prompt", "hello"), ("gen_ai.usage.input_tokens", 12)]
    pipeline._plan_redaction(rewrite)
    # the marker key is an edit by key: set where an earlier hop put it, else appended last
    assert rewrite.edits == {5: None, 6: None, "llmpulse.content.redacted": True}
    assert rewrite.appends == [("api_key", "[REDACTED]"), ("gen_ai.usage.input_tokens", 12)]
    if NATIVE:
        written = Span.FromString(pipeline._rewritten(rewrite))
        assert [kv.key for kv in written.attributes][-3:] == [
            "api_key",
            "gen_ai.usage.input_tokens",
            "llmpulse.content.redacted",
        ]
        assert attrs_to_dict(written.attributes[-3:]) == {
            "api_key": "[REDACTED]",
            "gen_ai.usage.input_tokens": 12,
            "llmpulse.content.redacted": True,
        }
        assert not any(kv.key.startswith("gen_ai.prompt") for kv in written.attributes)


def test_a_span_redacted_by_an_earlier_hop_keeps_one_marker_where_it_was() -> None:
    """A span that passed another llmpulse (or a collector redacting the same way) already has
    ``llmpulse.content.redacted``: the marker is set where it is, not added twice."""
    selfmetrics = SelfMetrics(CollectorRegistry())
    pipeline = Pipeline(validate({}), selfmetrics, SpanMetrics(selfmetrics))
    span = _llm_span(11, {"llmpulse.content.redacted": False})
    encoded = span.SerializeToString()
    _bytes, _attrs, flags, _head = pipeline._read(span, encoded)
    assert flags is not None
    rewrite = pipeline_module._Rewrite(span, encoded, flags)
    pipeline._plan_redaction(rewrite)
    keys = [kv.key for kv in span.attributes]
    if NATIVE:
        written = Span.FromString(pipeline._rewritten(rewrite))
        assert [kv.key for kv in written.attributes].count("llmpulse.content.redacted") == 1
        kept = [k for k in keys if not k.startswith(("gen_ai.prompt", "gen_ai.completion"))]
        assert [kv.key for kv in written.attributes] == kept
        assert written.attributes[kept.index("llmpulse.content.redacted")].value.bool_value is True


@pytest.mark.skipif(not NATIVE, reason="without the C module values come from upb, all read")
def test_content_values_are_left_unread_unless_a_dimension_reads_them() -> None:
    """A prompt is dropped without being decoded, but a dimension may name a content attribute
    (odd, but the user's call): then its value is read like any other."""
    span = _llm_span(10, {"input.value": "tenant-a"})
    encoded = span.SerializeToString()
    for dimensions, expected in (
        ([], None),
        ([{"name": "tenant", "sources": ["span.input.value"]}], "tenant-a"),
    ):
        selfmetrics = SelfMetrics(CollectorRegistry())
        config = validate({"metrics": {"dimensions": dimensions}})
        pipeline = Pipeline(config, selfmetrics, SpanMetrics(selfmetrics))
        _bytes, attrs, _flags, _head = pipeline._read(span, encoded)
        assert attrs["input.value"] == expected
        assert attrs["gen_ai.prompt.0.content"] is None
        assert attrs["gen_ai.request.model"] == "gpt-4o"


@pytest.mark.skipif(not NATIVE, reason="the byte rewrite needs the C module")
def test_a_rewrite_the_encoder_refuses_is_made_through_upb_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    """Should ``edit_attributes`` refuse a planned edit, the span is changed through upb as
    without the C module: the same bytes go out."""
    expected, _ = _run(False, monkeypatch)

    rewritten: list[int] = []
    refused: list[int] = []

    def counting(span: bytes, edits: Any, appends: Any) -> bytes:
        rewritten.append(len(span))
        return bytes(edit_attributes(span, edits, appends))

    def refuse(span: bytes, edits: Any, appends: Any) -> bytes:
        refused.append(len(span))
        raise ValueError("int value 18446744073709551616 is out of the int64 range")

    monkeypatch.setattr(pipeline_module, "edit_attributes", counting)
    assert _run(True, monkeypatch)[0] == expected
    monkeypatch.setattr(pipeline_module, "edit_attributes", refuse)
    got, _ = _run(True, monkeypatch)
    assert refused == rewritten and len(refused) > 150  # every rewrite took the fallback
    assert got == expected
