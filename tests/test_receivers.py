"""Receiver behaviour at the edges: bad input gets a clear status and is counted, the server keeps
serving, auth and limits hold, and spans that are not LLM calls pass through untouched."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from llmpulse.otlp import request_to_json, set_attributes
from llmpulse.otlp.scan import NATIVE, scan_spans
from llmpulse.pipeline import Backpressure
from llmpulse.server import Gateway
from tests.support.gateway import CaptureExporter, endpoints, gateway_config, running_gateway

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _request(*spans: dict[str, object], service: str = "shop") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", service
    ss = rs.scope_spans.add()
    ss.scope.name = "test"
    for i, attrs in enumerate(spans):
        span = ss.spans.add()
        span.trace_id = bytes([1] * 15 + [i + 1])
        span.span_id = bytes([2] * 7 + [i + 1])
        span.name = str(attrs.pop("_name", "GET /"))
        span.start_time_unix_nano = 1_700_000_000_000_000_000
        span.end_time_unix_nano = span.start_time_unix_nano + 500_000_000
        set_attributes(span.attributes, attrs)
    return request


LLM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
}


def _grpc(gw: Gateway, body: bytes, metadata: tuple[tuple[str, str], ...] = ()) -> bytes:
    with grpc.insecure_channel(endpoints(gw.config)["grpc"]) as channel:
        return channel.unary_unary(TRACES)(body, timeout=10, metadata=metadata)  # type: ignore[no-any-return]


def _value(gw: Gateway, name: str, **labels: str) -> float:
    return gw.registry.get_sample_value(name, labels) or 0.0


def test_malformed_protobuf_over_grpc_is_invalid_argument_and_counted(gateway: Gateway) -> None:
    with pytest.raises(grpc.RpcError) as info:
        _grpc(gateway, b"\xff\xff\xff\xffnot protobuf")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid protobuf ExportTraceServiceRequest" in info.value.details()
    assert (
        _value(
            gateway, "llmpulse_refused_requests_total", signal="traces", protocol="grpc", reason="malformed"
        )
        == 1
    )
    # and the server keeps serving
    _grpc(gateway, _request(dict(LLM)).SerializeToString())
    assert _value(gateway, "llmpulse_calls_recognised_total", dialect="semconv") == 1


@pytest.mark.parametrize(
    ("body", "ctype", "encoding", "status", "message"),
    [
        (b"\x0a\xff\xff", "application/x-protobuf", None, 400, "not a valid protobuf"),
        (b"{not json", "application/json", None, 400, "not valid JSON"),
        (b"[1, 2]", "application/json", None, 400, "must be a JSON object"),
        (
            json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}).encode(),
            "application/json",
            None,
            400,
            "is not a 16-byte id in hex",
        ),
        (json.dumps({"resourceSpans": 5}).encode(), "application/json", None, 400, "not a valid OTLP/JSON"),
        (
            b"hello",
            "text/plain",
            None,
            415,
            "Content-Type must be application/x-protobuf or application/json",
        ),
        (b"\x1f\x8b\x08garbage", "application/x-protobuf", "gzip", 400, "not valid gzip"),
        (b"x", "application/x-protobuf", "br", 415, "Content-Encoding must be gzip or identity"),
    ],
)
def test_bad_http_bodies_get_a_clear_error(
    gateway: Gateway, body: bytes, ctype: str, encoding: str | None, status: int, message: str
) -> None:
    headers = {"Content-Type": ctype}
    if encoding:
        headers["Content-Encoding"] = encoding
    response = httpx.post(f"{endpoints(gateway.config)['http']}/v1/traces", content=body, headers=headers)
    assert response.status_code == status
    if response.headers["Content-Type"].startswith("application/json"):
        detail = json.loads(response.text)["message"]
    else:
        detail = status_pb2.Status.FromString(response.content).message
    assert message in detail
    assert (
        sum(
            _value(gateway, "llmpulse_refused_requests_total", signal="traces", protocol="http", reason=r)
            for r in ("malformed", "unsupported_media_type")
        )
        == 1
    )
    ok = httpx.post(
        f"{endpoints(gateway.config)['http']}/v1/traces",
        content=_request(dict(LLM)).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert ok.status_code == 200


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    config = gateway_config(tmp_path, receivers={"http": {"max_request_body_size_mib": 1}})
    with running_gateway(config) as gw:
        bomb = gzip.compress(b"\0" * (8 * 1024 * 1024))
        response = httpx.post(
            f"{endpoints(gw.config)['http']}/v1/traces",
            content=bomb,
            headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
        )
        assert response.status_code == 400
        assert (
            "inflates past the limit of 1048576 bytes"
            in status_pb2.Status.FromString(response.content).message
        )


def test_oversized_request_is_refused(tmp_path: Path) -> None:
    config = gateway_config(
        tmp_path, receivers={"http": {"max_request_body_size_mib": 1}, "grpc": {"max_recv_msg_size_mib": 1}}
    )
    big = _request({"blob": "x" * (2 * 1024 * 1024)}).SerializeToString()
    with running_gateway(config) as gw:
        response = httpx.post(
            f"{endpoints(gw.config)['http']}/v1/traces",
            content=big,
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert response.status_code == 413
        with pytest.raises(grpc.RpcError) as info:
            _grpc(gw, big)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_invalid_span_ids_are_refused_as_partial_success(gateway: Gateway, capture: CaptureExporter) -> None:
    request = _request(dict(LLM), {"http.route": "/health"})
    request.resource_spans[0].scope_spans[0].spans[1].span_id = b"\x01\x02"
    response = ExportTraceServiceResponse.FromString(_grpc(gateway, request.SerializeToString()))
    assert response.partial_success.rejected_spans == 1
    assert "span_id 8 bytes" in response.partial_success.error_message
    assert _value(gateway, "llmpulse_refused_items_total", signal="traces", reason="invalid_record") == 1
    assert _value(gateway, "llmpulse_received_items_total", signal="traces", protocol="grpc") == 1
    assert len(capture.spans()) == 1


def test_bearer_token_auth_on_both_receivers(tmp_path: Path) -> None:
    config = gateway_config(tmp_path, receivers={"auth": {"bearer_tokens": ["s3cret"]}})
    body = _request(dict(LLM)).SerializeToString()
    with running_gateway(config) as gw:
        with pytest.raises(grpc.RpcError) as info:
            _grpc(gw, body)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError):
            _grpc(gw, body, (("authorization", "Bearer wrong"),))
        _grpc(gw, body, (("authorization", "Bearer s3cret"),))
        url = f"{endpoints(gw.config)['http']}/v1/traces"
        headers = {"Content-Type": "application/x-protobuf"}
        assert httpx.post(url, content=body, headers=headers).status_code == 401
        ok = httpx.post(url, content=body, headers={**headers, "Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert _value(gw, "llmpulse_calls_recognised_total", dialect="semconv") == 2
        assert (
            sum(
                _value(
                    gw,
                    "llmpulse_refused_requests_total",
                    signal="traces",
                    protocol=p,
                    reason="unauthenticated",
                )
                for p in ("grpc", "http")
            )
            == 3
        )


class _Full:
    name = "full"

    def admit(self, signal: str, size: int) -> None:
        raise Backpressure("forward queue to collector:4317 is full (64 MiB)", retry_after_s=2.5)

    def export(
        self, signal: str, request: object, encoded: bytes | None = None, exported: object = None
    ) -> None:
        raise AssertionError("a refused request must not be exported")


def test_backpressure_maps_to_otlp_retryable_responses(tmp_path: Path) -> None:
    config = gateway_config(tmp_path)
    body = _request(dict(LLM)).SerializeToString()
    with running_gateway(config, _Full()) as gw:  # type: ignore[arg-type]
        with pytest.raises(grpc.RpcError) as info:
            _grpc(gw, body)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # OTLP/gRPC throttling
        trailers = dict(info.value.trailing_metadata())
        status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        retry = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(retry)
        assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (2, 500_000_000)
        response = httpx.post(
            f"{endpoints(gw.config)['http']}/v1/traces",
            content=body,
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "3"
        assert status_pb2.Status.FromString(response.content).code == code_pb2.UNAVAILABLE
        # nothing was counted: the client's retry must not double count
        assert _value(gw, "llmpulse_calls_recognised_total", dialect="semconv") == 0


def test_non_llm_spans_pass_through_untouched(gateway: Gateway, capture: CaptureExporter) -> None:
    plain = {
        "_name": "GET /cart",
        "http.request.method": "GET",
        "http.route": "/cart",
        "http.response.status_code": 200,
    }
    request = _request(plain, dict(LLM))
    original = ExportTraceServiceRequest()
    original.CopyFrom(request)
    _grpc(gateway, request.SerializeToString())
    (exported,) = [r for s, r in capture.requests if s == "traces"]
    assert (
        exported.resource_spans[0].scope_spans[0].spans[0]
        == original.resource_spans[0].scope_spans[0].spans[0]
    )
    llm_attrs = {kv.key: kv.value for kv in exported.resource_spans[0].scope_spans[0].spans[1].attributes}
    assert llm_attrs["llmpulse.dialect"].string_value == "semconv"
    assert llm_attrs["llmpulse.cost.usd"].double_value == pytest.approx(100 * 0.15e-6 + 20 * 0.60e-6)


@pytest.mark.parametrize(
    "odd",
    [
        {"gen_ai.usage.input_tokens": "-", "gen_ai.usage.output_tokens": "NaN"},
        {"gen_ai.usage.input_tokens": -5, "gen_ai.usage.output_tokens": "1e308"},
        {"gen_ai.usage.input_tokens": "x" * 100_000, "gen_ai.request.model": "m" * 50_000},
        {"gen_ai.response.time_to_first_chunk": "inf", "gen_ai.request.stream": "maybe"},
        {"gen_ai.response.finish_reasons": "[[[[", "error.type": ""},
    ],
)
def test_odd_values_never_crash_and_are_not_counted_as_tokens(
    gateway: Gateway, odd: dict[str, object]
) -> None:
    _grpc(gateway, _request({**LLM, **odd}).SerializeToString())
    assert _value(gateway, "llmpulse_calls_recognised_total", dialect="semconv") == 1
    for family in gateway.registry.collect():
        for sample in family.samples:
            if sample.name.startswith("gen_ai_client_tokens"):
                assert 0 <= sample.value <= 10**10
    # the server is still up and answering
    _grpc(gateway, _request(dict(LLM)).SerializeToString())


def test_otlp_json_with_hex_ids_and_int_enums(gateway: Gateway) -> None:
    request = _request(dict(LLM))
    document = json.loads(request_to_json(request))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == "01" * 15 + "01"
    span["kind"] = 3  # enums may be integers in OTLP/JSON
    response = httpx.post(f"{endpoints(gateway.config)['http']}/v1/traces", json=document)
    assert response.status_code == 200
    assert response.json() == {}
    assert (
        _value(
            gateway,
            "gen_ai_client_tokens_total",
            gen_ai_operation_name="chat",
            gen_ai_provider_name="openai",
            gen_ai_request_model="gpt-4o-mini",
            service_name="shop",
            gen_ai_token_type="input",
        )
        == 100
    )


def _group(field: int, content: bytes = b"\x08\x01") -> bytes:
    """An unknown field encoded as a (deprecated, still valid) protobuf group."""
    return bytes([field << 3 | 3]) + content + bytes([field << 3 | 4])


def test_unknown_group_field_is_read_like_any_request(gateway: Gateway, capture: CaptureExporter) -> None:
    # upb accepts a group as an unknown field; the span scanner does not read groups, so the
    # pipeline drops the unknown fields and scans the re-encoded request instead of failing
    request = _request({"http.route": "/cart"}, dict(LLM), {"http.route": "/x"})
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[2].span_id = b"\x01"  # invalid, refused
    body = request.SerializeToString() + _group(15)
    reencoded = ExportTraceServiceRequest.FromString(body).SerializeToString()
    assert reencoded.endswith(_group(15))  # upb takes it and keeps it as an unknown field
    with pytest.raises(ValueError, match="group"):
        scan_spans(body, {}, lambda key: 0)
    response = ExportTraceServiceResponse.FromString(_grpc(gateway, body))
    assert response.partial_success.rejected_spans == 1
    assert _value(gateway, "llmpulse_calls_recognised_total", dialect="semconv") == 1
    assert _value(gateway, "llmpulse_received_items_total", signal="traces", protocol="grpc") == 2
    exported = capture.spans()
    assert [s.span_id for s in exported] == [spans[0].span_id, spans[1].span_id]
    assert {kv.key: kv.value.string_value for kv in exported[1].attributes}["llmpulse.dialect"] == "semconv"


def test_invalid_spans_in_several_scopes_are_refused_and_the_rest_processed(
    gateway: Gateway, capture: CaptureExporter
) -> None:
    request = _request({"http.route": "/a"}, dict(LLM), {"http.route": "/b"}, dict(LLM))
    first = request.resource_spans[0].scope_spans[0]
    second = request.resource_spans[0].scope_spans.add()
    second.scope.name = "other"
    second.spans.extend([first.spans[2], first.spans[3]])
    del first.spans[2:]
    first.spans[0].trace_id = b""  # invalid in the first scope, before the LLM span
    second.spans[0].span_id = b"\x00" * 9  # and in the second scope, before the other one
    response = ExportTraceServiceResponse.FromString(_grpc(gateway, request.SerializeToString()))
    assert response.partial_success.rejected_spans == 2
    assert _value(gateway, "llmpulse_calls_recognised_total", dialect="semconv") == 2
    assert [s.span_id for s in capture.spans()] == [first.spans[1].span_id, second.spans[1].span_id]
    for span in capture.spans():
        assert {kv.key for kv in span.attributes} >= {"llmpulse.dialect", "llmpulse.cost.usd"}


def test_a_request_with_nothing_to_change_is_exported_as_received(
    gateway: Gateway, capture: CaptureExporter
) -> None:
    plain = _request({"http.route": "/a"}, {"http.route": "/b", "db.system": "redis"})
    body = plain.SerializeToString()
    _grpc(gateway, body)
    llm = _request({"http.route": "/a"}, dict(LLM)).SerializeToString()
    _grpc(gateway, llm)
    bad = _request({"http.route": "/a"}, {"http.route": "/b"})
    bad.resource_spans[0].scope_spans[0].spans[1].span_id = b""
    _grpc(gateway, bad.SerializeToString())
    # no LLM, content or credential key: the exporters get the received bytes, not a re-encoding
    assert capture.encodings[0] == body
    assert capture.requests[0][1].SerializeToString() == body
    if not NATIVE:  # an LLM span (written back) or a refused span: encoded again by the exporter
        assert capture.encodings[1:] == [None, None]
        return
    # with the C module, the received bytes with the written-back span spliced in / the refused
    # span left out: what encoding the changed request gives
    assert capture.encodings[1] == capture.requests[1][1].SerializeToString() != llm
    assert "llmpulse.dialect" in {
        kv.key for kv in capture.requests[1][1].resource_spans[0].scope_spans[0].spans[1].attributes
    }
    del bad.resource_spans[0].scope_spans[0].spans[1]
    assert capture.encodings[2] == bad.SerializeToString()
