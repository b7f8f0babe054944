"""What goes where: received metrics forwarded unchanged, per-target signals, config validation."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from llmpulse.config import ConfigError, validate
from tests.forward.sink import OTLPSink
from tests.support.gateway import gateway_config, running_gateway

SERVICE = "/opentelemetry.proto.collector.{}/Export"


def test_metrics_unchanged_and_each_target_gets_its_signals(tmp_path: Path, fixtures_dir: Path) -> None:
    everything, traces_only = OTLPSink().start(), OTLPSink().start()
    config = gateway_config(
        tmp_path / "data",
        forward={
            "targets": [
                {"endpoint": everything.endpoint, "name": "all"},
                {"endpoint": traces_only.endpoint, "name": "traces-only", "signals": ["traces"]},
            ],
            "retry": {"initial_interval_s": 0.05, "max_interval_s": 0.2},
        },
    )
    try:
        with running_gateway(config) as gw:
            channel = grpc.insecure_channel(gw.config.receivers.grpc.endpoint)
            metrics = (fixtures_dir / "openlit" / "chat.metrics.pb").read_bytes()
            channel.unary_unary(SERVICE.format("metrics.v1.MetricsService"))(metrics, timeout=10)
            spans = (fixtures_dir / "openlit" / "chat.traces.pb").read_bytes()
            channel.unary_unary(SERVICE.format("trace.v1.TraceService"))(spans, timeout=10)
            logs = (fixtures_dir / "openlit" / "chat.logs.pb").read_bytes()
            channel.unary_unary(SERVICE.format("logs.v1.LogsService"))(logs, timeout=10)
            channel.close()
            assert everything.wait_for(lambda: len(everything.requests) == 3)
            assert traces_only.wait_for(lambda: len(traces_only.requests) == 1)
            time.sleep(0.3)  # nothing else may arrive
            assert [signal for signal, _ in traces_only.requests] == ["traces"]
            (forwarded,) = [request for signal, request in everything.requests if signal == "metrics"]
            assert forwarded == ExportMetricsServiceRequest.FromString(metrics)
            assert {signal for signal, _ in everything.requests} == {"traces", "logs", "metrics"}
    finally:
        everything.stop()
        traces_only.stop()


@pytest.mark.parametrize(
    ("forward", "message"),
    [
        ({"targets": [{"endpoint": "collector"}]}, "`forward.targets.0.endpoint`: must be host:port"),
        ({"targets": [{"endpoint": "a:4317", "signals": ["spans"]}]}, "`forward.targets.0.signals.0`"),
        ({"targets": [{"endpoint": "a:4317"}, {"endpoint": "http://a:4317"}]}, "repeated: ['a:4317']"),
        ({"alert_classes": ["content_filter", "oops"]}, "unknown error classes ['oops']"),
        ({"queue": {"capacity_bytes": 10}}, "`forward.queue.capacity_bytes`"),
        ({"retry": {"initial_interval_s": 60, "max_interval_s": 5}}, "must not exceed `max_interval_s`"),
        ({"queue": {"size": 1}}, "`forward.queue.size`: unknown key"),
    ],
)
def test_forward_config_errors_name_the_key(forward: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate({"forward": forward})
    assert any(message in problem for problem in info.value.problems), info.value.problems


def test_forward_config_defaults() -> None:
    forward = validate({"forward": {"targets": [{"endpoint": "https://otel-gateway:4317"}]}}).forward
    (target,) = forward.targets
    assert (target.endpoint, target.name, target.signals) == ("otel-gateway:4317", "otel-gateway:4317",
                                                              ["traces", "logs", "metrics"])  # fmt: skip
    assert forward.alert_classes == ["content_filter", "quota_exceeded"]
    assert (forward.queue.capacity_bytes, forward.retry.max_elapsed_s) == (256 << 20, 0)
