"""``llmpulse.alert`` events: which calls get one, carriers for access-log calls, and a real
Alertmanager accepting the alerts the collector's alertmanager exporter makes of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from prometheus_client import CollectorRegistry

from benchmarks.loadgen import build_load
from llmpulse.config import validate
from llmpulse.forward import EVENT_NAME, AlertMarker
from llmpulse.forward._exporter import count_items
from llmpulse.otlp import attrs_to_dict, decode_protobuf, set_attributes
from llmpulse.otlp.scan import locate_spans, read_attributes
from llmpulse.pipeline import Pipeline
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics
from tests.support.gateway import CaptureExporter
from tests.support.promstack import Alertmanager, http_post, wait_until

CONFIG_DIR = Path(__file__).resolve().parents[2] / "collector-config"


def traces(*calls: dict[str, Any]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    set_attributes(rs.resource.attributes, {"service.name": "checkout"})
    scope = rs.scope_spans.add()
    for i, attributes in enumerate(calls):
        span = scope.spans.add(trace_id=bytes([1]) * 16, span_id=bytes([i + 1]) * 8, end_time_unix_nano=5)
        set_attributes(span.attributes, attributes)
    return request


CONTENT_FILTER = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.provider.name": "openai",
    "llmpulse.error.class": "content_filter",
    "error.type": "content_filter",
    "llmpulse.counted": True,
}


def test_only_counted_calls_of_listed_classes_get_an_event_on_a_copy() -> None:
    marker = AlertMarker(["content_filter", "quota_exceeded"], "critical")
    request = traces(
        CONTENT_FILTER,
        {**CONTENT_FILTER, "llmpulse.error.class": "rate_limit"},  # not listed
        {**CONTENT_FILTER, "llmpulse.counted": False},  # a duplicate span of a counted call
        {"http.route": "/health"},
    )
    marked = marker.mark_traces(request)
    assert marked is not request
    assert all(not span.events for span in request.resource_spans[0].scope_spans[0].spans)  # untouched
    events = [[e.name for e in span.events] for span in marked.resource_spans[0].scope_spans[0].spans]
    assert events == [[EVENT_NAME], [], [], []]
    event = attrs_to_dict(marked.resource_spans[0].scope_spans[0].spans[0].events[0].attributes)
    assert event["severity"] == "critical" and event["call_id"] == (bytes([1]) * 8).hex()
    assert marker.mark_traces(marked) is marked  # marked already: never a second event, no copy
    assert [e.name for e in marked.resource_spans[0].scope_spans[0].spans[0].events] == [EVENT_NAME]
    # encoding with the events leaves the request as it was and equals marking a copy
    assert marker.encode_marked(request, request.SerializeToString()) == marked.SerializeToString()
    assert all(not span.events for span in request.resource_spans[0].scope_spans[0].spans)
    payload = marked.SerializeToString()
    assert marker.encode_marked(marked, payload) is payload  # nothing to add: the payload as given
    nothing = traces({**CONTENT_FILTER, "llmpulse.error.class": "auth"})
    assert marker.mark_traces(nothing) is nothing  # no alert: no copy at all


def test_access_log_calls_get_a_carrier_span_in_their_trace() -> None:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    set_attributes(rl.resource.attributes, {"service.name": "checkout", "k8s.namespace.name": "shop"})
    scope = rl.scope_logs.add()
    record = scope.log_records.add(time_unix_nano=1_000, trace_id=bytes([7]) * 16, span_id=bytes([9]) * 8)
    set_attributes(record.attributes, {**CONTENT_FILTER, "llmpulse.error.class": "quota_exceeded"})
    plain = scope.log_records.add()
    set_attributes(plain.attributes, {**CONTENT_FILTER, "llmpulse.error.class": "timeout"})
    carriers = AlertMarker(["quota_exceeded"], "warning").carriers_for_logs(request)
    assert carriers is not None
    (span,) = carriers.resource_spans[0].scope_spans[0].spans
    assert (span.trace_id, span.parent_span_id, span.start_time_unix_nano) == (
        bytes([7]) * 16,
        bytes([9]) * 8,
        1_000,
    )
    assert span.name == "chat gpt-4o-mini" and attrs_to_dict(span.attributes)["llmpulse.synthetic"] is True
    event = attrs_to_dict(span.events[0].attributes)
    assert (event["alert_class"], event["service_name"], event["k8s_namespace_name"]) == (
        "quota_exceeded",
        "checkout",
        "shop",
    )
    assert AlertMarker([], "warning").carriers_for_logs(request) is None


def exporter_payload(span: Any, event: Any, config: dict[str, Any]) -> dict[str, Any]:
    """The alert the alertmanager exporter (contrib v0.135.0, alertmanager_exporter.go) makes of a
    span event: labels = event_labels + severity + event_name; annotations = every attribute +
    TraceID/SpanID."""
    attributes = {k: str(v) for k, v in attrs_to_dict(event.attributes).items()}
    labels = {k: v for k, v in attributes.items() if k in config["event_labels"]}
    labels["severity"] = attributes.get(config["severity_attribute"], config["severity"])
    labels["event_name"] = event.name
    return {
        "labels": labels,
        "annotations": {**attributes, "TraceID": span.trace_id.hex(), "SpanID": span.span_id.hex()},
        "generatorURL": "http://llmpulse-collector",
    }


def test_real_alertmanager_accepts_and_routes_the_alerts(tmp_path: Path) -> None:
    config = yaml.safe_load((CONFIG_DIR / "gateway.yaml").read_text())["exporters"]["alertmanager"]
    span = AlertMarker(["content_filter"], "warning").mark_traces(traces(CONTENT_FILTER)).resource_spans[0]
    span = span.scope_spans[0].spans[0]
    payload = [exporter_payload(span, span.events[0], config)]
    route = {"route": {"receiver": "null", "group_by": ["alert_class"]}, "receivers": [{"name": "null"}]}
    with Alertmanager.start(tmp_path / "am", config_text=yaml.safe_dump(route)) as am:
        status, body = http_post(am.url + "/api/v2/alerts", json.dumps(payload).encode())
        assert status == 200, body
        alerts = wait_until(lambda: am.alerts() or None, timeout=10)
    assert alerts is not None
    (alert,) = alerts
    assert alert["labels"] == {
        "alert_class": "content_filter",
        "gen_ai_request_model": "gpt-4o-mini",
        "gen_ai_provider_name": "openai",
        "service_name": "checkout",
        "severity": "warning",
        "event_name": "llmpulse.alert",
    }
    assert alert["annotations"]["summary"] == "LLM call content_filter on gpt-4o-mini in checkout"


def test_encode_marked_leaves_the_request_as_it_was_even_when_marking_fails() -> None:
    marker = AlertMarker(["content_filter"], "critical")
    request = traces(CONTENT_FILTER, {**CONTENT_FILTER}, {"http.route": "/health"})
    before = request.SerializeToString()
    calls = 0
    original = marker.event_attributes

    def second_fails(*args: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("boom")
        return original(*args)

    marker.event_attributes = second_fails  # type: ignore[method-assign,assignment]
    with pytest.raises(RuntimeError, match="boom"):
        marker.encode_marked(request, before)
    assert calls == 2
    assert request.SerializeToString() == before  # the first span's event came off again


def field(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field, written by hand (to send what upb would not write)."""
    size, head = len(data), bytearray([number << 3 | 2])
    while size >= 0x80:
        head.append(size & 0x7F | 0x80)
        size >>= 7
    head.append(size)
    return bytes(head) + data


