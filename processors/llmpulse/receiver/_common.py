"""What both OTLP receivers share: auth, responses and the mapping of outcomes to status codes.

OTLP/gRPC and OTLP/HTTP signal the same conditions differently
(https://opentelemetry.io/docs/specs/otlp/#failures): malformed data is permanent
(INVALID_ARGUMENT / 400), a full exporter queue is back-pressure (UNAVAILABLE with RetryInfo /
503 with Retry-After, as OTLP throttling says), overload is retryable (RESOURCE_EXHAUSTED with
RetryInfo / 429), a missing token is UNAUTHENTICATED / 401.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from llmpulse.otlp import Signal
from llmpulse.pipeline import Outcome


class TokenCheck:
    """Constant-time bearer-token check; no tokens configured means no authentication."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self._tokens = [t.encode() for t in tokens]

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def allows(self, header: str | None) -> bool:
        if not self._tokens:
            return True
        if not header or header[:7].lower() != "bearer ":
            return False
        offered = header[7:].strip().encode()
        return any(hmac.compare_digest(offered, token) for token in self._tokens)


def export_response(signal: Signal, outcome: Outcome) -> Message:
    response: Any
    if signal == "traces":
        response = ExportTraceServiceResponse()
        if outcome.rejected:
            response.partial_success.rejected_spans = outcome.rejected
    elif signal == "logs":
        response = ExportLogsServiceResponse()
        if outcome.rejected:
            response.partial_success.rejected_log_records = outcome.rejected
    else:
        response = ExportMetricsServiceResponse()
        if outcome.rejected:
            response.partial_success.rejected_data_points = outcome.rejected
    if outcome.rejected:
        response.partial_success.error_message = outcome.message
    return response


def rpc_status(code: int, message: str, retry_after_s: float | None = None) -> status_pb2.Status:
    """A ``google.rpc.Status``; with ``retry_after_s`` it carries ``RetryInfo`` as OTLP asks."""
    status = status_pb2.Status(code=code, message=message)
    if retry_after_s is not None:
        seconds = int(retry_after_s)
        info = error_details_pb2.RetryInfo(
            retry_delay=Duration(seconds=seconds, nanos=int((retry_after_s - seconds) * 1e9))
        )
        status.details.add().Pack(info)
    return status


CODES = code_pb2
