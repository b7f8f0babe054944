"""``read_attributes``: an encoded span's attributes as a dict plus each key's flags, in C and
through upb, equal to ``attrs_to_dict`` on every kind of value; malformed bytes are a ValueError."""

from __future__ import annotations

import math
import sys
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llmpulse.otlp import _scan_py, attrs_to_dict
from llmpulse.otlp.scan import NATIVE

try:
    from llmpulse.otlp import _scan as native
except ImportError:
    native = None

READERS = [_scan_py.read_attributes] + ([native.read_attributes] if native is not None else [])
SETTINGS = settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
KEYS = st.sampled_from(["gen_ai.prompt", "authorization", "http.route", "", "ключ", "a.b"])


def _flags(key: str) -> int:
    return (
        (4 if "prompt" in key else 0)
        | (2 if key == "authorization" else 0)
        | (1 if key.startswith("gen_ai") else 0)
    )


scalars = st.one_of(
    st.builds(lambda v: AnyValue(string_value=v), st.text(max_size=20)),
    st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
    st.builds(lambda v: AnyValue(int_value=v), st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda v: AnyValue(double_value=v), st.floats(allow_nan=False)),
    st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=8)),
    st.just(AnyValue()),
)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out) + bytes([n])


def _recording(calls: list[str]) -> Any:
    def classify(key: str) -> int:
        calls.append(key)
        return 9

    return classify


def _array(items: list[AnyValue]) -> AnyValue:
    value = AnyValue()
    value.array_value.values.extend(items)
    return value


def _kvlist(pairs: list[tuple[str, AnyValue]]) -> AnyValue:
    value = AnyValue()
    for key, item in pairs:
        kv = value.kvlist_value.values.add(key=key)
        kv.value.CopyFrom(item)
    return value


values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.builds(_array, st.lists(inner, max_size=3)),
        st.builds(_kvlist, st.lists(st.tuples(KEYS, inner), max_size=3)),
    ),
    max_leaves=12,
)