def test_a_span_the_c_attribute_reader_refuses_is_still_marked() -> None:
    """A client may send a field twice (valid protobuf: the values merge); the C attribute reader
    refuses that, so such a span's attributes are read through upb instead."""
    request = traces({k: v for k, v in CONTENT_FILTER.items() if k != "llmpulse.counted"})
    resource = request.resource_spans[0].resource
    span = request.resource_spans[0].scope_spans[0].spans[0]
    counted = field(1, b"llmpulse.counted") + field(2, AnyValue(string_value="no").SerializeToString())
    counted += field(2, AnyValue(bool_value=True).SerializeToString())  # merged: true
    span_bytes = span.SerializeToString() + field(9, counted)
    payload = field(1, field(1, resource.SerializeToString()) + field(2, field(2, span_bytes)))
    with pytest.raises(ValueError):
        read_attributes(span_bytes, {}, lambda key: 0)
    received = ExportTraceServiceRequest.FromString(payload)
    assert attrs_to_dict(received.resource_spans[0].scope_spans[0].spans[0].attributes)["llmpulse.counted"]

    marked = ExportTraceServiceRequest.FromString(
        AlertMarker(["content_filter"], "critical").encode_marked(received, payload)
    )
    (event,) = marked.resource_spans[0].scope_spans[0].spans[0].events
    assert event.name == EVENT_NAME
    values = attrs_to_dict(event.attributes)
    assert (values["alert_class"], values["call_id"], values["service_name"]) == (
        "content_filter",
        (bytes([1]) * 8).hex(),
        "checkout",
    )


def _pipeline_exports(bodies: list[bytes]) -> list[tuple[Any, bytes, Any]]:
    """Each body through the real pipeline: (request, encoding, ``Exported``) as handed over."""
    capture = CaptureExporter()
    selfmetrics = SelfMetrics(CollectorRegistry())
    pipeline = Pipeline(validate({}), selfmetrics, SpanMetrics(selfmetrics), exporters=[capture])
    for body in bodies:
        pipeline.consume(
            "traces", decode_protobuf("traces", body), protocol="grpc", size=len(body), body=body
        )
    exports = []
    for (_, request), encoded, exported in zip(
        capture.requests, capture.encodings, capture.exported, strict=True
    ):
        assert encoded is not None and exported is not None  # the C module is built (run-all.sh requires it)
        exports.append((request, encoded, exported))
    return exports


