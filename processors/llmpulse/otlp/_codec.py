"""Decoding and encoding of OTLP export requests (protobuf and the OTLP/JSON encoding).

OTLP/JSON differs from protobuf's canonical JSON in one way that matters: trace and span ids are
hex strings, not base64 (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding). We
accept hex as the spec says and, leniently, base64 of the right length, which some SDKs emit.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Literal

from google.protobuf import json_format
from google.protobuf.message import DecodeError as _ProtoDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmpulse._zlib import zlib

Signal = Literal["traces", "logs", "metrics"]
SIGNALS: tuple[Signal, ...] = ("traces", "logs", "metrics")

_REQUEST_TYPES: dict[str, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "logs": ExportLogsServiceRequest,
    "metrics": ExportMetricsServiceRequest,
}

_ID_FIELDS = {
    "traceId": 16,
    "spanId": 8,
    "parentSpanId": 8,
    "trace_id": 16,
    "span_id": 8,
    "parent_span_id": 8,
}


class DecodeError(ValueError):
    """The request body is not a valid OTLP export request; the message says why.

    The message goes back to the client (gRPC status, HTTP body) and into logs, and parts of it
    quote the offending input, so it is cut to ``MAX_MESSAGE`` characters."""

    MAX_MESSAGE = 500

    def __init__(self, message: str) -> None:
        if len(message) > self.MAX_MESSAGE:
            message = f"{message[: self.MAX_MESSAGE]}… ({len(message) - self.MAX_MESSAGE} more characters)"
        super().__init__(message)


def new_request(signal: Signal) -> Any:
    return _REQUEST_TYPES[signal]()


def decode_protobuf(signal: Signal, data: bytes) -> Any:
    request = _REQUEST_TYPES[signal]()
    try:
        request.ParseFromString(data)
    except (_ProtoDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"body is not a valid protobuf {request.DESCRIPTOR.name}: {exc}") from exc
    return request


def _fix_id(value: Any, size: int, where: str) -> str:
    """Return the base64 form protobuf's JSON parser wants for an OTLP/JSON id."""
    if not isinstance(value, str):
        raise DecodeError(f"{where}: id must be a hex string, got {type(value).__name__}")
    if value == "":
        return ""
    if len(value) == size * 2:
        try:
            return base64.b64encode(bytes.fromhex(value)).decode()
        except ValueError:
            pass
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == size:
        return value
    raise DecodeError(f"{where}: {value!r} is not a {size}-byte id in hex")


def _fix_ids(node: Any, path: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            size = _ID_FIELDS.get(key)
            if size is not None:
                node[key] = _fix_id(value, size, f"{path}.{key}")
            elif isinstance(value, (dict, list)) and key not in ("attributes", "body", "value"):
                _fix_ids(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _fix_ids(item, f"{path}[{i}]")


def decode_json(signal: Signal, data: bytes) -> Any:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        # ValueError also covers bad UTF-8 and integers past Python's 4300-digit conversion limit
        raise DecodeError(f"body is not valid JSON: {exc or type(exc).__name__}") from exc
    if not isinstance(document, dict):
        raise DecodeError(f"body must be a JSON object, got {type(document).__name__}")
    try:
        _fix_ids(document, "$")
    except RecursionError as exc:
        raise DecodeError("body is not a valid OTLP/JSON request: it nests too deeply") from exc
    request = _REQUEST_TYPES[signal]()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise DecodeError(f"body is not a valid OTLP/JSON {request.DESCRIPTOR.name}: {exc}") from exc
    except (RecursionError, ValueError, TypeError) as exc:
        raise DecodeError(f"body is not a valid OTLP/JSON {request.DESCRIPTOR.name}: {exc}") from exc
    return request


def request_to_json(request: Message) -> bytes:
    """Encode ``request`` as OTLP/JSON (hex ids), e.g. for tests and the HTTP JSON response path."""
    document = json_format.MessageToDict(request)
    _ids_to_hex(document)
    return json.dumps(document).encode()


def _ids_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            elif isinstance(value, (dict, list)) and key not in ("attributes", "body", "value"):
                _ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_hex(item)


def gunzip(data: bytes, limit: int) -> bytes:
    """Inflate a gzip body, refusing to grow past ``limit`` bytes (a small body can inflate to GBs)."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(data, limit + 1)
    except zlib.error as exc:
        raise DecodeError(f"body is not valid gzip: {exc}") from exc
    if len(out) > limit or decompressor.unconsumed_tail:
        raise DecodeError(f"gzip body inflates past the limit of {limit} bytes")
    if not decompressor.eof:  # zlib hands back what it has: a cut body would pass as a short one
        raise DecodeError("gzip body is truncated: the stream ends before its end-of-stream marker")
    return out