def _same(a: Any, b: Any) -> bool:
    """Equality that tells -0.0 from 0.0 (their encodings differ)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(SETTINGS, max_examples=3_000)
@given(pairs=st.lists(st.tuples(KEYS, values), max_size=8), name=st.text(max_size=5))
def test_read_attributes_equals_attrs_to_dict(pairs: list[tuple[str, AnyValue]], name: str) -> None:
    span = Span(name=name, trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    for key, value in pairs:  # repeated keys too: the last one wins, in the first one's place
        kv = span.attributes.add(key=key)
        kv.value.CopyFrom(value)
    encoded = span.SerializeToString()
    expected = attrs_to_dict(span.attributes)
    expected_flags = bytes(_flags(key) for key, _ in pairs)
    for read in READERS:
        known: dict[str, int] = {"http.route": 0}
        attrs, flags = read(encoded, known, _flags)
        assert _same(attrs, expected)
        assert flags == expected_flags
        # unread: the values of keys with a flag in the mask are None, in the same places
        unread = {k: None if _flags(k) & 4 else v for k, v in expected.items()}
        assert _same(read(encoded, {}, _flags, 4), (unread, expected_flags))


@pytest.mark.skipif(native is None, reason="the C reader is not built")
def test_unread_values_are_not_decoded_even_when_they_would_be_refused() -> None:
    """A prompt redaction drops is never decoded: not even its UTF-8 is checked here (upb checked
    the request it came in; the twin decodes through upb, which refuses it)."""
    assert native is not None
    bad = b"\x0a\x01\xff"  # AnyValue{string_value: 0xff}: not UTF-8
    prompt = KeyValue(key="gen_ai.prompt").SerializeToString() + b"\x12" + bytes([len(bad)]) + bad
    route = KeyValue(key="a.b", value=AnyValue(string_value="ok")).SerializeToString()
    encoded = b"\x4a" + bytes([len(prompt)]) + prompt + b"\x4a" + bytes([len(route)]) + route
    assert native.read_attributes(encoded, {}, _flags, 4) == (
        {"gen_ai.prompt": None, "a.b": "ok"},
        b"\x05\x00",
    )
    with pytest.raises(ValueError):
        native.read_attributes(encoded, {}, _flags)


def test_flags_come_from_the_dict_before_classify_and_must_fit_a_byte() -> None:
    span = Span()
    span.attributes.add(key="a").value.int_value = 1
    span.attributes.add(key="b").value.int_value = 2
    encoded = span.SerializeToString()
    for read in READERS:
        calls: list[str] = []
        classify = _recording(calls)

        assert read(encoded, {"a": 3}, classify) == ({"a": 1, "b": 2}, b"\x03\x09")
        assert calls == ["b"]
        with pytest.raises(ValueError, match=r"0\.\.255"):
            read(encoded, {"a": 256}, classify)
        with pytest.raises(ValueError, match=r"0\.\.255"):
            read(encoded, {}, lambda key: -1)


def test_event_attribute_keys_are_resolved_like_span_attribute_keys() -> None:
    """The head's last item ORs the flags of every event attribute's key, from the dict first,
    then classify, with the same 0..255 check; the keys stay out of the attributes."""
    span = Span()
    span.attributes.add(key="a").value.int_value = 1
    first = span.events.add(name="e")
    first.attributes.add(key="authorization").value.string_value = "x"
    span.events.add(name="f").attributes.add(key="c").value.int_value = 3
    encoded = span.SerializeToString()
    for read in SPAN_READERS:
        calls: list[str] = []
        attrs, flags, head = read(encoded, {"authorization": 16}, _recording(calls))
        assert (attrs, flags) == ({"a": 1}, b"\x09")
        assert head[8:] == ((("e", 0), ("f", 0)), 16 | 9, ())
        assert sorted(calls) == ["a", "c"]
        with pytest.raises(ValueError, match=r"flags for key 'c' must be an int in 0\.\.255"):
            read(encoded, {"a": 1, "authorization": 2}, lambda key: 300)


def test_the_head_carries_exception_texts_as_upb_reads_string_value() -> None:
    """The head's last item: each ``exception.type``/``exception.message`` event attribute with a
    non-empty string, by event index, in order. Whatever field of the AnyValue's oneof comes last
    decides, as in upb: a string then an int is no string; two strings, the second."""
    span = Span(name="call")
    span.events.add(name="gen_ai.content.prompt").attributes.add(key="exception.type").value.int_value = 3
    crash = span.events.add(name="exception")
    crash.attributes.add(key="exception.type").value.string_value = "RateLimitError"
    crash.attributes.add(key="exception.stacktrace").value.string_value = "Traceback"
    crash.attributes.add(key="exception.message").value.string_value = ""
    crash.attributes.add(key="exception.message").value.string_value = "429 Too Many Requests"
    encoded = span.SerializeToString()

    def field(number: int, payload: bytes) -> bytes:  # length-delimited, as upb would not write it
        return _varint(number << 3 | 2) + _varint(len(payload)) + payload

    def attribute(key: str, *values: AnyValue) -> bytes:  # one AnyValue of several oneof fields
        return field(3, field(1, key.encode()) + field(2, b"".join(v.SerializeToString() for v in values)))

    encoded += field(
        11,
        field(2, b"exception")
        + attribute("exception.type", AnyValue(string_value="lost"), AnyValue(int_value=1))
        + attribute("exception.message", AnyValue(string_value="first"), AnyValue(string_value="second")),
    )
    for read in SPAN_READERS:
        head = read(encoded, {}, _flags)[2]
        assert head[8] == (("gen_ai.content.prompt", 0), ("exception", 0), ("exception", 0))
        assert head[10] == (
            (1, "exception.type", "RateLimitError"),
            (1, "exception.message", "429 Too Many Requests"),
            (2, "exception.message", "second"),
        )
    assert _scan_py.span_head(Span.FromString(encoded))[10] == head[10]


@pytest.mark.skipif(native is None, reason="the C reader is not built")
def test_the_c_reader_refuses_merged_fields_and_deep_nesting() -> None:
    assert native is not None
    value = AnyValue(string_value="x").SerializeToString()
    kv = b"\x0a\x01k" + b"\x12" + bytes([len(value)]) + value
    twice = kv + b"\x12" + bytes([len(value)]) + value  # KeyValue.value given twice
    span = b"\x4a" + bytes([len(twice)]) + twice
    with pytest.raises(ValueError, match=r"KeyValue\.value given more than once"):
        native.read_attributes(span, {}, _flags)
    deep = AnyValue(string_value="leaf").SerializeToString()
    for _ in range(70):  # built by hand: upb itself refuses to build a message this deep
        array = b"\x0a" + _varint(len(deep)) + deep
        deep = b"\x2a" + _varint(len(array)) + array
    pair = b"\x0a\x01k\x12" + _varint(len(deep)) + deep
    with pytest.raises(ValueError, match="64 levels"):
        native.read_attributes(b"\x4a" + _varint(len(pair)) + pair, {}, _flags)


@pytest.mark.skipif(native is None, reason="the C reader is not built")
@settings(SETTINGS, max_examples=10_000)
@given(
    data=st.binary(max_size=200),
    seed_span=st.lists(st.tuples(KEYS, values), max_size=3),
    cut=st.integers(0, 400),
)
def test_malformed_bytes_are_a_value_error_never_a_crash(
    data: bytes, seed_span: list[tuple[str, AnyValue]], cut: int
) -> None:
    assert native is not None
    span = Span()
    for key, value in seed_span:
        span.attributes.add(key=key).value.CopyFrom(value)
    encoded = span.SerializeToString()
    for body in (data, encoded[:cut] + data[:3], encoded[: cut % (len(encoded) + 1)]):
        try:
            attrs, flags = native.read_attributes(body, {}, _flags)
        except ValueError:
            continue
        assert isinstance(attrs, dict) and len(flags) >= len(attrs)


def test_native_reader_is_built_when_required() -> None:
    import os

    if os.environ.get("LLMPULSE_REQUIRE_NATIVE") == "1":
        assert NATIVE and native is not None


@pytest.mark.skipif(native is None, reason="the C reader is not built")
def test_keys_are_decoded_once_and_stay_right_past_the_cache() -> None:
    """The C reader keeps the str of every key it has seen (the same few hundred come back in
    every span); a flood of distinct keys empties the cache, never gives a wrong key."""
    assert native is not None

    def span_of(*keys: str) -> bytes:
        sp = Span()
        for key in keys:
            sp.attributes.add(key=key).value.int_value = len(key)
        return bytes(sp.SerializeToString())

    first, _ = native.read_attributes(span_of("gen_ai.request.model", "ключ"), {}, _flags)
    again, _ = native.read_attributes(span_of("ключ", "gen_ai.request.model"), {}, _flags)
    assert [k for k in first] == ["gen_ai.request.model", "ключ"]
    assert all(any(k is other for other in again) for k in first)  # the same objects
    long_key = "k" * 300  # past the cached length: decoded each time, still right
    keys = [f"flood.{n}" for n in range(5_000)] + [long_key, "gen_ai.request.model"]
    for chunk in range(0, len(keys), 50):
        part = keys[chunk : chunk + 50]
        attrs, flags = native.read_attributes(span_of(*part), {}, _flags)
        assert attrs == {key: len(key) for key in part}
        assert flags == bytes(_flags(key) for key in part)
    body = span_of("gen_ai.request.model", "http.route")
    key = next(iter(native.read_attributes(body, {}, _flags)[0]))
    held = sys.getrefcount(key)
    for _ in range(1_000):  # a reference leaked per read would show on the kept key
        native.read_attributes(body, {}, _flags)
    assert sys.getrefcount(key) == held
    bad = b"\x4a\x04\x0a\x02\xff\xfe"  # a key that is not UTF-8
    with pytest.raises(ValueError):
        native.read_attributes(bad, {}, _flags)


# -- read_span: the attributes and the span's own fields, in one walk ------------------------------
SPAN_READERS = [_scan_py.read_span] + ([native.read_span] if native is not None else [])

#: event attribute keys: the flagged ones, and the two whose string values a head carries
EVENT_KEYS = st.one_of(KEYS, st.sampled_from(["exception.type", "exception.message", "exception.typ"]))
#: (name, time, attributes) of each event
events = st.lists(
    st.tuples(
        st.text(max_size=6), st.integers(0, 2**64 - 1), st.lists(st.tuples(EVENT_KEYS, scalars), max_size=3)
    ),
    max_size=3,
)


def _event_flags(span: Span) -> int:
    """What every reader's head ends with: the flags of every event attribute's key, ORed."""
    flags = 0
    for event in span.events:
        for kv in event.attributes:
            flags |= _flags(kv.key)
    return flags


def _exception_texts(span: Span) -> tuple[tuple[int, str, str], ...]:
    """upb's view of a head's last item: each event attribute keyed ``exception.type`` or
    ``exception.message`` whose value reads as a non-empty string, with its event's index."""
    return tuple(
        (index, kv.key, kv.value.string_value)
        for index, event in enumerate(span.events)
        for kv in event.attributes
        if kv.key in ("exception.type", "exception.message") and kv.value.string_value != ""
    )


