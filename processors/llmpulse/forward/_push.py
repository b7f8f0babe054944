"""One OTLP/gRPC ``Export`` call to a forward target, classified as the OTLP spec says.

https://opentelemetry.io/docs/specs/otlp/#failures: CANCELLED, DEADLINE_EXCEEDED, ABORTED,
OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are retryable; RESOURCE_EXHAUSTED only when the server
sends ``RetryInfo`` (it can recover); every other code is permanent. A ``RetryInfo`` delay is the
server's throttle and is honoured. A ``partial_success`` reply is final: the rejected items are
not retried. The request is sent as the serialized bytes the queue holds (no re-encoding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from llmpulse.config import ForwardTargetConfig
from llmpulse.otlp import Signal

METHODS: dict[Signal, str] = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}
#: each signal's response message and its ``partial_success`` count of rejected items
RESPONSES: dict[Signal, Any] = {
    "traces": (ExportTraceServiceResponse, "rejected_spans"),
    "logs": (ExportLogsServiceResponse, "rejected_log_records"),
    "metrics": (ExportMetricsServiceResponse, "rejected_data_points"),
}
RETRYABLE = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


@dataclass(frozen=True, slots=True)
class PushResult:
    """How one attempt ended: accepted (maybe partly), retry later, or refused for good."""

    ok: bool
    retryable: bool = False
    #: the server's ``RetryInfo`` delay, when it sent one
    retry_after_s: float | None = None
    #: items the target rejected in a ``partial_success`` reply
    rejected: int = 0
    message: str = ""


def retry_delay(error: grpc.RpcError) -> float | None:
    """The ``RetryInfo`` delay in a gRPC error's ``grpc-status-details-bin`` trailer."""
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailers or ():
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        status = status_pb2.Status()
        try:
            status.ParseFromString(value)
        except DecodeError:
            return None
        for detail in status.details:
            info = error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                return float(info.retry_delay.seconds + info.retry_delay.nanos / 1e9)
    return None


def classify(error: grpc.RpcError) -> PushResult:
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    delay = retry_delay(error)
    retryable = code in RETRYABLE or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and delay is not None)
    details = error.details() if hasattr(error, "details") else ""
    return PushResult(False, retryable, delay, message=f"{code.name}: {details}")


class GrpcPush:
    """Sends serialized export requests to one target over a long-lived channel."""

    def __init__(
        self, target: ForwardTargetConfig, reconnect_backoff_s: tuple[float, float] = (1.0, 30.0)
    ) -> None:
        self._target = target
        # gRPC's own reconnect backoff grows to 120 s by default: after a collector outage the
        # channel would refuse calls long after the collector is back. Keep it within our retry.
        initial_ms, max_ms = (max(1, int(v * 1000)) for v in reconnect_backoff_s)
        options = [
            ("grpc.max_send_message_length", -1),
            ("grpc.max_receive_message_length", 4 << 20),
            ("grpc.initial_reconnect_backoff_ms", initial_ms),
            ("grpc.min_reconnect_backoff_ms", initial_ms),
            ("grpc.max_reconnect_backoff_ms", max_ms),
        ]
        if target.insecure:
            self._channel = grpc.insecure_channel(target.endpoint, options=options)
        else:
            root = target.ca_file.read_bytes() if target.ca_file is not None else None
            credentials = grpc.ssl_channel_credentials(root_certificates=root)
            self._channel = grpc.secure_channel(target.endpoint, credentials, options=options)
        self._calls = {
            signal: self._channel.unary_unary(method, request_serializer=None, response_deserializer=None)
            for signal, method in METHODS.items()
        }
        self._metadata = tuple((k.lower(), v) for k, v in target.headers.items())
        self._compression = (
            grpc.Compression.Gzip if target.compression == "gzip" else grpc.Compression.NoCompression
        )

    def push(self, signal: Signal, payload: bytes) -> PushResult:
        try:
            reply = self._calls[signal](
                payload,
                timeout=self._target.timeout_s,
                metadata=self._metadata or None,
                compression=self._compression,
            )
        except grpc.RpcError as error:
            return classify(error)
        response_type, field = RESPONSES[signal]
        response = response_type()
        try:
            response.ParseFromString(reply or b"")
        except DecodeError:
            return PushResult(True, message="unreadable response (accepted)")
        rejected = int(getattr(response.partial_success, field))
        return PushResult(True, rejected=rejected, message=response.partial_success.error_message)

    def close(self) -> None:
        self._channel.close()