def _scanned_failed(payload: bytes) -> list[tuple[int, int, int, bytes, str]]:
    """What ``Exported.failed`` must hold, found the slow way: every counted span with an error
    class, and that class."""
    found = []
    for i, j, k, _flags, start, stop in locate_spans(
        payload, {}, lambda key: int(key == b"llmpulse.error.class")
    )[0]:
        attributes, _ = read_attributes(payload[start:stop], {}, lambda key: 0)
        if attributes.get("llmpulse.counted") is True:
            found.append((i, j, k, payload[start:stop], attributes["llmpulse.error.class"]))
    return found


def test_the_pipeline_tells_forwarding_which_spans_may_alert_and_marking_them_equals_the_scan() -> None:
    """``Exported`` spares forwarding a walk of every request: its span count and its failed calls
    (located in the encoding handed over) must be what walking the request finds."""
    load = build_load(batches=8)
    exports = _pipeline_exports([batch.stamped(n) for n, batch in enumerate(load)])
    classes = ["content_filter", "rate_limit"]
    marker = AlertMarker(classes, "critical")
    failed_calls = events = alerting = 0
    for request, encoded, exported in exports:
        assert exported.items == count_items("traces", request) == 512
        assert exported.failed == _scanned_failed(encoded)
        failed_calls += len(exported.failed)
        for *_, error_class in exported.failed:
            alerting += error_class in classes
        told = marker.encode_marked(request, encoded, exported.failed)
        assert told == marker.encode_marked(request, encoded)  # byte for byte what the scan gives
        marked = ExportTraceServiceRequest.FromString(told)
        events += sum(
            e.name == EVENT_NAME
            for rs in marked.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
            for e in s.events
        )
    # the load's failures: ~5 % of its calls rate limited, ~2 % filtered (1632 calls in 8 batches)
    assert 40 < failed_calls < 250
    assert events == alerting > 20  # one event per alerting call, none for the other failures


def test_failed_calls_are_located_after_the_invalid_spans_the_pipeline_leaves_out() -> None:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    set_attributes(rs.resource.attributes, {"service.name": "checkout"})
    scope = rs.scope_spans.add()
    failing = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.provider.name": "openai",
    }
    failing |= {
        "gen_ai.usage.input_tokens": 10,
        "error.type": "content_filter",
        "http.response.status_code": 400,
    }
    scope.spans.add(trace_id=b"\x01" * 16, span_id=b"\x01" * 3, name="bad id")  # invalid: left out
    scope.spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="ordinary")
    scope.spans.add(trace_id=b"\x01" * 15, span_id=b"\x03" * 8, name="bad trace id")  # invalid: left out
    span = scope.spans.add(
        trace_id=b"\x01" * 16, span_id=b"\x04" * 8, start_time_unix_nano=1, end_time_unix_nano=9
    )
    set_attributes(span.attributes, failing)
    ((_, encoded, exported),) = _pipeline_exports([request.SerializeToString()])
    assert exported.items == 2
    # k was 3 as received
    assert [(i, j, k, c) for i, j, k, _, c in exported.failed] == [(0, 0, 1, "content_filter")]
    assert exported.failed == _scanned_failed(encoded)
    marked = ExportTraceServiceRequest.FromString(
        AlertMarker(["content_filter"], "critical").encode_marked(request, encoded, exported.failed)
    )
    spans = marked.resource_spans[0].scope_spans[0].spans
    assert [s.name for s in spans] == ["ordinary", ""]
    assert [e.name for e in spans[1].events] == [EVENT_NAME]
    assert attrs_to_dict(spans[1].events[0].attributes)["call_id"] == (b"\x04" * 8).hex()


def test_a_failed_call_told_to_be_of_a_class_that_does_not_alert_is_not_read() -> None:
    """Most failed calls are rate limited, which alerts nobody by default: told their class
    (``Exported.failed``), forwarding must not read their spans at all. Bytes no reader accepts
    prove it: read, they would fail."""
    marker = AlertMarker(["content_filter"], "critical")
    request = ExportTraceServiceRequest()
    garbage = b"\x0a\xff\xff\xff\xff\x0f"  # a length far beyond the bytes
    payload = request.SerializeToString()
    assert marker.encode_marked(request, payload, [(0, 0, 0, garbage, "rate_limit")]) is payload
    with pytest.raises(DecodeError, match="Span"):
        marker.encode_marked(request, payload, [(0, 0, 0, garbage, "content_filter")])
