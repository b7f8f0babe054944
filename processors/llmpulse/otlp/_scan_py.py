"""The native scanner's twin in Python (``_scan.c``): the same walk over the protobuf bytes of an
``ExportTraceServiceRequest``, the same results and the same ``ValueError`` messages, used when
the C extension is not built. Keep the two in step: tests/otlp/test_scan.py compares them on
generated, mutated and random input.

Only request → ResourceSpans (1) → ScopeSpans (2) → Span (2) → KeyValue (9) is entered; every
other field is skipped by its wire type. Protobuf rules hold: any field order, the last
occurrence of a singular field wins, a known number with the wrong wire type is unknown.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from google.protobuf.message import DecodeError
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llmpulse.otlp._anyvalue import same_without_call, to_py

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

#: what ``read_span`` reads of a span besides its attributes (``_scan.pyi`` too): trace_id,
#: span_id, parent_span_id, name, start, end, status code, status message, ((event name, event
#: time), ...), the flags of every event attribute's key ORed, ((event index, key, text), ...) of
#: the ``EXCEPTION_TEXT_KEYS`` event attributes
SpanHead = tuple[
    bytes,
    bytes,
    bytes,
    str,
    int,
    int,
    int,
    str,
    tuple[tuple[str, int], ...],
    int,
    tuple[tuple[int, str, str], ...],
]
#: the event attributes whose string values a head carries (its last item): error evidence reads
#: them from the head, not from a decode of the span
EXCEPTION_TEXT_KEYS = ("exception.type", "exception.message")

#: an index entry (``locate_spans``): the trace_id, then the offsets of the span_id and the
#: parent_span_id in the body and the parent's length (absent or empty: 0, 0)
_INDEX_ENTRY: Final = struct.Struct("<16sqqq")
_MASK64: Final = (1 << 64) - 1
_FLAGS_LIMIT: Final = 1 << 63
_MISSING: Final = object()

Flagged = list[tuple[int, int, int, int]]
Invalid = list[tuple[int, int, int]]


def _varint(data: bytes, pos: int, end: int, message: str) -> tuple[int, int]:
    """(value, position after it); bits past 64 are dropped, as protobuf does."""
    start, value, i = pos, 0, 0
    while True:
        if i == 10:
            raise ValueError(f"varint longer than 10 bytes at byte {start} (in {message})")
        if pos >= end:
            raise ValueError(f"truncated varint at byte {start} (in {message})")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return value & _MASK64, pos
        i += 1


def _field(data: bytes, pos: int, end: int, message: str) -> tuple[int, int, int, int]:
    """(number, wire type, start, stop) of the field at ``pos``; the next field is at ``stop``
    (for wire type 2, ``data[start:stop]`` is the payload; otherwise start == stop)."""
    tag_at = pos
    tag = data[pos]
    if tag < 0x80:
        pos += 1
    else:
        tag, pos = _varint(data, pos, end, message)
    number, wire = tag >> 3, tag & 7
    if number == 0:
        raise ValueError(f"field number 0 at byte {tag_at} (in {message})")
    if wire == 2:
        if pos < end and data[pos] < 0x80:
            length = data[pos]
            pos += 1
        else:
            length, pos = _varint(data, pos, end, message)
        if length > end - pos:
            raise ValueError(
                f"field {number} at byte {tag_at}: length {length} runs past the end of its "
                f"{message} (byte {end})"
            )
        return number, 2, pos, pos + length
    if wire == 0:
        pos = _varint(data, pos, end, message)[1]
    elif wire in (1, 5):
        size = 8 if wire == 1 else 4
        if end - pos < size:
            raise ValueError(f"truncated fixed{size * 8} field {number} at byte {tag_at} (in {message})")
        pos += size
    elif wire in (3, 4):
        raise ValueError(
            f"field {number} at byte {tag_at}: wire type {wire} (group) is not supported (in {message})"
        )
    else:
        raise ValueError(f"field {number} at byte {tag_at}: invalid wire type {wire} (in {message})")
    return number, wire, pos, pos


def _as_flags(value: object, key: bytes, source: str) -> int:
    if not isinstance(value, int):
        raise TypeError(f"{source} for key {key!r} must be an int, not {type(value).__name__}")
    if not 0 <= value < _FLAGS_LIMIT:
        raise ValueError(f"{source} for key {key!r} must be in 0..2**63-1, got {value!r}")
    return int(value)


@contextmanager
def _exported(body: ReadableBuffer) -> Iterator[bytes]:
    """The bytes of a bytes-like object, refused as C's ``y*`` refuses them, and held exported for
    the call as C holds its buffer: a bytearray cannot be resized (by ``classify``) meanwhile."""
    if isinstance(body, str):
        raise TypeError(f"a bytes-like object is required, not '{type(body).__name__}'")
    with memoryview(body) as view:
        if not view.c_contiguous:
            raise BufferError("memoryview: underlying buffer is not C-contiguous")
        yield body if isinstance(body, bytes) else view.tobytes()


class _Walk:
    """One call's state: what ``_scan.c``'s ``Walk`` holds."""

    __slots__ = (
        "classify",
        "data",
        "flagged",
        "index",
        "invalid",
        "key_flags",
        "parents",
        "ranges",
        "seen",
        "traces",
    )

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.ranges = False
        self.key_flags: dict[bytes, int] = {}
        self.classify: Callable[[bytes], int] | None = None
        self.seen: dict[bytes, int] = {}  # each distinct key resolved once per call
        self.flagged: Flagged = []
        self.invalid: Invalid = []
        self.traces: set[bytes] | frozenset[bytes] | None = None
        self.parents: dict[tuple[bytes, bytes], bytes] = {}
        #: each valid span's ``_INDEX_ENTRY``, when an index is asked for
        self.index: list[bytes] | None = None

    def request(self) -> None:
        data, pos, end, i = self.data, 0, len(self.data), 0
        while pos < end:
            number, wire, start, pos = _field(data, pos, end, "ExportTraceServiceRequest")
            if number == 1 and wire == 2:
                self.resource_spans(start, pos, i)
                i += 1

    def resource_spans(self, pos: int, end: int, i: int) -> None:
        data, j = self.data, 0
        while pos < end:
            number, wire, start, pos = _field(data, pos, end, "ResourceSpans")
            if number == 2 and wire == 2:
                self.scope_spans(start, pos, i, j)
                j += 1

    def scope_spans(self, pos: int, end: int, i: int, j: int) -> None:
        data, k = self.data, 0
        while pos < end:
            number, wire, start, pos = _field(data, pos, end, "ScopeSpans")
            if number == 2 and wire == 2:
                self.span(start, pos, i, j, k)
                k += 1

    def span(self, pos: int, end: int, i: int, j: int, k: int) -> None:
        first = pos
        data, with_keys = self.data, self.traces is None
        trace = span = parent = (0, 0)
        flags = 0
        while pos < end:
            number, wire, start, pos = _field(data, pos, end, "Span")
            if wire != 2:
                continue
            if number == 1:
                trace = (start, pos)
            elif number == 2:
                span = (start, pos)
            elif number == 4:
                parent = (start, pos)
            elif number == 9 and with_keys:
                flags |= self.key_value(start, pos)
        if trace[1] - trace[0] != 16 or span[1] - span[0] != 8:
            if with_keys:
                self.invalid.append((i, j, k))
        elif not with_keys:
            self.record_parent(data[trace[0] : trace[1]], span[0], parent[0], parent[1] - parent[0])
        elif flags and self.ranges:
            self.flagged.append((i, j, k, flags, first, end))  # type: ignore[arg-type]  # locate_spans
        elif flags:
            self.flagged.append((i, j, k, flags))
        if with_keys and self.index is not None and trace[1] - trace[0] == 16 and span[1] - span[0] == 8:
            parent_len = parent[1] - parent[0]
            self.index.append(
                _INDEX_ENTRY.pack(
                    data[trace[0] : trace[1]], span[0], parent[0] if parent_len else 0, parent_len
                )
            )

    def record_parent(self, trace_id: bytes, span: int, parent: int, parent_len: int) -> None:
        data = self.data
        assert self.traces is not None
        if trace_id in self.traces:
            self.parents[(trace_id, data[span : span + 8])] = data[parent : parent + parent_len]

    def key_value(self, pos: int, end: int) -> int:
        data, key = self.data, (0, 0)  # an absent key is the empty string
        while pos < end:
            number, wire, start, pos = _field(data, pos, end, "KeyValue")
            if number == 1 and wire == 2:
                key = (start, pos)
        name = data[key[0] : key[1]]
        flags = self.seen.get(name)
        if flags is None:
            value: object = self.key_flags.get(name, _MISSING)
            if value is _MISSING:
                assert self.classify is not None
                value = self.classify(name)
                flags = _as_flags(value, name, "classify() result")
                self.key_flags[name] = value  # type: ignore[assignment]  # an int: _as_flags checked
            else:
                flags = _as_flags(value, name, "key_flags value")
            self.seen[name] = flags
        return flags


def _scan(
    name: str,
    body: ReadableBuffer,
    key_flags: dict[bytes, int],
    classify: Callable[[bytes], int],
    ranges: bool,
    index: bytearray | None = None,
) -> _Walk:
    """``scan_spans`` / ``locate_spans`` (``_scan.c``'s ``scan_common``): the walk, done."""
    with _exported(body) as data:
        if not isinstance(key_flags, dict):
            raise TypeError(f"{name}() argument 2 must be dict, not {type(key_flags).__name__}")
        if not callable(classify):
            raise TypeError(f"classify must be callable, not {type(classify).__name__}")
        if index is not None and type(index) is not bytearray:
            raise TypeError(f"index must be a bytearray or None, not {type(index).__name__}")
        walk = _Walk(data)
        walk.key_flags, walk.classify, walk.ranges = key_flags, classify, ranges
        walk.index = None if index is None else []
        walk.request()
        if index is not None and walk.index is not None:
            index[:] = b"".join(walk.index)
    return walk


def scan_spans(
    body: ReadableBuffer, key_flags: dict[bytes, int], classify: Callable[[bytes], int], /
) -> tuple[Flagged, Invalid]:
    """``(flagged, invalid)``: ``[(i, j, k, flags)]`` for spans with valid ids whose attribute
    keys OR to non-zero flags, ``[(i, j, k)]`` for spans whose trace_id is not 16 bytes or
    span_id not 8. A key missing from ``key_flags`` is classified and stored there; each distinct
    key (of every span, invalid ones too) is resolved once per call. Flags: ints in 0..2**63-1."""
    walk = _scan("scan_spans", body, key_flags, classify, False)
    return walk.flagged, walk.invalid


def locate_spans(
    body: ReadableBuffer,
    key_flags: dict[bytes, int],
    classify: Callable[[bytes], int],
    index: bytearray | None = None,
    /,
) -> tuple[list[tuple[int, int, int, int, int, int]], Invalid]:
    """``scan_spans`` with each flagged span's place: ``[(i, j, k, flags, start, stop)]``,
    ``body[start:stop]`` being the span's encoding (without its tag and length). ``index`` is
    set to where each span with valid ids has its ids in ``body`` (``parents``)."""
    walk = _scan("locate_spans", body, key_flags, classify, True, index)
    return walk.flagged, walk.invalid  # type: ignore[return-value]  # 6-tuples: ranges is set


def _length_delimited(tag: int, payload: bytes) -> bytes:
    size, head = len(payload), bytearray((tag,))
    while size >= 0x80:
        head.append((size & 0x7F) | 0x80)
        size >>= 7
    head.append(size)
    return bytes(head) + payload


def _edits(items: list[Any], spans: bool) -> list[tuple[tuple[int, ...], bytes | None]]:
    what = "spans" if spans else "resources"
    out: list[tuple[tuple[int, ...], bytes | None]] = []
    for x, item in enumerate(items):
        size = 4 if spans else 2
        if not isinstance(item, tuple) or len(item) != size or not all(isinstance(n, int) for n in item[:-1]):
            shape = "(i, j, k, bytes | None)" if spans else "(i, bytes)"
            raise TypeError(f"splice {what}[{x}] must be {shape}")
        where, data = tuple(item[:-1]), item[-1]
        if not (isinstance(data, bytes) or (spans and data is None)):
            kind = " or None" if spans else ""
            raise TypeError(
                f"splice {what}[{x}]: the new encoding must be bytes{kind}, not {type(data).__name__}"
            )
        if min(where) < 0:
            raise ValueError(f"splice {what}[{x}]: negative index")
        if out and not out[-1][0] < where:
            raise ValueError(f"splice {what} must be strictly ascending (at {x})")
        out.append((where, data))
    return out


class _Splice:
    """One ``splice`` call: edits are taken in order with a cursor, as ``_scan.c`` takes them."""

    __slots__ = ("data", "next_resource", "next_span", "resources", "spans")

    def __init__(
        self, data: bytes, spans: list[tuple[tuple[int, ...], bytes | None]], resources: list[Any]
    ) -> None:
        self.data = data
        self.spans = spans
        self.resources = resources
        self.next_span = self.next_resource = 0

    def span_at(self, *where: int) -> bool:
        """Whether the next span edit starts with ``where`` (an (i,), (i, j) or (i, j, k) prefix)."""
        return self.next_span < len(self.spans) and self.spans[self.next_span][0][: len(where)] == where

    def request(self) -> bytes:
        data, out = self.data, bytearray()
        pos, end, i = 0, len(self.data), 0
        while pos < end:
            tag_at = pos
            number, wire, start, pos = _field(data, pos, end, "ExportTraceServiceRequest")
            if number == 1 and wire == 2:
                resource = (
                    self.next_resource < len(self.resources) and self.resources[self.next_resource][0][0] == i
                )
                if self.span_at(i) or resource:
                    out += _length_delimited(0x0A, self.resource_spans(start, pos, i))
                    i += 1
                    continue
                i += 1
            out += data[tag_at:pos]
        if self.next_span < len(self.spans):
            raise ValueError(
                "splice: span ({}, {}, {}) is not in the request".format(*self.spans[self.next_span][0])
            )
        if self.next_resource < len(self.resources):
            raise ValueError(
                f"splice: resource_spans {self.resources[self.next_resource][0][0]} is not in the request"
            )
        return bytes(out)

    def resource_spans(self, pos: int, end: int, i: int) -> bytes:
        data, out, j = self.data, bytearray(), 0
        resource: bytes | None = None
        if self.next_resource < len(self.resources) and self.resources[self.next_resource][0][0] == i:
            resource = self.resources[self.next_resource][1]
            self.next_resource += 1
        written = False
        while pos < end:
            tag_at = pos
            number, wire, start, pos = _field(data, pos, end, "ResourceSpans")
            if number == 1 and wire == 2 and resource is not None:
                if not written:  # a resource given twice is merged by protobuf: the new one replaces both
                    out += _length_delimited(0x0A, resource)
                written = True
                continue
            if number == 2 and wire == 2:
                if self.span_at(i, j):
                    out += _length_delimited(0x12, self.scope(start, pos, i, j))
                    j += 1
                    continue
                j += 1
            out += data[tag_at:pos]
        if resource is not None and not written:  # the resource was absent (empty)
            out += _length_delimited(0x0A, resource)
        return bytes(out)

    def scope(self, pos: int, end: int, i: int, j: int) -> bytes:
        data, out, k = self.data, bytearray(), 0
        while pos < end:
            tag_at = pos
            number, wire, _, pos = _field(data, pos, end, "ScopeSpans")
            if number == 2 and wire == 2:
                if self.span_at(i, j, k):
                    new = self.spans[self.next_span][1]
                    self.next_span += 1
                    if new is not None:
                        out += _length_delimited(0x12, new)
                    k += 1
                    continue
                k += 1
            out += data[tag_at:pos]
        return bytes(out)


def splice(body: ReadableBuffer, spans: list[Any], resources: list[Any], /) -> bytes:
    """The encoded request with ``spans[(i, j, k)]`` replaced by the given encoding (``None``
    drops the span) and ``resource_spans[i]``'s resource by ``resources``' encoding; both lists
    ascending. Every other byte is kept."""
    with _exported(body) as data:
        if not isinstance(spans, list) or not isinstance(resources, list):
            raise TypeError("splice() arguments 2 and 3 must be lists")
        return _Splice(data, _edits(spans, True), _edits(resources, False)).request()


def find_any(data: ReadableBuffer, needles: tuple[bytes, ...], /) -> bool:
    """Whether any of ``needles`` occurs in ``data``."""
    with _exported(data) as haystack:
        if not isinstance(needles, tuple):
            raise TypeError(f"find_any() argument 2 must be tuple, not {type(needles).__name__}")
        for needle in needles:
            if not isinstance(needle, bytes):
                raise TypeError(f"find_any needles must be bytes, not {type(needle).__name__}")
        return any(needle in haystack for needle in needles)


def parents(
    body: ReadableBuffer, traces: set[bytes] | frozenset[bytes], index: ReadableBuffer | None = None, /
) -> dict[tuple[bytes, bytes], bytes]:
    """``{(trace_id, span_id): parent_span_id}`` of every span with valid ids in ``traces``;
    with ``locate_spans``' ``index`` of ``body``, read from it instead of walking ``body``."""
    with _exported(body) as data:
        if not isinstance(traces, (set, frozenset)):
            raise TypeError(f"traces must be a set or frozenset, not {type(traces).__name__}")
        walk = _Walk(data)
        walk.traces = traces
        if index is None:
            walk.request()
            return walk.parents
        with _exported(index) as entries:
            size = _INDEX_ENTRY.size
            if len(entries) % size:
                raise ValueError(f"parents: an index is {size}-byte entries, not {len(entries)} bytes")
            for x, (trace_id, span, parent, parent_len) in enumerate(_INDEX_ENTRY.iter_unpack(entries)):
                if not (
                    0 <= span <= len(data) - 8
                    and 0 <= parent <= len(data)
                    and 0 <= parent_len <= len(data) - parent
                ):
                    raise ValueError(f"parents: index entry {x} is not in the body")
                walk.record_parent(trace_id, span, parent, parent_len)
    return walk.parents


def read_attributes(
    span: ReadableBuffer, key_flags: dict[str, int], classify: Callable[[str], int], unread: int = 0, /
) -> tuple[dict[str, Any], bytes]:
    """``_scan.read_attributes`` through upb (the fallback needs no speed of its own here: the
    pipeline without the C module reads the decoded span directly). The C reader refuses merged
    duplicate message fields, which upb's own encoding of a span never has."""
    return _attributes(_decoded(span), key_flags, classify, unread)


def read_span(
    span: ReadableBuffer, key_flags: dict[str, int], classify: Callable[[str], int], unread: int = 0, /
) -> tuple[dict[str, Any], bytes, SpanHead]:
    """``_scan.read_span`` through upb: ``read_attributes`` and the span's own fields."""
    decoded = _decoded(span)
    attrs, flags = _attributes(decoded, key_flags, classify, unread)
    event_flags = 0
    for event in decoded.events:
        for kv in event.attributes:
            event_flags |= _key_flags(kv.key, key_flags, classify)
    return attrs, flags, span_head(decoded, event_flags)


def _decoded(span: ReadableBuffer) -> Span:
    decoded = Span()
    try:
        decoded.ParseFromString(bytes(span))
    except DecodeError as exc:
        raise ValueError(f"not a valid Span: {exc}") from exc
    return decoded


def _attributes(
    decoded: Span, key_flags: dict[str, int], classify: Callable[[str], int], unread: int
) -> tuple[dict[str, Any], bytes]:
    flags = bytearray()
    attrs: dict[str, Any] = {}
    for kv in decoded.attributes:
        found = _key_flags(kv.key, key_flags, classify)
        flags.append(found)
        attrs[kv.key] = None if found & unread else to_py(kv.value)
    return attrs, bytes(flags)


def _key_flags(key: str, key_flags: dict[str, int], classify: Callable[[str], int]) -> int:
    found = key_flags.get(key)
    if found is None:
        found = classify(key)
    if not isinstance(found, int) or not 0 <= found <= 255:
        raise ValueError(f"flags for key {key!r} must be an int in 0..255, got {found!r}")
    return found


def span_head(span: Span, event_flags: int = -1) -> SpanHead:
    """A decoded span's own fields as ``read_span`` gives them (its ``head``); ``event_flags``
    is -1 where its event attributes' keys were not resolved."""
    status = span.status
    events = span.events
    return (
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.name,
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        status.code,
        status.message,
        tuple((event.name, event.time_unix_nano) for event in events) if events else (),
        event_flags,
        _exception_texts(events) if events else (),
    )


def _exception_texts(events: Any) -> tuple[tuple[int, str, str], ...]:
    """``(event index, key, text)`` of each event attribute keyed ``exception.type`` or
    ``exception.message`` with a non-empty string value, in order."""
    return tuple(
        (index, kv.key, kv.value.string_value)
        for index, event in enumerate(events)
        for kv in event.attributes
        if kv.key in EXCEPTION_TEXT_KEYS and kv.value.string_value
    )


_INT64: Final = 1 << 63


def _encode_any(value: Any, depth: int = 0) -> bytes:
    """The AnyValue payload for a Python value, as ``_scan.c``'s ``encode_any_value``."""
    if depth > 64:
        raise ValueError("value nests more than 64 levels deep")
    if isinstance(value, str):
        return _length_delimited(0x0A, value.encode())
    if isinstance(value, bool):
        return bytes((0x10, value))
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError(f"int value {value!r} is out of the int64 range")
        return b"\x18" + _varint_bytes(value & _MASK64)
    if isinstance(value, float):
        return b"\x21" + struct.pack("<d", value)
    if isinstance(value, bytes):
        return _length_delimited(0x3A, bytes(value))
    if isinstance(value, (list, tuple)):
        items = b"".join(_length_delimited(0x0A, _encode_any(item, depth + 1)) for item in value)
        return _length_delimited(0x2A, items)
    if isinstance(value, dict):
        pairs = b"".join(
            _length_delimited(0x0A, _encode_key_value(str(k).encode(), v, depth + 1))
            for k, v in list(value.items())
        )
        return _length_delimited(0x32, pairs)
    return _encode_any(str(value), depth)


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _encode_key_value(key: bytes, value: Any, depth: int = 0) -> bytes:
    return (_length_delimited(0x0A, key) if key else b"") + _length_delimited(0x12, _encode_any(value, depth))


class _Attr:
    """One KeyValue of a span: ``_scan.c``'s ``Attr``."""

    __slots__ = ("edit", "key", "kv_start", "stop", "tag_at", "value")

    def __init__(self, tag_at: int, stop: int, kv_start: int) -> None:
        self.tag_at, self.stop, self.kv_start = tag_at, stop, kv_start
        self.key = b""
        self.value: tuple[int, int] | None = None
        self.edit: Any = _MISSING


#: a Span's fields as upb knows them: number → wire type (others it keeps as unknown fields)
_SPAN_WIRE: Final = {
    1: 2,
    2: 2,
    3: 2,
    4: 2,
    5: 2,
    6: 0,
    7: 1,
    8: 1,
    9: 2,
    10: 0,
    11: 2,
    12: 0,
    13: 2,
    14: 0,
    15: 2,
    16: 5,
}


def _read_attrs(data: bytes) -> tuple[list[_Attr], int]:
    """The span's KeyValues and where appended ones go: after the last, else before the first
    field upb encodes after attributes (a known one numbered above 9, or an unknown one), else at
    the end."""
    attrs: list[_Attr] = []
    insert_at: int | None = None
    pos, end = 0, len(data)
    while pos < end:
        tag_at = pos
        number, wire, start, pos = _field(data, pos, end, "Span")
        if not attrs and insert_at is None and (number > 9 or _SPAN_WIRE.get(number) != wire):
            insert_at = tag_at  # upb encodes attributes before these (unknown fields last)
        if number != 9 or wire != 2:
            continue
        attr = _Attr(tag_at, pos, start)
        q = start
        while q < pos:
            n, w, s, q = _field(data, q, pos, "KeyValue")
            if w != 2:
                continue
            if n == 1:
                attr.key = data[s:q]
            elif n == 2:
                if attr.value is not None:
                    raise ValueError("KeyValue.value given more than once (merge it with upb first)")
                attr.value = (s, q)
        attrs.append(attr)
        insert_at = pos
    return attrs, end if insert_at is None else insert_at


def _last(attrs: list[_Attr], key: str) -> _Attr | None:
    wanted = key.encode()
    for attr in reversed(attrs):
        if attr.key == wanted:
            return attr
    return None


def edit_attributes(span: ReadableBuffer, edits: dict[int | str, Any], appends: list[Any], /) -> bytes:
    """``_scan.edit_attributes`` in Python: the same bytes and the same errors."""
    if not isinstance(edits, dict):
        raise TypeError(f"edit_attributes() argument 2 must be dict, not {type(edits).__name__}")
    if not isinstance(appends, list):
        raise TypeError(f"edit_attributes() argument 3 must be list, not {type(appends).__name__}")
    with _exported(span) as data:
        added = tuple(appends)
        attrs, insert_at = _read_attrs(data)
        pending: list[tuple[str, Any]] = []
        for where, value in list(edits.items()):
            if type(where) is int:
                if not 0 <= where < len(attrs):
                    raise ValueError(
                        f"edit_attributes: position {where!r} is out of range ({len(attrs)} attributes)"
                    )
                attr: _Attr | None = attrs[where]
            elif type(where) is str:
                attr = _last(attrs, where)
                if attr is None:
                    if value is not None:
                        pending.append((where, value))
                    continue
            else:
                raise TypeError(
                    f"edit_attributes: an edit is keyed by int or str, not {type(where).__name__}"
                )
            assert attr is not None
            if attr.edit is not _MISSING:
                raise ValueError(f"edit_attributes: attribute {attrs.index(attr)} is edited twice")
            attr.edit = value
        out = bytearray()
        cursor = 0
        for attr in attrs:
            out += data[cursor : attr.tag_at]
            if attr.edit is _MISSING:
                out += data[attr.tag_at : attr.stop]
            elif attr.edit is not None:
                kv = bytearray(_encode_key_value(attr.key, attr.edit))
                q = attr.kv_start
                while q < attr.stop:
                    tag_at = q
                    n, w, _, q = _field(data, q, attr.stop, "KeyValue")
                    if not (w == 2 and n in (1, 2)):
                        kv += data[tag_at:q]
                out += _length_delimited(0x4A, bytes(kv))
            cursor = attr.stop
        out += data[cursor:insert_at]
        for x, item in enumerate(added):
            size = len(item) if isinstance(item, tuple) else 0
            if (
                size not in (2, 3)
                or not isinstance(item[0], str)
                or (size == 3 and (item[1] is not None or not isinstance(item[2], str)))
            ):
                raise TypeError(
                    f"edit_attributes appends[{x}] must be (key, value) or (key, None, source_key)"
                )
            key = item[0].encode()
            if size == 3:
                source = _last(attrs, item[2])
                if source is None:
                    raise ValueError(f"edit_attributes appends[{x}]: no attribute {item[2]!r} to copy")
                raw = data[source.value[0] : source.value[1]] if source.value else b""
                kv_bytes = (_length_delimited(0x0A, key) if key else b"") + _length_delimited(0x12, raw)
            else:
                kv_bytes = _encode_key_value(key, item[1])
            out += _length_delimited(0x4A, kv_bytes)
        for key_text, value in pending:
            out += _length_delimited(0x4A, _encode_key_value(key_text.encode(), value))
        out += data[insert_at:]
        return bytes(out)


def plan_pairs(
    keys: tuple[str, ...],
    values: tuple[Any, ...],
    current: dict[str, Any],
    edits: dict[int | str, Any],
    appends: list[Any],
    keep_original: bool,
    write_over: Callable[[Any, Any, bool], int],
    /,
) -> None:
    """``_scan.plan_pairs`` in Python: ``plan_attributes`` over parallel keys and values."""
    if len(keys) != len(values):
        raise ValueError(f"plan_pairs: {len(keys)} keys but {len(values)} values")
    for key, value in zip(keys, values, strict=True):
        if value is None:
            continue
        if key not in current:
            appends.append((key, value))
            continue
        old = current[key]
        action = 0 if same_without_call(old, value) else write_over(old, value, keep_original)
        if action == 0:
            continue
        if action == 2:
            appends.append(("llmpulse.original." + key, None, key))
        edits[key] = value


def redaction_edits(
    flags: ReadableBuffer, table: ReadableBuffer, edits: dict[int | str, Any], masked: Any, /
) -> int:
    """``_scan.redaction_edits`` in Python."""
    actions = bytes(table)
    if len(actions) != 256:
        raise ValueError(f"redaction_edits: the table must have 256 entries, not {len(actions)}")
    changed = 0
    for i, flag in enumerate(bytes(flags)):
        action = actions[flag]
        if action:
            edits[i] = None if action == 2 else masked
            changed += 1
    return changed
