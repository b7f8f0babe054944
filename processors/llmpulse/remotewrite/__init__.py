"""Prometheus remote write 1.0 that loses nothing: durable per-target queues, retries by the
spec, stale markers, and timestamps that never go back (see README.md in this folder)."""

from llmpulse.remotewrite._encode import Encoded, Encoder, encode_labels, restamp, split_records
from llmpulse.remotewrite._exporter import RemoteWriteExporter, TargetWriter, self_metric_families
from llmpulse.remotewrite._proto import STALE_NAN, WriteRequest, is_stale_nan, parse_write_request
from llmpulse.remotewrite._queue import DiskQueue, Segment
from llmpulse.remotewrite._sender import (
    PROTOCOL_HEADERS,
    USER_AGENT,
    AiohttpTransport,
    Backoff,
    Response,
    Transport,
    TransportError,
    compress,
)

__all__ = [
    "PROTOCOL_HEADERS",
    "STALE_NAN",
    "USER_AGENT",
    "AiohttpTransport",
    "Backoff",
    "DiskQueue",
    "Encoded",
    "Encoder",
    "RemoteWriteExporter",
    "Response",
    "Segment",
    "TargetWriter",
    "Transport",
    "TransportError",
    "WriteRequest",
    "compress",
    "encode_labels",
    "is_stale_nan",
    "parse_write_request",
    "restamp",
    "self_metric_families",
    "split_records",
]