def _add_events(span: Span, span_events: list[tuple[str, int, list[tuple[str, AnyValue]]]]) -> None:
    for event_name, time, pairs in span_events:
        event = span.events.add(name=event_name, time_unix_nano=time)
        for key, value in pairs:
            event.attributes.add(key=key).value.CopyFrom(value)


@settings(SETTINGS, max_examples=3_000)
@given(
    ids=st.tuples(st.binary(max_size=17), st.binary(max_size=9), st.binary(max_size=9)),
    name=st.text(max_size=8),
    times=st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
    status=st.tuples(st.integers(-(2**31), 2**31 - 1), st.text(max_size=6)),
    span_events=events,
    pairs=st.lists(st.tuples(KEYS, scalars), max_size=3),
    again=st.sampled_from(["", "name", "status", "times"]),
)
def test_read_span_reads_what_upb_reads(
    ids: tuple[bytes, bytes, bytes],
    name: str,
    times: tuple[int, int],
    status: tuple[int, str],
    span_events: list[tuple[str, int, list[tuple[str, AnyValue]]]],
    pairs: list[tuple[str, AnyValue]],
    again: str,
) -> None:
    """Every reader's head is upb's view of the same bytes, with fields given twice (the last
    wins; a Status given twice is merged, field by field)."""
    span = Span(
        trace_id=ids[0],
        span_id=ids[1],
        parent_span_id=ids[2],
        name=name,
        start_time_unix_nano=times[0],
        end_time_unix_nano=times[1],
    )
    span.status.code = status[0]  # type: ignore[assignment]  # an open enum: any int32
    span.status.message = status[1]
    _add_events(span, span_events)
    for key, value in pairs:
        span.attributes.add(key=key).value.CopyFrom(value)
    encoded = span.SerializeToString()
    if again == "name":
        encoded += Span(name=name + "!").SerializeToString()
    elif again == "status":
        later = Span()
        later.status.code = 1  # type: ignore[assignment]
        encoded += later.SerializeToString()  # the message stays, the code is replaced
    elif again == "times":
        encoded += Span(end_time_unix_nano=7).SerializeToString()
    decoded = Span.FromString(encoded)
    expected_head = (
        decoded.trace_id,
        decoded.span_id,
        decoded.parent_span_id,
        decoded.name,
        decoded.start_time_unix_nano,
        decoded.end_time_unix_nano,
        decoded.status.code,
        decoded.status.message,
        tuple((e.name, e.time_unix_nano) for e in decoded.events),
        _event_flags(decoded),
        _exception_texts(decoded),
    )
    for read in SPAN_READERS:
        attrs, flags, head = read(encoded, {}, _flags)
        assert head == expected_head
        assert _same(attrs, attrs_to_dict(decoded.attributes))
        assert flags == bytes(_flags(key) for key, _ in pairs)
    # a head from a decoded span alone has not resolved the event keys: -1 says so
    assert _scan_py.span_head(decoded) == (*expected_head[:9], -1, expected_head[10])


