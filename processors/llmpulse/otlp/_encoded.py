"""Trace requests kept as their bytes, decoded by upb only where something asks for a message.

The receivers hand the pipeline a trace request as ``EncodedTraces``: the body, checked by
``check_traces`` (C) to be what upb would decode, and its layout (each resource's place, each
scope's name and span count). The pipeline reads spans from the bytes already; a full decode
was 7 % of the server's CPU for the few messages it still touched. What it touches now (a
resource, an LLM span to redact through upb) is an ``Encoded`` message, decoded on first use.
Anything else (an exporter without the encoding, a test) reads the request as a message:
attribute access decodes the whole request once.

Without the C module, or for a body ``check_traces`` does not vouch for (a group, a string that is
not UTF-8, a field of an unexpected wire type), ``decode_request`` is upb's decode, its error
included.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span

from llmpulse.otlp._codec import Signal, decode_protobuf
from llmpulse.otlp.scan import NATIVE

#: the shape check_traces reads: (resource start, stop, ((scope name, spans, start, stop), ...))
Layout = list[tuple[int, int, list[tuple[str, int, int, int]]]]

_ROW = 32  # field numbers below it have a byte in a schema row (_scan.c SCHEMA_FIELDS)
_KINDS = {
    FieldDescriptor.TYPE_STRING: 4,
    FieldDescriptor.TYPE_BYTES: 5,
    FieldDescriptor.TYPE_FIXED64: 2,
    FieldDescriptor.TYPE_SFIXED64: 2,
    FieldDescriptor.TYPE_DOUBLE: 2,
    FieldDescriptor.TYPE_FIXED32: 3,
    FieldDescriptor.TYPE_SFIXED32: 3,
    FieldDescriptor.TYPE_FLOAT: 3,
    **dict.fromkeys(
        (
            FieldDescriptor.TYPE_INT32,
            FieldDescriptor.TYPE_INT64,
            FieldDescriptor.TYPE_UINT32,
            FieldDescriptor.TYPE_UINT64,
            FieldDescriptor.TYPE_SINT32,
            FieldDescriptor.TYPE_SINT64,
            FieldDescriptor.TYPE_BOOL,
            FieldDescriptor.TYPE_ENUM,
        ),
        1,
    ),
}


def schema_of(root: Descriptor) -> bytes:
    """``check_traces``'s table of ``root`` and every message type under it, from the
    descriptors of the installed classes: a field the installed protobuf knows is checked the way
    upb decodes it. ValueError for what the table cannot say (a field number of 32 or more, a
    repeated scalar, which upb also takes packed, a group, more than 247 types); the caller then
    leaves decoding to upb."""
    order: list[Descriptor] = [root]
    index = {root.full_name: 0}
    rows: list[bytearray] = []
    while len(rows) < len(order):
        message = order[len(rows)]
        row = bytearray(_ROW)
        for field in message.fields:
            if field.number >= _ROW:
                raise ValueError(f"{message.full_name}.{field.name}: field number {field.number} >= {_ROW}")
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                sub = field.message_type
                if sub.full_name not in index:
                    index[sub.full_name] = len(order)
                    order.append(sub)
                row[field.number] = 8 + index[sub.full_name]
            else:
                kind = _KINDS.get(field.type)
                if kind is None or (kind < 4 and _repeated(field)):
                    raise ValueError(f"{message.full_name}.{field.name}: a field the check does not read")
                row[field.number] = kind
        rows.append(row)
    if len(order) > 255 - 8:
        raise ValueError(f"{len(order)} message types: more than a schema byte can name")
    return b"".join(rows)


def _repeated(field: FieldDescriptor) -> bool:
    repeated = getattr(field, "is_repeated", None)  # protobuf >= 6; ``label`` before (gone in 7)
    return bool(repeated) if repeated is not None else field.label == FieldDescriptor.LABEL_REPEATED


class Encoded:
    """A protobuf message as its bytes: ``SerializeToString`` gives them back as they are until
    something reads the message, which decodes it (once) and from then on is the message."""

    __slots__ = ("_data", "_message", "_type")

    def __init__(self, message_type: Any, data: bytes) -> None:
        self._type = message_type
        self._data = data
        self._message: Any = None

    @property
    def message_type(self) -> Any:
        return self._type

    @property
    def message(self) -> Any:
        if self._message is None:
            self._message = self._type.FromString(self._data)
        return self._message

    def SerializeToString(self) -> bytes:
        return self._data if self._message is None else bytes(self._message.SerializeToString())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.message, name)


class EncodedScope:
    """The spans of one ScopeSpans of an ``EncodedTraces``, at ``body[start:stop]``."""

    __slots__ = ("_body", "_spans", "_start", "_stop")

    def __init__(self, body: bytes, start: int, stop: int) -> None:
        self._body, self._start, self._stop = body, start, stop
        self._spans: Any = None

    def span(self, k: int, located: bytes | None) -> Any:
        """Span ``k``: from ``located``, its bytes as the scan found them, when it has them; else
        from upb's decode of the whole ScopeSpans (once), which a dialect's own scope needs."""
        if located is not None:
            return Encoded(Span, located)
        if self._spans is None:
            self._spans = ScopeSpans.FromString(self._body[self._start : self._stop]).spans
        return self._spans[k]


class EncodedTraces(Encoded):
    """An ExportTraceServiceRequest ``check_traces`` vouched for, with its layout. The pipeline
    reads it by ``groups``; its resources are ``Encoded`` messages, one per ResourceSpans, so
    what the pipeline adds to one (Kubernetes metadata) is there for the exporters to read."""

    __slots__ = ("_resources", "body", "layout")

    def __init__(self, body: bytes, layout: Layout) -> None:
        super().__init__(ExportTraceServiceRequest, body)
        self.body = body
        self.layout = layout
        self._resources: list[Encoded] | None = None

    def resource(self, i: int) -> Encoded:
        if self._resources is None:
            body = self.body
            self._resources = [Encoded(Resource, body[a:b] if a >= 0 else b"") for a, b, _ in self.layout]
        return self._resources[i]

    def groups(self) -> list[tuple[Encoded, list[tuple[str, int, EncodedScope]]]]:
        """Per ResourceSpans its resource, and per ScopeSpans its scope's name, number of spans
        and spans."""
        body = self.body
        return [
            (self.resource(i), [(name, n, EncodedScope(body, a, b)) for name, n, a, b in scopes])
            for i, (_, _, scopes) in enumerate(self.layout)
        ]


def resource_of(request: Any, i: int) -> Any:
    """The resource of ``request.resource_spans[i]``, without decoding an ``EncodedTraces``."""
    if type(request) is EncodedTraces:
        return request.resource(i)
    return request.resource_spans[i].resource


_SCHEMA: bytes | None = None
if NATIVE:
    from llmpulse.otlp._scan import check_traces

    try:
        _SCHEMA = schema_of(ExportTraceServiceRequest.DESCRIPTOR)
    except ValueError:  # a protobuf release whose request the table cannot describe: upb decodes
        _SCHEMA = None


def decode_request(signal: Signal, data: bytes) -> Any:
    """The request in ``data``: for traces, with the C module, an ``EncodedTraces`` when
    ``check_traces`` vouches for it; otherwise upb's decode (``DecodeError`` if it refuses)."""
    if signal == "traces" and _SCHEMA is not None and type(data) is bytes:
        try:
            return EncodedTraces(data, check_traces(data, _SCHEMA))
        except ValueError:
            pass  # upb decides, and says why if it refuses too
    return decode_protobuf(signal, data)
