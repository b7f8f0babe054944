"""Forwarding over OTLP/HTTP (``protocol: http/protobuf``): each outcome the OTLP spec names, over
a real HTTP connection, and end to end through a real Rotel's OTLP/HTTP receiver."""

from __future__ import annotations

import email.utils
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmpulse.config import ForwardTargetConfig, validate
from llmpulse.forward import HttpPush
from llmpulse.forward._http_push import retry_after
from llmpulse.otlp import attrs_to_dict
from tests.forward.sink import HttpFailure, OTLPHttpSink, gateway_through_rotel
from tests.support.gateway import gateway_config, running_gateway
from tests.support.promstack import free_port

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def sink() -> Iterator[OTLPHttpSink]:
    started = OTLPHttpSink().start()
    yield started
    started.stop()


def _push(sink: OTLPHttpSink, **target: object) -> HttpPush:
    return HttpPush(ForwardTargetConfig(endpoint=sink.endpoint, protocol="http/protobuf", **target))


def _payload(fixtures_dir: Path) -> bytes:
    return (fixtures_dir / "openlit" / "chat.traces.pb").read_bytes()


def test_accepted_bytes_arrive_unchanged_over_one_keep_alive_connection(
    sink: OTLPHttpSink, fixtures_dir: Path
) -> None:
    payload = _payload(fixtures_dir)
    push = _push(sink, headers={"Authorization": "Bearer t0ken"})
    try:
        results = [push.push("traces", payload) for _ in range(3)]
    finally:
        push.close()
    assert [(r.ok, r.retryable, r.rejected) for r in results] == [(True, False, 0)] * 3
    assert [signal for signal, _ in sink.requests] == ["traces"] * 3
    assert all(request == ExportTraceServiceRequest.FromString(payload) for _, request in sink.requests)
    assert sink.connections == 1
    headers = sink.headers[0]
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["authorization"] == "Bearer t0ken"
    assert headers["user-agent"].startswith("llmpulse/")


def test_a_keep_alive_connection_closed_while_idle_is_replaced_without_a_failure(
    sink: OTLPHttpSink, fixtures_dir: Path
) -> None:
    sink.drop_idle = True
    push = _push(sink)
    try:
        results = [push.push("traces", _payload(fixtures_dir)) for _ in range(3)]
    finally:
        push.close()
    assert [(r.ok, r.message) for r in results] == [(True, "")] * 3
    assert (len(sink.requests), sink.attempts, sink.connections) == (3, 3, 3)


def test_gzip_is_sent_compressed_and_arrives_whole(sink: OTLPHttpSink, fixtures_dir: Path) -> None:
    payload = _payload(fixtures_dir)
    push = _push(sink, compression="gzip")
    result = push.push("traces", payload)
    push.close()
    assert result.ok
    assert sink.headers[0]["content-encoding"] == "gzip"
    assert int(sink.headers[0]["content-length"]) < len(payload)
    assert sink.requests[0][1] == ExportTraceServiceRequest.FromString(payload)


def test_partial_success_is_final_with_its_count(sink: OTLPHttpSink, fixtures_dir: Path) -> None:
    sink.fail = lambda signal: HttpFailure(rejected=2)
    push = _push(sink)
    result = push.push("traces", _payload(fixtures_dir))
    push.close()
    assert (result.ok, result.rejected, result.message) == (True, 2, "some refused")


@pytest.mark.parametrize(
    ("status", "header", "retryable", "delay"),
    [
        (503, "7", True, 7.0),
        (429, "2", True, 2.0),
        (502, None, True, None),
        (504, None, True, None),
        (400, None, False, None),
        (413, None, False, None),
        (500, None, False, None),  # not in the spec's retryable list
    ],
)
def test_status_codes_split_as_the_otlp_spec_says(
    sink: OTLPHttpSink,
    fixtures_dir: Path,
    status: int,
    header: str | None,
    retryable: bool,
    delay: float | None,
) -> None:
    sink.fail = lambda signal: HttpFailure(status=status, retry_after=header, message="queue is full")
    push = _push(sink)
    result = push.push("traces", _payload(fixtures_dir))
    push.close()
    assert (result.ok, result.retryable, result.retry_after_s) == (False, retryable, delay)
    assert result.message.startswith(f"HTTP {status} ") and result.message.endswith(": queue is full")
    assert sink.requests == []


def test_an_oversized_reply_is_not_read_and_its_connection_not_reused(
    sink: OTLPHttpSink, fixtures_dir: Path
) -> None:
    answers = iter([HttpFailure(status=400, message="x" * (5 << 20))])
    sink.fail = lambda signal: next(answers, None)
    push = _push(sink)
    refused, accepted = (push.push("traces", _payload(fixtures_dir)) for _ in range(2))
    push.close()
    assert (refused.ok, refused.retryable, refused.message) == (False, False, "HTTP 400 Bad Request")
    assert accepted.ok and sink.connections == 2


