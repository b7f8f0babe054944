"""Trace requests kept as their bytes (``decode_request``): ``check_traces`` vouches only for what
upb decodes, its layout is what upb reads, and the pipeline exports and counts the same from an
``EncodedTraces`` as from the decoded request."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message_factory import GetMessageClass
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span
from prometheus_client import CollectorRegistry

from benchmarks.loadgen import build_load
from llmpulse.config import validate
from llmpulse.otlp import DecodeError, Encoded, EncodedTraces, decode_protobuf, decode_request, resource_of
from llmpulse.otlp._encoded import _SCHEMA, schema_of
from llmpulse.otlp.scan import NATIVE
from llmpulse.pipeline import Pipeline
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics
from tests.support.gateway import CaptureExporter

pytestmark = pytest.mark.skipif(not NATIVE, reason="check_traces is part of the C module")

if NATIVE:
    from llmpulse.otlp._scan import check_traces


def _request(name: str = "chat gpt-4o", scope: str = "custom", value: str = "x") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "svc"
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name=name)
    span.attributes.add(key="gen_ai.request.model").value.string_value = value
    rs.scope_spans.add(scope=InstrumentationScope(name=scope), spans=[span, span])
    rs.scope_spans.add(spans=[span])  # no scope at all
    request.resource_spans.add().scope_spans.add(scope=InstrumentationScope(version="1"))  # nor resource
    return request


def _layout_of(request: Any, body: bytes) -> list[tuple[Any, list[tuple[str, int, Any]]]]:
    """What upb's decode says the layout is, with the layout's byte ranges decoded by upb."""
    return [
        (
            rs.resource if rs.HasField("resource") else None,
            [(ss.scope.name, len(ss.spans), ss) for ss in rs.scope_spans],
        )
        for rs in request.resource_spans
    ]


def assert_layout_matches(body: bytes, layout: list[Any]) -> None:
    request = decode_protobuf("traces", body)
    got = [
        (
            Resource.FromString(body[a:b]) if a >= 0 else None,
            [(name, n, ScopeSpans.FromString(body[c:d])) for name, n, c, d in scopes],
        )
        for a, b, scopes in layout
    ]
    assert got == _layout_of(request, body)


def test_a_request_upb_writes_is_kept_as_its_bytes_with_its_layout() -> None:
    body = _request(name="é 中 😀").SerializeToString()
    decoded = decode_request("traces", body)
    assert type(decoded) is EncodedTraces
    assert decoded.body is body and decoded.SerializeToString() is body
    assert [(a >= 0, [(name, n) for name, n, *_ in scopes]) for a, _, scopes in decoded.layout] == [
        (True, [("custom", 2), ("", 1)]),
        (False, [("", 0)]),
    ]
    assert_layout_matches(body, decoded.layout)
    # read as a message, it is upb's decode (made once)
    assert decoded.resource_spans[0].scope_spans[0].spans[0].name == "é 中 😀"
    assert decoded.message is decoded.message
    assert decoded.message == decode_protobuf("traces", body)


def _ld(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    size, length = len(payload), b""
    while size >= 0x80:
        length += bytes([size & 0x7F | 0x80])
        size >>= 7
    return bytes([number << 3 | 2]) + length + bytes([size]) + payload


def _span_named(name: bytes) -> bytes:
    span = _ld(1, b"\x01" * 16) + _ld(2, b"\x02" * 8) + _ld(5, name)
    return _ld(1, _ld(2, _ld(2, span)))


@pytest.mark.parametrize(
    "name",
    [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"caf\xc3", b"12345678\xe4\xb8"],
    ids=["invalid byte", "overlong", "surrogate", "past U+10FFFF", "cut", "cut after a word"],
)
def test_a_string_that_is_not_utf8_is_left_to_upb_which_refuses_it(name: bytes) -> None:
    body = _span_named(name)
    with pytest.raises(ValueError, match="not valid UTF-8"):
        check_traces(body, _SCHEMA)
    with pytest.raises(DecodeError, match="UTF-8"):
        decode_request("traces", body)


@pytest.mark.parametrize(
    "name",
    [
        "é",
        "中文",
        "😀",
        "a" * 7 + "é",
        "a" * 8 + "é" + "b" * 9,
        "\u007f\u0080\u07ff\u0800\uffff\U00010000\U0010ffff",
    ],
)
def test_valid_utf8_of_every_length_class_is_accepted(name: str) -> None:
    body = _span_named(name.encode())
    assert_layout_matches(body, check_traces(body, _SCHEMA))
    assert type(decode_request("traces", body)) is EncodedTraces


def _nested(wrappers: int) -> bytes:
    """A span with an attribute of arrays in arrays: 6 + 2 * ``wrappers`` messages deep."""
    value = _ld(1, b"leaf")
    for _ in range(wrappers):
        value = _ld(5, _ld(1, value))  # AnyValue.array_value → ArrayValue.values
    span = _ld(1, b"\x01" * 16) + _ld(2, b"\x02" * 8) + _ld(9, _ld(1, b"deep") + _ld(2, value))
    return _ld(1, _ld(2, _ld(2, span)))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        # a group (an unknown field upb keeps): the scanner does not read groups
        (_ld(1, b"\x4b\x08\x01\x4c"), "group"),
        # span.name (a string) sent as a varint: an unknown field to upb
        (_ld(1, _ld(2, _ld(2, b"\x28\x01"))), "not length-delimited"),
        # two resources in one ResourceSpans: upb merges them
        (_ld(1, _ld(1, b"") + _ld(1, b"")), "given more than once"),
        # two scopes in one ScopeSpans
        (_ld(1, _ld(2, _ld(1, b"") + _ld(1, b""))), "given more than once"),
        (_nested(35), "nested too deep"),  # 76 deep: upb goes to 100
        # every other kind of field given with another wire type, each an unknown field to upb
        (_ld(1, _ld(2, _ld(2, b"\x38\x01"))), "not fixed64"),  # start_time_unix_nano
        (_ld(1, _ld(2, _ld(2, b"\x80\x01\x01"))), "not fixed32"),  # Span.flags
        (_ld(1, _ld(2, _ld(2, _ld(15, _ld(3, b""))))), "not a varint"),  # Status.code
        (_ld(1, _ld(2, _ld(2, b"\x08\x01"))), "not length-delimited"),  # trace_id (bytes)
        (_ld(1, _ld(2, _ld(2, b"\x78\x01"))), "not length-delimited"),  # status (a message)
    ],
    ids=[
        "group",
        "wire type",
        "two resources",
        "two scopes",
        "depth 76",
        "fixed64",
        "fixed32",
        "varint",
        "bytes",
        "message",
    ],
)
def test_what_upb_takes_but_the_check_does_not_vouch_for_is_decoded_by_upb(body: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_traces(body, _SCHEMA)
    decoded = decode_request("traces", body)
    assert type(decoded) is ExportTraceServiceRequest
    assert decoded == decode_protobuf("traces", body)


@pytest.mark.parametrize(
    "body",
    [b"\x0a\x05\x01", b"\x08", b"\x0f", b"\x00", b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"],
    ids=["overrun", "truncated varint", "wire type 7", "field 0", "varint of 11 bytes"],
)
def test_malformed_bytes_are_refused_with_upbs_message(body: bytes) -> None:
    with pytest.raises(ValueError):
        check_traces(body, _SCHEMA)
    with pytest.raises(DecodeError, match="not a valid protobuf ExportTraceServiceRequest"):
        decode_request("traces", body)


def test_a_schema_that_is_not_rows_of_field_kinds_is_refused() -> None:
    with pytest.raises(ValueError, match="rows of 32 bytes"):
        check_traces(b"", b"\x00" * 31)
    with pytest.raises(ValueError, match="no field kind"):
        check_traces(b"", b"\x09" + b"\x00" * 31)  # a message of row 1, of 1 row


def test_the_schema_follows_the_installed_descriptors() -> None:
    rows = [_SCHEMA[n : n + 32] for n in range(0, len(_SCHEMA), 32)]
    span_row = rows[rows[rows[rows[0][1] - 8][2] - 8][2] - 8]  # request → ResourceSpans → ScopeSpans → Span
    assert span_row[1] == span_row[2] == span_row[4] == 5  # trace_id, span_id, parent_span_id: bytes
    assert span_row[5] == 4 and span_row[3] == 4  # name, trace_state: strings
    assert span_row[6] == 1 and span_row[7] == 2 and span_row[8] == 2  # kind, start, end
    assert span_row[16] == 3  # flags: fixed32


def _message_type(number: int, repeated_int: bool = False) -> Any:
    pool = descriptor_pool.DescriptorPool()
    file = descriptor_pb2.FileDescriptorProto(name="t.proto", package="t", syntax="proto3")
    message = file.message_type.add(name="M")
    message.field.add(
        name="f",
        number=number,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
        if repeated_int
        else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    )
    pool.Add(file)
    return GetMessageClass(pool.FindMessageTypeByName("t.M"))


def test_a_message_the_table_cannot_describe_is_refused() -> None:
    assert schema_of(_message_type(31).DESCRIPTOR)[31] == 1
    with pytest.raises(ValueError, match="field number 32"):
        schema_of(_message_type(32).DESCRIPTOR)
    with pytest.raises(ValueError, match="does not read"):  # packed or not: upb takes both
        schema_of(_message_type(1, repeated_int=True).DESCRIPTOR)


def test_an_encoded_message_is_its_bytes_until_read_then_the_message() -> None:
    resource = Resource()
    resource.attributes.add(key="service.name").value.string_value = "svc"
    data = resource.SerializeToString() + b"\xf8\x01\x07"  # and an unknown field 31, kept as is
    lazy = Encoded(Resource, data)
    assert lazy.SerializeToString() is data
    assert lazy.attributes[0].value.string_value == "svc"
    lazy.attributes.add(key="k8s.pod.name").value.string_value = "pod-1"
    assert Resource.FromString(lazy.SerializeToString()).attributes[1].key == "k8s.pod.name"
    assert lazy.message_type is Resource


def _pipeline(config: dict[str, Any] | None = None) -> tuple[Pipeline, CaptureExporter, SpanMetrics]:
    selfmetrics = SelfMetrics(CollectorRegistry())
    capture = CaptureExporter()
    metrics = SpanMetrics(selfmetrics)
    return Pipeline(validate(config or {}), selfmetrics, metrics, exporters=[capture]), capture, metrics


class _Kubernetes:
    """A resource enricher: adds the pod of a peer, as the Kubernetes one does."""

    def enrich(self, resource: Any, peer: str | None) -> dict[str, str]:
        return {"k8s.pod.uid": "uid-1", "k8s.cluster.name": "test-cluster"}


@pytest.mark.parametrize("mode", ["drop", "keep", "truncate"])
def test_the_pipeline_exports_and_counts_the_same_from_the_bytes_as_from_the_message(mode: str) -> None:
    config = {"enrich": {"redaction": {"content": mode, "truncate_chars": 8}}}
    load = build_load(4, spans_per_batch=256)
    bodies = [batch.stamped(n) for n, batch in enumerate(load)]
    bodies.append(_request().SerializeToString())
    runs = []
    for decode in (decode_protobuf, decode_request):
        pipeline, capture, metrics = _pipeline(config)
        pipeline.resource_enrichers.append(_Kubernetes())
        accepted = 0
        for body in bodies:
            request = decode("traces", body)
            assert type(request) is (
                ExportTraceServiceRequest if decode is decode_protobuf else EncodedTraces
            )
            accepted += pipeline.consume(
                "traces", request, protocol="grpc", size=len(body), body=body
            ).accepted
        snapshot = sorted((s.metric.name, s.labels, s.value, s.count, s.total) for s in metrics.snapshot())
        runs.append((accepted, capture.encodings, [e.failed for e in capture.exported if e], snapshot))
    assert runs[0] == runs[1]
    accepted, encodings, _, snapshot = runs[1]
    assert accepted == 4 * 256 + 3
    # every exported request carries the enriched resources, spliced into the received bytes
    for encoded in encodings:
        assert encoded is not None
        for rs in ExportTraceServiceRequest.FromString(encoded).resource_spans:
            assert {kv.key: kv.value.string_value for kv in rs.resource.attributes}["k8s.pod.uid"] == "uid-1"
    calls = sum(count for name, _, _, count, _ in snapshot if name == "gen_ai_client_operation_duration")
    assert calls == sum(sum(batch.calls.values()) for batch in load)  # (_request's spans are no call)


def test_the_enriched_resource_is_what_an_alert_reads() -> None:
    pipeline, _, _ = _pipeline()
    pipeline.resource_enrichers.append(_Kubernetes())
    body = _request().SerializeToString()
    request = decode_request("traces", body)
    pipeline.consume("traces", request, protocol="grpc", size=len(body), body=body)
    keys = [kv.key for kv in resource_of(request, 0).attributes]
    assert keys == ["service.name", "k8s.pod.uid", "k8s.cluster.name"]
    assert request._message is None
