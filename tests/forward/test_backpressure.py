"""A full forward queue pushes back the way OTLP says (gRPC UNAVAILABLE + RetryInfo, HTTP 503 +
Retry-After), a refused request has no effect at all, and every accepted record arrives once the
target is back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import httpx
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from llmpulse.otlp import set_attributes
from tests.accesslogs import samples as s
from tests.forward.sink import Failure, OTLPSink
from tests.support.gateway import gateway_config, running_gateway

LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def access_logs(first: int, count: int) -> bytes:
    """``count`` ASM access-log records, each a call, numbered from ``first`` (about 9 kB each)."""
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    set_attributes(rl.resource.attributes, {"service.name": "checkout"})
    scope = rl.scope_logs.add()
    for seq in range(first, first + count):
        record = scope.log_records.add()
        record.body.string_value = json.dumps(s.asm(f"bp-{seq}", user_agent="x" * 8000))
        set_attributes(record.attributes, {"test.seq": seq})
    return bytes(request.SerializeToString())


def value(gw: Any, name: str, **labels: str) -> float:
    return gw.registry.get_sample_value(name, labels) or 0.0


def test_full_queue_pushes_back_and_loses_nothing_accepted(tmp_path: Path, sink: OTLPSink) -> None:
    sink.fail = lambda signal: Failure(grpc.StatusCode.UNAVAILABLE)  # the collector is down
    config = gateway_config(
        tmp_path / "data",
        forward={
            "targets": [{"endpoint": sink.endpoint, "name": "collector", "timeout_s": 2}],
            # one sender: the records arrive in the order they were accepted (asserted below)
            "queue": {"capacity_bytes": 64 * 1024, "retry_after_s": 2.5, "consumers": 1},
            "retry": {"initial_interval_s": 0.05, "max_interval_s": 0.2},
        },
    )
    with running_gateway(config) as gw:
        channel = grpc.insecure_channel(gw.config.receivers.grpc.endpoint)
        export = channel.unary_unary(LOGS)
        accepted: list[int] = []
        refused_grpc: grpc.RpcError | None = None
        seq = 0
        while refused_grpc is None and seq < 100:
            try:
                export(access_logs(seq, 2), timeout=10)
                accepted.extend((seq, seq + 1))
            except grpc.RpcError as exc:
                refused_grpc = exc
            seq += 2
        assert refused_grpc is not None, "the queue never filled"
        assert len(accepted) >= 6  # 64 kB hold a few 2-record requests
        assert refused_grpc.code() == grpc.StatusCode.UNAVAILABLE
        details = status_pb2.Status.FromString(
            dict(refused_grpc.trailing_metadata())["grpc-status-details-bin"]
        )
        retry = error_details_pb2.RetryInfo()
        assert details.details[0].Unpack(retry)
        assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (2, 500_000_000)
        assert "forward queue for target 'collector' is full" in refused_grpc.details()

        response = httpx.post(
            f"http://{gw.config.receivers.http.endpoint}/v1/logs",
            content=access_logs(1000, 2),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "3"
        assert "is full" in status_pb2.Status.FromString(response.content).message

        # a refused request had no effect: only accepted records were counted as calls
        assert value(gw, "llmpulse_calls_recognised_total", dialect="asm") == len(accepted)
        assert value(gw, "gen_ai_client_operation_duration_seconds_count",
                     gen_ai_operation_name="chat", gen_ai_provider_name="dashscope",
                     gen_ai_request_model="qwen-plus", service_name="checkout") == len(accepted)  # fmt: skip
        assert (
            value(gw, "llmpulse_refused_requests_total", signal="logs", protocol="grpc", reason="queue_full")
            == 1
        )
        assert (
            value(gw, "llmpulse_refused_requests_total", signal="logs", protocol="http", reason="queue_full")
            == 1
        )
        queued = value(gw, "llmpulse_forward_queue_bytes", target="collector")
        assert (
            queued > 0 and value(gw, "llmpulse_forward_queue_capacity_bytes", target="collector") == 64 * 1024
        )
        assert value(gw, "llmpulse_forward_items_failed_total", target="collector", signal="logs") > 0

        sink.fail = None  # the collector is back: the queue drains, in order, nothing lost
        assert sink.wait_for(lambda: len(sink.log_records()) >= len(accepted))
        received = [
            next(kv.value.int_value for kv in record.attributes if kv.key == "test.seq")
            for _resource, record in sink.log_records()
        ]
        assert received == accepted
        assert sink.wait_for(lambda: value(gw, "llmpulse_forward_queue_bytes", target="collector") == 0)
        assert value(gw, "llmpulse_forward_items_sent_total", target="collector", signal="logs") == len(
            accepted
        )
        assert (
            sum(
                value(
                    gw,
                    "llmpulse_forward_items_dropped_total",
                    target="collector",
                    signal="logs",
                    reason=reason,
                )
                for reason in ("permanent_error", "rejected_by_target", "retry_exhausted", "disk_error")
            )
            == 0
        )

        # and the client's retry of the refused request now goes through
        export(access_logs(2000, 2), timeout=10)
        assert sink.wait_for(lambda: len(sink.log_records()) == len(accepted) + 2)
        channel.close()