def test_retry_after_as_an_http_date() -> None:
    now = time.time()
    assert retry_after(email.utils.formatdate(now + 30, usegmt=True), now) == pytest.approx(30, abs=1)
    assert retry_after(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    assert retry_after("soon", now) is None
    assert retry_after(None, now) is None


def test_https_with_a_private_ca_and_an_untrusted_certificate_retried(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    cert, key = tmp_path / "sink.pem", tmp_path / "sink.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=sink",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(str(cert), str(key))
    sink = OTLPHttpSink().start(tls=server)
    try:
        trusted = _push(sink, insecure=False, ca_file=cert)
        untrusted = _push(sink, insecure=False)  # the system roots do not know the sink
        ok, refused = trusted.push("traces", _payload(fixtures_dir)), untrusted.push("traces", b"")
        trusted.close()
        untrusted.close()
    finally:
        sink.stop()
    assert (ok.ok, ok.rejected) == (True, 0)
    assert (refused.ok, refused.retryable) == (False, True)
    assert "CERTIFICATE_VERIFY_FAILED" in refused.message
    assert len(sink.requests) == 1  # nothing was sent to the untrusted one


def test_nothing_listening_is_retryable() -> None:
    push = HttpPush(ForwardTargetConfig(endpoint=f"127.0.0.1:{free_port()}", protocol="http/protobuf"))
    result = push.push("traces", b"")
    push.close()
    assert (result.ok, result.retryable) == (False, True)
    assert "ConnectionRefusedError" in result.message


def test_config_names_the_protocols() -> None:
    forward = {"targets": [{"endpoint": "c:4318", "protocol": "http/json"}]}
    with pytest.raises(Exception, match=r"forward\.targets\.0\.protocol"):
        validate({"forward": forward})
    assert validate({"forward": {"targets": [{"endpoint": "c:4317"}]}}).forward.targets[0].protocol == "grpc"


def test_gateway_retries_503_then_delivers_once(
    tmp_path: Path, sink: OTLPHttpSink, fixtures_dir: Path
) -> None:
    failures = iter([HttpFailure(status=503, retry_after="0"), HttpFailure(status=503)])
    sink.fail = lambda signal: next(failures, None)
    config = gateway_config(
        tmp_path / "data",
        forward={
            "targets": [{"endpoint": sink.endpoint, "name": "http", "protocol": "http/protobuf"}],
            "retry": {"initial_interval_s": 0.05, "max_interval_s": 0.2},
        },
    )
    with running_gateway(config) as gw:
        channel = grpc.insecure_channel(gw.config.receivers.grpc.endpoint)
        channel.unary_unary(TRACES)(_payload(fixtures_dir), timeout=10)
        channel.close()
        assert sink.wait_for(lambda: len(sink.requests) == 1)
        time.sleep(0.3)  # and no second copy
    assert sink.attempts == 3 and len(sink.requests) == 1
    ((_signal, request),) = sink.requests
    spans = [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
    calls = [attrs_to_dict(span.attributes) for span in spans if span.name.startswith("chat")]
    assert calls and all(attrs["llmpulse.dialect"] == "openlit" for attrs in calls)


def test_through_rotel_over_otlp_http(tmp_path: Path, fixtures_dir: Path) -> None:
    """llmpulse → Rotel's OTLP/HTTP receiver → Rotel's OTLP/gRPC exporter → the sink."""
    with gateway_through_rotel(tmp_path, "http/protobuf") as (gw, _rotel, traces, _logs):
        channel = grpc.insecure_channel(gw.config.receivers.grpc.endpoint)
        channel.unary_unary(TRACES)(_payload(fixtures_dir), timeout=10)
        channel.close()
        sent = ExportTraceServiceRequest.FromString(_payload(fixtures_dir))
        expected = sum(len(ss.spans) for rs in sent.resource_spans for ss in rs.scope_spans)

        def arrived() -> list[dict[str, object]]:
            return [
                attrs_to_dict(span.attributes)
                for _, request in list(traces.requests)
                for rs in request.resource_spans
                for ss in rs.scope_spans
                for span in ss.spans
            ]

        assert traces.wait_for(lambda: len(arrived()) == expected)
        calls = [attrs for attrs in arrived() if attrs.get("llmpulse.counted") is True]
        assert len(calls) == 1
        assert calls[0]["llmpulse.dialect"] == "openlit"
        assert isinstance(calls[0]["gen_ai.usage.input_tokens"], int)