@pytest.mark.skipif(native is None, reason="the C reader is not built")
@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        (b"\x38\x05", "Span field 7 has wire type 0, not 1"),  # start time as a varint
        (b"\x2d\x00\x00\x00\x00", "Span field 5 has wire type 5, not 2"),  # name as fixed32
        (b"\x7a\x02\x18\xff", "truncated varint"),  # status code cut short
        (b"\x7a\x09\x19" + bytes(8), "Status field 3 has wire type 1, not 0"),
        (b"\x5a\x02\x08\x01", "Span.Event field 1 has wire type 0, not 1"),
        (b"\x2a\x01\xff", "can't decode byte 0xff"),  # a name that is not UTF-8
        (b"\x5a\x03\x12\x01\xff", "can't decode byte 0xff"),  # an event name that is not UTF-8
    ],
)
def test_read_span_refuses_what_it_does_not_read_as_upb_would(encoded: bytes, message: str) -> None:
    """A head field of another wire type is an unknown field to upb, and the C reader does not
    keep unknown fields: it refuses, and the pipeline reads such a span through upb."""
    assert native is not None
    with pytest.raises(ValueError, match=message):
        native.read_span(encoded, {}, _flags)
    if "wire type" in message:  # read_attributes skips the fields it does not read, as it did
        assert native.read_attributes(encoded, {}, _flags) == ({}, b"")


@pytest.mark.skipif(native is None, reason="the C reader is not built")
@settings(SETTINGS, max_examples=10_000)
@given(data=st.binary(max_size=120), events_first=events, cut=st.integers(0, 200))
def test_read_span_on_malformed_bytes_is_a_value_error_never_a_crash(
    data: bytes, events_first: list[tuple[str, int, list[tuple[str, AnyValue]]]], cut: int
) -> None:
    assert native is not None
    span = Span(name="n", trace_id=b"t" * 16)
    span.status.message = "m"
    _add_events(span, events_first)
    encoded = span.SerializeToString()
    for body in (data, encoded[:cut] + data[:4], encoded[: cut % (len(encoded) + 1)]):
        try:
            attrs, _flags_read, head = native.read_span(body, {}, _flags)
        except ValueError:
            continue
        assert isinstance(attrs, dict) and len(head) == 11
        try:  # the reader is given spans upb has read: where upb reads them too, alike
            decoded = Span.FromString(body)
        except DecodeError:
            continue
        assert head == _scan_py.span_head(decoded, _event_flags(decoded))
