"""The wire-level span scanner (``llmpulse.otlp.scan``): the C extension and its pure-Python twin
against exact hand-built requests, against upb's reading of generated requests (the oracle), and
against each other on malformed bytes.

Every test runs on each implementation present: the Python twin always, the C module when it is
built (``tests/run-all.sh`` sets ``LLMPULSE_REQUIRE_NATIVE=1``, so in CI it must be). Generated
cases come from plain ``random`` seeded by hypothesis (as in tests/fuzz): 10,000 differential
cases against upb and 10,000 malformed inputs, derandomized so that CI never flakes.
"""

from __future__ import annotations

import gc
import os
import random
import re
import subprocess
import sys
import tracemalloc
from types import ModuleType
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llmpulse.otlp import _scan_py, scan

try:
    from llmpulse.otlp import _scan as native
except ImportError:
    native = None

IMPLS: list[ModuleType] = [_scan_py] + ([native] if native is not None else [])
IMPL_IDS = [m.__name__.rsplit(".", 1)[-1] for m in IMPLS]
LLM, CREDENTIAL, CONTENT = 1, 2, 4

DIFFERENTIAL = settings(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SEEDS = st.integers(min_value=0, max_value=2**64 - 1)


def classify(key: bytes) -> int:
    """The pipeline's three flags, by simple rules the tests can predict."""
    return (
        (LLM if key.startswith((b"gen_ai.", b"llm.")) else 0)
        | (CREDENTIAL if b"key" in key or b"authorization" in key else 0)
        | (CONTENT if b"prompt" in key or b"content" in key else 0)
    )


class Counting:
    """``classify`` that remembers each call, in order."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []

    def __call__(self, key: bytes) -> int:
        self.calls.append(key)
        return classify(key)


# -- wire format by hand ---------------------------------------------------------------------------
def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def ld(field: int, payload: bytes) -> bytes:
    return tag(field, 2) + varint(len(payload)) + payload


def kv(key: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value="v"))


def span(trace_id: bytes = b"T" * 16, span_id: bytes = b"S" * 8, *keys: str, parent: bytes = b"") -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name="op",
        attributes=[kv(k) for k in keys],
    )


def request(*resources: list[list[Span]]) -> bytes:
    """resources → scopes → spans, each resource and scope with a name so that none is empty."""
    req = ExportTraceServiceRequest()
    for r, scopes in enumerate(resources):
        rs = req.resource_spans.add(resource=Resource(attributes=[kv("service.name")]))
        for s, spans in enumerate(scopes):
            rs.scope_spans.add(scope=InstrumentationScope(name=f"scope-{r}-{s}"), spans=spans)
    return req.SerializeToString()


def run_all(fn: str, body: Any, *args: Any) -> Any:
    """``fn`` on every implementation, each with its own copy of a ``key_flags`` dict argument;
    asserts that the results and the dicts afterwards agree, returns the result."""
    results = []
    for impl in IMPLS:
        copied = [dict(a) if isinstance(a, dict) else a for a in args]
        results.append((getattr(impl, fn)(body, *copied), [a for a in copied if isinstance(a, dict)]))
    for other in results[1:]:
        assert other == results[0]
    return results[0][0]


# -- exact results -----------------------------------------------------------------------------------
def test_flags_per_span_and_indices_across_resources_and_scopes() -> None:
    body = request(
        [
            [
                span(b"A" * 16, b"a" * 8, "http.method"),
                span(b"B" * 16, b"b" * 8, "gen_ai.system", "http.url"),
            ],
            [span(b"C" * 16, b"c" * 8, "http.request.header.authorization")],
        ],
        [[], [span(b"D" * 16, b"d" * 8, "gen_ai.prompt", "llm.model"), span(b"E" * 16, b"e" * 8)]],
    )
    for impl in IMPLS:
        key_flags: dict[bytes, int] = {b"http.url": 0, b"custom.llm": LLM}
        counting = Counting()
        flagged, invalid = impl.scan_spans(body, key_flags, counting)
        assert flagged == [(0, 0, 1, LLM), (0, 1, 0, CREDENTIAL), (1, 1, 0, LLM | CONTENT)]
        assert invalid == []
        # resource and event attributes are not span attributes: service.name is never classified
        assert counting.calls == [
            b"http.method",
            b"gen_ai.system",
            b"http.request.header.authorization",
            b"gen_ai.prompt",
            b"llm.model",
        ]
        assert key_flags == {
            b"http.url": 0,
            b"custom.llm": LLM,
            b"http.method": 0,
            b"gen_ai.system": LLM,
            b"http.request.header.authorization": CREDENTIAL,
            b"gen_ai.prompt": LLM | CONTENT,
            b"llm.model": LLM,
        }


def test_key_flags_win_over_classify_and_each_key_is_classified_once_per_scan() -> None:
    spans = [span(bytes([n]) * 16, b"s" * 8, "gen_ai.system", "x", "x") for n in range(5)]
    body = request([spans])
    for impl in IMPLS:
        counting = Counting()
        key_flags = {b"x": CONTENT}
        assert impl.scan_spans(body, key_flags, counting) == (
            [(0, 0, k, LLM | CONTENT) for k in range(5)],
            [],
        )
        assert counting.calls == [b"gen_ai.system"]
        key_flags[b"gen_ai.system"] = 0  # the dict is the cache: what the caller put there counts
        assert impl.scan_spans(body, key_flags, counting) == ([(0, 0, k, CONTENT) for k in range(5)], [])
        assert counting.calls == [b"gen_ai.system"]


@pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)
def test_a_key_is_classified_once_per_scan_even_if_classify_empties_the_dict(impl: ModuleType) -> None:
    body = request([[span(bytes([n]) * 16, b"s" * 8, "gen_ai.system", "x", "x") for n in range(5)]])
    key_flags: dict[bytes, int] = {}
    counting = Counting()

    def forgetful(key: bytes) -> int:  # the pipeline clears its full cache inside classify
        key_flags.clear()
        return counting(key)

    assert impl.scan_spans(body, key_flags, forgetful) == ([(0, 0, k, LLM) for k in range(5)], [])
    assert counting.calls == [b"gen_ai.system", b"x"]  # though dropped from the dict at once
    assert key_flags == {b"x": 0}


def c_table_hash(key: bytes) -> int:
    """``hash_key`` of _scan.c (on a little-endian machine), to aim keys at one slot of its table."""
    mask = 2**64 - 1
    h, word = 0x9E3779B97F4A7C15 ^ len(key), 0
    if len(key) >= 8:
        for at in range(0, len(key) - 8, 8):
            h = ((h ^ int.from_bytes(key[at : at + 8], "little")) * 0xBF58476D1CE4E5B9) & mask
            h ^= h >> 31
        word = int.from_bytes(key[-8:], "little")
    else:
        word = int.from_bytes(key, "little")
    h = ((h ^ word) * 0x94D049BB133111EB) & mask
    h = ((h ^ (h >> 32)) * 0xD6E8FEB86659FD93) & mask
    return h ^ (h >> 32)


def colliding_keys(count: int, slot: int = 5) -> list[str]:
    """``count`` keys whose home slot in the C module's first table (64 slots) is ``slot``."""
    keys, n = [], 0
    while len(keys) < count:
        key = f"gen_ai.k{n}"
        if c_table_hash(key.encode()) & 63 == slot:
            keys.append(key)
        n += 1
    return keys


@pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)
@pytest.mark.parametrize(
    "keys",
    [
        [f"custom.{n}" for n in range(5000)],  # past the C table's 2,048 keys: the rest overflow
        colliding_keys(40),  # one probe path: after 16 the C table refuses them (flooding)
    ],
    ids=["5000-distinct-keys", "40-colliding-keys"],
)
def test_keys_the_c_table_cannot_hold_are_still_resolved_once(impl: ModuleType, keys: list[str]) -> None:
    spans = [span(bytes([n]) * 16, b"s" * 8, *keys[n::3], "gen_ai.system") for n in range(3)]
    body = request([spans, spans])  # every key twice: the second time from a cache
    key_flags: dict[bytes, int] = {}
    counting = Counting()

    def forgetful(key: bytes) -> int:
        key_flags.clear()  # so that a key looked up again would be classified again
        return counting(key) | (CONTENT if key.endswith(b"7") else 0)

    flags = [LLM | (CONTENT if any(k.endswith("7") for k in keys[n::3]) else 0) for n in range(3)]
    expected = [(0, j, k, flags[k]) for j in range(2) for k in range(3)]
    assert impl.scan_spans(body, key_flags, forgetful) == (expected, [])
    first_seen = [*keys[0::3], "gen_ai.system", *keys[1::3], *keys[2::3]]
    assert counting.calls == [k.encode() for k in first_seen]  # each once, in wire order


def test_spans_with_invalid_ids_are_listed_not_flagged() -> None:
    body = request(
        [
            [
                span(b"T" * 15, b"S" * 8, "gen_ai.system"),  # 15-byte trace id
                span(b"T" * 16, b"", "gen_ai.system"),  # empty span id
                span(b"", b"", "http.method"),  # neither
                span(b"T" * 17, b"S" * 8),
                span(b"T" * 16, b"S" * 9),
                span(b"T" * 16, b"S" * 8, "gen_ai.system"),
            ]
        ],
        [[span(b"U" * 16, b"S" * 7)]],
    )
    flagged, invalid = run_all("scan_spans", body, {}, classify)
    assert flagged == [(0, 0, 5, LLM)]
    assert invalid == [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3), (0, 0, 4), (1, 0, 0)]


def test_last_occurrence_wins_and_unknown_fields_are_skipped_wherever_they_are() -> None:
    unknown = (
        tag(100, 0) + varint(2**64 - 1)  # varint
        + tag(101, 1) + b"\x01" * 8  # fixed64
        + tag(2047, 5) + b"\x02" * 4  # fixed32, two-byte tag
        + ld(536870911, b"\x0a\x10" + b"Z" * 16)  # largest field number; looks like a trace id inside
    )  # fmt: skip
    kv_twice = ld(1, b"http.method") + ld(2, b"\x0a\x01v") + unknown + ld(1, b"gen_ai.system")
    kv_no_key = ld(2, b"\x0a\x01v")
    span_bytes = (
        span(b"T" * 15, b"S" * 8, "http.url").SerializeToString()
        + unknown
        + ld(9, kv_twice)  # attributes after other fields, interleaved with unknown ones
        + tag(1, 0) + varint(5)  # field 1 as a varint: an unknown field, not the trace id
        + ld(1, b"T" * 16)  # the second trace id wins
        + ld(9, kv_no_key)
        + tag(9, 5) + b"\x00" * 4  # field 9 as fixed32: unknown, not an attribute
    )  # fmt: skip
    scope_bytes = (
        ld(2, span_bytes)
        + unknown
        + tag(2, 0)
        + varint(1)
        + ld(2, span(b"A" * 16, b"", "x").SerializeToString())
    )
    rs_bytes = unknown + ld(2, b"") + ld(2, scope_bytes) + tag(2, 1) + b"\x00" * 8
    body = (
        unknown
        + ld(1, rs_bytes)
        + tag(1, 5)
        + b"\x00" * 4
        + ld(1, b"")
        + ld(1, ld(2, ld(2, span(b"B" * 16, b"b" * 8, "llm.x").SerializeToString())))
    )

    # upb reads it the same way (the oracle of the generated tests below)
    decoded = ExportTraceServiceRequest.FromString(body)
    assert [len(rs.scope_spans) for rs in decoded.resource_spans] == [2, 0, 1]
    first = decoded.resource_spans[0].scope_spans[1].spans[0]
    assert first.trace_id == b"T" * 16
    assert [a.key for a in first.attributes] == ["http.url", "gen_ai.system", ""]

    for impl in IMPLS:
        counting = Counting()
        assert impl.scan_spans(body, {}, counting) == ([(0, 1, 0, LLM), (2, 0, 0, LLM)], [(0, 1, 1)])
        assert counting.calls == [b"http.url", b"gen_ai.system", b"", b"x", b"llm.x"]


def test_an_empty_request_and_empty_messages() -> None:
    for body in (b"", ld(1, b""), ld(1, ld(2, b"")), ld(1, ld(2, ld(2, b""))), bytearray(), memoryview(b"")):
        expected_invalid = [(0, 0, 0)] if bytes(body) == ld(1, ld(2, ld(2, b""))) else []
        assert run_all("scan_spans", body, {}, classify) == ([], expected_invalid)
        assert run_all("parents", body, {b"T" * 16}) == {}


def test_parents_of_spans_in_the_given_traces() -> None:
    t1, t2, t3 = b"1" * 16, b"2" * 16, b"3" * 16
    body = request(
        [
            [
                span(t1, b"root0000"),  # no parent: b""
                span(t1, b"child000", parent=b"root0000"),
                span(t2, b"other000", parent=b"root0000"),  # trace not asked for
                span(t1, b"bad", parent=b"root0000"),  # invalid span id: never listed
            ]
        ],
        [[span(t3, b"child000", parent=b"p")]],  # any parent length is passed through
    )
    expected = {(t1, b"root0000"): b"", (t1, b"child000"): b"root0000", (t3, b"child000"): b"p"}
    for traces in ({t1, t3}, frozenset({t1, t3, b"4" * 16})):
        assert run_all("parents", body, traces) == expected
    assert run_all("parents", body, set()) == {}
    # ids are looked up sorted, as bytes: other things in the set never match, and an id of a
    # bytes subclass matches as the set would match it
    in_t1 = {(t1, b"root0000"): b"", (t1, b"child000"): b"root0000"}
    assert run_all("parents", body, {t1, b"short", b"0" * 16, b"9" * 16}) == in_t1
    assert run_all("parents", body, {t1, b"short", "1" * 16, 7, b"0" * 16, b"9" * 16}) == in_t1

    class TraceId(bytes):
        pass

    assert run_all("parents", body, {TraceId(t3), b"0" * 16}) == {(t3, b"child000"): b"p"}
    # a span sent twice: the later one wins, as in a dict filled in wire order
    again = body + ld(1, ld(2, ld(2, span(t1, b"child000", parent=b"new00000").SerializeToString())))
    assert run_all("parents", again, {t1})[(t1, b"child000")] == b"new00000"
    # the last parent_span_id of a span wins, and a varint field 4 is not one
    last = (
        span(t1, b"child000", parent=b"old00000").SerializeToString()
        + ld(4, b"new00000")
        + tag(4, 0)
        + b"\x01"
    )
    assert run_all("parents", ld(1, ld(2, ld(2, last))), {t1}) == {(t1, b"child000"): b"new00000"}


# -- errors ---------------------------------------------------------------------------------------------
def nested(span_bytes: bytes) -> bytes:
    return ld(1, ld(2, ld(2, span_bytes)))


MALFORMED = [
    (b"\x0a", "truncated varint at byte 1 (in ExportTraceServiceRequest)"),
    (b"\x80", "truncated varint at byte 0 (in ExportTraceServiceRequest)"),
    (
        b"\x0a\x05ab",
        "field 1 at byte 0: length 5 runs past the end of its ExportTraceServiceRequest (byte 4)",
    ),
    (b"\x00", "field number 0 at byte 0 (in ExportTraceServiceRequest)"),
    (b"\x80\x00\x01", "field number 0 at byte 0 (in ExportTraceServiceRequest)"),
    (b"\x0b\x0c", "field 1 at byte 0: wire type 3 (group) is not supported (in ExportTraceServiceRequest)"),
    (b"\x0c", "field 1 at byte 0: wire type 4 (group) is not supported (in ExportTraceServiceRequest)"),
    (b"\x0e", "field 1 at byte 0: invalid wire type 6 (in ExportTraceServiceRequest)"),
    (b"\x17", "field 2 at byte 0: invalid wire type 7 (in ExportTraceServiceRequest)"),
    (b"\x09\x01\x02", "truncated fixed64 field 1 at byte 0 (in ExportTraceServiceRequest)"),
    (b"\x0d\x01\x02\x03", "truncated fixed32 field 1 at byte 0 (in ExportTraceServiceRequest)"),
    (
        b"\x08" + b"\xff" * 10 + b"\x01",
        "varint longer than 10 bytes at byte 1 (in ExportTraceServiceRequest)",
    ),
    (b"\xff" * 11, "varint longer than 10 bytes at byte 0 (in ExportTraceServiceRequest)"),
    (
        b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # 2**64 - 1: no overflow into a small length
        "field 1 at byte 0: length 18446744073709551615 runs past the end of its "
        "ExportTraceServiceRequest (byte 11)",
    ),
    (ld(1, b"\x12\x01"), "field 2 at byte 2: length 1 runs past the end of its ResourceSpans (byte 4)"),
    (ld(1, ld(2, b"\x13")), "field 2 at byte 4: wire type 3 (group) is not supported (in ScopeSpans)"),
    # a length that fits the request but not the span around it
    (
        nested(b"\x0a\x03ab") + b"\x00" * 8,
        "field 1 at byte 6: length 3 runs past the end of its Span (byte 10)",
    ),
    (nested(ld(9, b"\x0a")), "truncated varint at byte 9 (in KeyValue)"),
    (nested(ld(9, ld(1, b"k") + b"\x00")), "field number 0 at byte 11 (in KeyValue)"),
    (nested(span().SerializeToString() + b"\x50"), "truncated varint at byte 39 (in Span)"),
]


@pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)
@pytest.mark.parametrize(
    ("body", "message"), MALFORMED, ids=[f"malformed-{n}" for n in range(len(MALFORMED))]
)
def test_malformed_bytes_raise_value_error_naming_the_problem_and_offset(
    impl: ModuleType, body: bytes, message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        impl.scan_spans(body, {}, classify)
    assert str(raised.value) == message
    if "KeyValue" not in message:  # parents does not read attributes
        with pytest.raises(ValueError) as raised:
            impl.parents(body, {b"T" * 16})
        assert str(raised.value) == message


def test_parents_skips_attributes_unread() -> None:
    body = nested(span().SerializeToString() + ld(9, b"\x00"))
    assert run_all("parents", body, {b"T" * 16}) == {(b"T" * 16, b"S" * 8): b""}


@pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)
def test_bad_arguments_and_classify_errors(impl: ModuleType) -> None:
    body = request([[span(b"T" * 16, b"S" * 8, "gen_ai.system")]])
    for bad_body, error in (("text", TypeError), (None, TypeError), (memoryview(body)[::2], BufferError)):
        with pytest.raises(error):
            impl.scan_spans(bad_body, {}, classify)
    with pytest.raises(TypeError, match="must be dict, not list"):
        impl.scan_spans(body, [], classify)
    with pytest.raises(TypeError, match="classify must be callable, not int"):
        impl.scan_spans(body, {}, 3)
    with pytest.raises(TypeError, match="traces must be a set or frozenset, not list"):
        impl.parents(body, [b"T" * 16])

    def boom(key: bytes) -> int:
        raise RuntimeError(f"no flags for {key!r}")

    key_flags: dict[bytes, Any] = {}
    with pytest.raises(RuntimeError, match=re.escape("no flags for b'gen_ai.system'")):
        impl.scan_spans(body, key_flags, boom)
    assert key_flags == {}
    for result, error, text in (
        ("1", TypeError, "classify() result for key b'gen_ai.system' must be an int, not str"),
        (-1, ValueError, "classify() result for key b'gen_ai.system' must be in 0..2**63-1, got -1"),
        (2**63, ValueError, "must be in 0..2**63-1, got 9223372036854775808"),
    ):
        with pytest.raises(error) as raised:
            impl.scan_spans(body, key_flags, lambda key, result=result: result)
        assert str(raised.value).endswith(text)
        assert key_flags == {}  # a refused result is not stored
    with pytest.raises(TypeError) as type_error:
        impl.scan_spans(body, {b"gen_ai.system": None}, classify)
    assert str(type_error.value) == "key_flags value for key b'gen_ai.system' must be an int, not NoneType"
    assert impl.scan_spans(body, {b"gen_ai.system": True}, classify) == ([(0, 0, 0, 1)], [])
    assert impl.scan_spans(body, {b"gen_ai.system": 2**63 - 1}, classify) == ([(0, 0, 0, 2**63 - 1)], [])


@pytest.mark.skipif(native is None, reason="the C module is not built")
def test_per_span_helpers_check_their_fast_call_arguments() -> None:
    """The helpers called per LLM span take their arguments as a C array (METH_FASTCALL), not as
    a tuple parsed by a format string: they must refuse what the format refused, with its
    messages, and release every buffer they took when they refuse."""
    assert native is not None
    span_bytes = span(b"T" * 16, b"S" * 8, "gen_ai.system").SerializeToString()
    table = bytes(256)
    good: dict[str, tuple[Any, ...]] = {
        "read_attributes": (span_bytes, {}, classify_str),
        "edit_attributes": (span_bytes, {}, []),
        "find_any": (span_bytes, (b"gen_ai",)),
        "plan_pairs": ((), (), {}, {}, [], False, None),
        "redaction_edits": (b"\x00", table, {}, "masked"),
    }
    for name, args in good.items():
        function = getattr(native, name)
        assert function(*args) == getattr(_scan_py, name)(*args), name
        with pytest.raises(TypeError, match=rf"^{name}\(\) takes (exactly|from)"):
            function(*args[:-2])
        with pytest.raises(TypeError, match=rf"^{name}\(\) takes (exactly|from)"):
            function(*args, None, None)
    assert native.read_attributes(span_bytes, {}, classify_str, 0) == native.read_attributes(
        span_bytes, {}, classify_str
    )
    for name, position, bad, expected in (
        ("read_attributes", 2, [], "list"),
        ("edit_attributes", 2, [], "list"),
        ("edit_attributes", 3, (), "tuple"),
        ("find_any", 2, [b"x"], "list"),
        ("plan_pairs", 1, [], "list"),
        ("plan_pairs", 3, None, "None"),
        ("plan_pairs", 5, (), "tuple"),
        ("redaction_edits", 3, [], "list"),
    ):
        args = list(good[name])
        args[position - 1] = bad
        with pytest.raises(TypeError) as raised:
            getattr(native, name)(*args)
        assert re.fullmatch(rf"{name}\(\) argument {position} must be \w+, not {expected}", str(raised.value))
    refused: list[tuple[Any, type[Exception]]] = [
        ("text", TypeError),
        (None, TypeError),
        (memoryview(span_bytes)[::2], BufferError),
    ]
    for name in ("read_attributes", "edit_attributes", "find_any", "redaction_edits"):
        for bad_buffer, error in refused:
            args = list(good[name])
            args[0] = bad_buffer
            with pytest.raises(error):
                getattr(native, name)(*args)
    # a buffer taken before a later argument is refused is released: the bytearray can grow again
    held = bytearray(span_bytes)
    with pytest.raises(TypeError):
        native.redaction_edits(held, "not a buffer", {}, "masked")
    with pytest.raises(ValueError, match="must have 256 entries"):
        native.redaction_edits(held, b"short", {}, "masked")
    with pytest.raises(TypeError):
        native.edit_attributes(held, {}, [("k", 1, "x", "too many")])
    held.extend(b"\x00")
    with pytest.raises(TypeError, match="plan_pairs"):
        native.plan_pairs((), (), {}, {}, [], _NoTruth(), None)


class _NoTruth:
    """A value whose truth cannot be told ("p" refused it, and so must the fast call)."""

    def __bool__(self) -> bool:
        raise TypeError("plan_pairs keep_original has no truth value")


def classify_str(key: str) -> int:
    return 0


@pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)
def test_any_bytes_like_body_and_it_stays_put_during_the_scan(impl: ModuleType) -> None:
    body = request([[span(b"T" * 16, b"S" * 8, "gen_ai.system")]])
    for like in (bytearray(body), memoryview(body), memoryview(b"xx" + body)[2:]):
        assert impl.scan_spans(like, {}, classify) == ([(0, 0, 0, LLM)], [])
        assert impl.parents(like, {b"T" * 16}) == {(b"T" * 16, b"S" * 8): b""}
    growing = bytearray(body)

    def resizes(key: bytes) -> int:
        growing.extend(b"\x00")  # would move the buffer under the scan
        return 0

    with pytest.raises(BufferError):
        impl.scan_spans(growing, {}, resizes)
    growing.extend(b"\x08\x01")  # released again, also after an error
    with pytest.raises(ValueError):
        impl.scan_spans(bytearray(b"\x0a\x09"), {}, classify)
    assert impl.scan_spans(growing, {}, classify) == ([(0, 0, 0, LLM)], [])


def test_native_module_in_use_when_required() -> None:
    expected = native.scan_spans if scan.NATIVE and native is not None else _scan_py.scan_spans
    assert scan.scan_spans is expected
    assert scan.parents is (native.parents if scan.NATIVE and native is not None else _scan_py.parents)
    if os.environ.get("LLMPULSE_REQUIRE_NATIVE") == "1":
        assert scan.NATIVE is True
        assert native is not None and native.__file__ is not None and native.__file__.endswith(".so")


def test_without_the_extension_the_twin_is_used_unless_native_is_required() -> None:
    """A fresh interpreter where ``llmpulse.otlp._scan`` cannot be imported."""
    code = (
        "import sys; sys.modules['llmpulse.otlp._scan'] = None\n"
        "from llmpulse.otlp import scan, _scan_py\n"
        "assert scan.NATIVE is False and scan.scan_spans is _scan_py.scan_spans\n"
        "print('fallback')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LLMPULSE_REQUIRE_NATIVE"}
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert (ran.returncode, ran.stdout) == (0, "fallback\n"), ran.stderr
    env["LLMPULSE_REQUIRE_NATIVE"] = "1"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert ran.returncode == 1
    wanted = "ImportError: LLMPULSE_REQUIRE_NATIVE=1 but the native scanner llmpulse.otlp._scan is not built"
    assert wanted in ran.stderr
    assert "apt-get install gcc libc6-dev" in ran.stderr and "pip install -e ." in ran.stderr


# -- generated requests, read by upb as the oracle ------------------------------------------------------
KEYS = [
    "gen_ai.request.model",
    "gen_ai.prompt",
    "gen_ai.completion.0.content",
    "gen_ai.usage.input_tokens",
    "llm.model_name",
    "llm.token_count.total",
    "http.method",
    "http.url",
    "http.request.header.authorization",
    "db.statement",
    "api_key",
    "x",
    "",
    "ünïcode.ключ",
    "k" * 200,  # a two-byte length
]


class Gen:
    """A random ExportTraceServiceRequest written field by field: spans merged from several
    pieces (repeated ids, attributes among other fields), keys repeated or absent inside a
    KeyValue, unknown fields (new numbers of every wire type, known numbers with a wrong one)
    at every level. Valid protobuf, so that upb decodes it."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def key(self) -> str:
        r = self.r
        if r.random() < 0.8:
            return r.choice(KEYS)
        return f"{r.choice(('gen_ai.x', 'http.x', 'custom.', 'my_api_key.'))}{r.randrange(300)}"  # many keys

    def unknown(self, length_delimited: tuple[int, ...]) -> bytes:
        """A new field number with any wire type, or a known length-delimited one as a scalar."""
        r = self.r
        if length_delimited and r.random() < 0.4:
            field, wire = r.choice(length_delimited), r.choice((0, 1, 5))
        else:
            field, wire = r.choice((100, 2047, 2048, 65536, 536870911)), r.choice((0, 1, 2, 5))
        if wire == 0:
            return tag(field, 0) + varint(r.choice((0, 1, 300, 2**63, 2**64 - 1)))
        if wire == 1:
            return tag(field, 1) + r.randbytes(8)
        if wire == 5:
            return tag(field, 5) + r.randbytes(4)
        return ld(field, r.randbytes(r.choice((0, 3, 16, 200))))

    def mix(self, pieces: list[bytes], unknown: tuple[int, ...], rate: float = 0.3) -> bytes:
        """``pieces`` in order, with unknown fields between them."""
        out: list[bytes] = []
        for piece in pieces:
            while self.r.random() < rate:
                out.append(self.unknown(unknown))
            out.append(piece)
        while self.r.random() < rate:
            out.append(self.unknown(unknown))
        return b"".join(out)

    def value(self) -> AnyValue:
        r = self.r
        kind = r.randrange(5)
        if kind == 0:
            return AnyValue(string_value=r.choice(("", "gen_ai.system", "x" * 300)))
        if kind == 1:
            return AnyValue(int_value=r.choice((0, -1, 2**63 - 1)))
        if kind == 2:
            return AnyValue(bytes_value=r.randbytes(r.randrange(20)))
        if kind == 3:
            value = AnyValue()
            value.kvlist_value.values.add(key=self.key(), value=AnyValue(bool_value=True))
            return value
        return AnyValue(double_value=r.random())

    def raw_key_value(self) -> bytes:
        r = self.r
        pieces = [ld(1, self.key().encode()) for _ in range(r.choice((0, 1, 1, 1, 2, 3)))]
        if r.random() < 0.7:
            pieces.insert(r.randrange(len(pieces) + 1), ld(2, self.value().SerializeToString()))
        return self.mix(pieces, (1, 2), 0.2)

    def id(self, usual: int, odd: tuple[int, ...]) -> bytes:
        r = self.r
        return r.randbytes(usual if r.random() < 0.85 else r.choice(odd))

    def span(self) -> bytes:
        r = self.r
        base = Span(
            trace_id=self.id(16, (0, 8, 15, 17, 32)),
            span_id=self.id(8, (0, 7, 9, 16)),
            parent_span_id=self.id(8, (0, 0, 3)),
            name=r.choice(("chat", "GET /", "")),
            kind=r.randrange(6),
            start_time_unix_nano=r.randrange(2**63),
            attributes=[KeyValue(key=self.key(), value=self.value()) for _ in range(r.randrange(7))],
        )
        if r.random() < 0.3:  # event and link attributes are not span attributes
            base.events.add(name="gen_ai.content.prompt", attributes=[kv(self.key())])
        if r.random() < 0.2:
            base.links.add(trace_id=r.randbytes(16), span_id=r.randbytes(8), attributes=[kv(self.key())])
        if r.random() < 0.3:
            base.status.code = 2
        pieces = [base.SerializeToString()]
        for _ in range(r.choice((0, 0, 0, 1, 2, 4))):  # merged into the same span, in wire order
            choice = r.randrange(4)
            if choice == 0:
                pieces.append(ld(1, self.id(16, (0, 15))))
            elif choice == 1:
                pieces.append(ld(2, self.id(8, (0, 16))))
            elif choice == 2:
                pieces.append(ld(4, self.id(8, (0, 5))))
            else:
                pieces.append(ld(9, self.raw_key_value()))
        r.shuffle(pieces)
        return self.mix(pieces, (1, 2, 3, 4, 5, 9, 11, 13, 15), 0.15)

    def scope_spans(self) -> bytes:
        r = self.r
        pieces = [ld(2, self.span()) for _ in range(r.choice((0, 1, 2, 3, 5, 8)))]
        if r.random() < 0.6:  # the scope, anywhere among the spans
            scope = InstrumentationScope(name=r.choice(("openai", "")), attributes=[kv(self.key())])
            pieces.insert(r.randrange(len(pieces) + 1), ld(1, scope.SerializeToString()))
        if r.random() < 0.2:
            pieces.insert(r.randrange(len(pieces) + 1), ld(3, b"https://opentelemetry.io/schemas/1.26.0"))
        return self.mix(pieces, (1, 2, 3))

    def resource_spans(self) -> bytes:
        r = self.r
        pieces = [ld(2, self.scope_spans()) for _ in range(r.choice((0, 1, 1, 2, 3)))]
        if r.random() < 0.7:
            resource = Resource(attributes=[kv("service.name"), kv(self.key())])
            pieces.insert(r.randrange(len(pieces) + 1), ld(1, resource.SerializeToString()))
        return self.mix(pieces, (1, 2, 3))

    def request(self) -> bytes:
        return self.mix([ld(1, self.resource_spans()) for _ in range(self.r.choice((0, 1, 1, 2, 3)))], (1,))

    def initial_flags(self) -> dict[bytes, int]:
        """What an earlier scan left in the shared dict (values need not match classify)."""
        r = self.r
        return {k.encode(): r.choice((0, 1, 2, 4, 7, 2**40)) for k in r.sample(KEYS, r.randrange(4))}


def oracle(body: bytes, initial: dict[bytes, int]) -> tuple[Any, dict[bytes, int], list[bytes]]:
    """What the pipeline's Python loop computes from the upb-decoded request: results, the
    dict afterwards, and the keys classified (the first time each is seen, in order)."""
    decoded = ExportTraceServiceRequest.FromString(body)
    key_flags, calls = dict(initial), []
    flagged, invalid = [], []
    for i, rs in enumerate(decoded.resource_spans):
        for j, ss in enumerate(rs.scope_spans):
            for k, sp in enumerate(ss.spans):
                flags = 0
                for attribute in sp.attributes:
                    key = attribute.key.encode()
                    if key not in key_flags:
                        calls.append(key)
                        key_flags[key] = classify(key)
                    flags |= key_flags[key]
                if len(sp.trace_id) != 16 or len(sp.span_id) != 8:
                    invalid.append((i, j, k))
                elif flags:
                    flagged.append((i, j, k, flags))
    return (flagged, invalid), key_flags, calls


def parents_oracle(body: bytes, traces: set[bytes] | frozenset[bytes]) -> dict[tuple[bytes, bytes], bytes]:
    """``pipeline._parents`` on the upb-decoded request, restricted to valid ids."""
    parents = {}
    for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
        for ss in rs.scope_spans:
            for sp in ss.spans:
                if len(sp.trace_id) == 16 and len(sp.span_id) == 8 and sp.trace_id in traces:
                    parents[(sp.trace_id, sp.span_id)] = sp.parent_span_id
    return parents


def test_the_generator_makes_what_the_differential_tests_need() -> None:
    """Over 300 requests: flagged and invalid spans, many keys, and wire format that is not what
    upb writes back (merged duplicates, unknown fields, fields out of order)."""
    spans = flagged = invalid = non_canonical = 0
    keys: set[bytes] = set()
    for seed in range(300):
        body = Gen(seed).request()
        (found, bad), key_flags, _ = oracle(body, {})
        decoded = ExportTraceServiceRequest.FromString(body)
        spans += sum(len(ss.spans) for rs in decoded.resource_spans for ss in rs.scope_spans)
        flagged, invalid, keys = flagged + len(found), invalid + len(bad), keys | set(key_flags)
        non_canonical += decoded.SerializeToString() != body
    assert spans > 1000 and flagged > 200 and invalid > 100
    assert len(keys) > 300  # beyond the C cache's first table (64 slots)
    assert non_canonical > 150


@settings(DIFFERENTIAL, max_examples=6_000)
@given(seed=SEEDS)
def test_scan_spans_agrees_with_upb(seed: int) -> None:
    gen = Gen(seed)
    body = gen.request()
    initial = gen.initial_flags()
    expected, expected_flags, expected_calls = oracle(body, initial)
    for impl in IMPLS:
        key_flags, counting = dict(initial), Counting()
        assert impl.scan_spans(body, key_flags, counting) == expected
        assert list(key_flags.items()) == list(expected_flags.items())
        assert counting.calls == expected_calls  # each unknown key once, in wire order
        assert impl.scan_spans(body, key_flags, counting) == expected  # shared dict: none again
        assert counting.calls == expected_calls


@settings(DIFFERENTIAL, max_examples=4_000)
@given(seed=SEEDS)
def test_parents_agrees_with_upb(seed: int) -> None:
    gen = Gen(seed)
    body = gen.request()
    decoded = ExportTraceServiceRequest.FromString(body)
    present = sorted(
        {sp.trace_id for rs in decoded.resource_spans for ss in rs.scope_spans for sp in ss.spans}
    )
    traces = set(gen.r.sample(present, gen.r.randrange(len(present) + 1))) | {gen.r.randbytes(16)}
    expected = parents_oracle(body, traces)
    indexes = []
    for impl in IMPLS:
        index = bytearray(b"stale")
        impl.locate_spans(body, {}, classify, index)
        indexes.append(bytes(index))
        for given_traces in (traces, frozenset(traces)):
            got = impl.parents(body, given_traces)
            assert list(got.items()) == list(expected.items())
            # read from locate_spans' index of the same body instead of a walk: the same dict
            assert list(impl.parents(body, given_traces, index).items()) == list(expected.items())
    assert all(index == indexes[0] for index in indexes)
    valid = sum(
        len(sp.trace_id) == 16 and len(sp.span_id) == 8
        for rs in decoded.resource_spans
        for ss in rs.scope_spans
        for sp in ss.spans
    )
    assert len(indexes[0]) == 40 * valid


def test_an_index_that_does_not_fit_the_body_is_refused() -> None:
    body = request([[span(b"T" * 16, b"S" * 8, parent=b"P" * 8)]])
    index = bytearray()
    for impl in IMPLS:
        impl.locate_spans(body, {}, classify, index)
        # the trace_id, then where the span_id and parent_span_id are, and the parent's length
        assert len(index) == 40 and index[:16] == b"T" * 16
        span_at, parent_at, parent_len = (int.from_bytes(index[x : x + 8], "little") for x in (16, 24, 32))
        assert (
            body[span_at : span_at + 8] == b"S" * 8 and body[parent_at : parent_at + parent_len] == b"P" * 8
        )
    assert run_all("parents", body, {b"T" * 16}, bytes(index)) == {(b"T" * 16, b"S" * 8): b"P" * 8}
    past = bytearray(index)
    past[32:40] = (len(body)).to_bytes(8, "little")  # a parent running past the end
    negative = bytearray(index)
    negative[16:24] = (-1).to_bytes(8, "little", signed=True)
    for impl in IMPLS:
        for bad in (past, negative):
            with pytest.raises(ValueError, match=r"^parents: index entry 0 is not in the body$"):
                impl.parents(body, {b"T" * 16}, bytes(bad))
        with pytest.raises(ValueError, match=r"^parents: an index is 40-byte entries, not 39 bytes$"):
            impl.parents(body, set(), bytes(index[:39]))
        with pytest.raises(TypeError, match="index must be a bytearray or None, not bytes"):
            impl.locate_spans(body, {}, classify, b"")


# -- malformed bytes ----------------------------------------------------------------------------------
#: groups, wire types 6/7, field 0, an 11-byte varint, a 2**31 length, a bare tag, a long length
JUNK = (b"\x0b", b"\x0c", b"\x0e", b"\x00", b"\xff" * 11, b"\x0a\xff\xff\xff\xff\x0f", b"\x09", b"\x12\x7f")


def mutated(gen: Gen) -> bytes:
    """A valid request cut, flipped, spliced or given junk tags and lengths."""
    r = gen.r
    body = bytearray(gen.request())
    for _ in range(r.choice((1, 1, 2, 3))):
        if not body:
            body += r.randbytes(r.randrange(1, 8))
            continue
        at = r.randrange(len(body))
        op = r.randrange(7)
        if op == 0:
            del body[at:]  # truncated
        elif op == 1:
            body[at] ^= 1 << r.randrange(8)
        elif op == 2:
            body[at] = r.randrange(256)
        elif op == 3:
            body[at:at] = r.randbytes(r.randrange(1, 12))
        elif op == 4:
            del body[at : at + r.randrange(1, 16)]
        elif op == 5:  # tags and lengths at the edges of the rules
            body[at:at] = r.choice(JUNK)
        else:
            piece = body[at : at + r.randrange(1, 64)]  # a stretch repeated: lengths now lie
            body[at:at] = piece
    return bytes(body)


def outcome(impl: ModuleType, fn: str, body: bytes, traces: set[bytes]) -> tuple[Any, ...]:
    """What a call did: its result or ValueError message, and for scan_spans the dict and calls."""
    key_flags, counting = {b"http.method": 0}, Counting()
    try:
        if fn == "parents":
            result: Any = impl.parents(body, traces)
        else:
            result = impl.scan_spans(body, key_flags, counting)
    except ValueError as exc:
        result = ("ValueError", str(exc))
    return result, list(key_flags.items()), counting.calls


@settings(DIFFERENTIAL, max_examples=10_000)
@given(data=st.one_of(st.binary(max_size=400), SEEDS))
def test_malformed_bytes_both_raise_the_same_value_error_or_agree(data: bytes | int) -> None:
    body = data if isinstance(data, bytes) else mutated(Gen(data))
    traces = {body[i : i + 16] for i in range(0, min(len(body), 64), 4)}
    for fn in ("scan_spans", "parents"):
        outcomes = [outcome(impl, fn, body, traces) for impl in IMPLS]  # any other exception fails here
        assert all(o == outcomes[0] for o in outcomes[1:])
        result = outcomes[0][0]
        try:
            ExportTraceServiceRequest.FromString(body)
        except DecodeError:
            continue
        # upb reads it: then the scanner reads it the same way, or refuses an (unknown) group,
        # which upb keeps and the scanner does not support
        if isinstance(result, tuple) and result[:1] == ("ValueError",):
            assert "(group) is not supported" in result[1]
        elif fn == "parents":
            assert result == parents_oracle(body, traces)
        else:
            assert result == oracle(body, {b"http.method": 0})[0]


# -- references and memory -------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)
def test_no_reference_or_memory_leaks_on_success_or_error_paths(impl: ModuleType) -> None:
    body = request(
        [[span(b"T" * 16, b"S" * 8, "gen_ai.system", "http.url"), span(b"T" * 15, b"", "x")]],
        [[span(b"U" * 16, b"s" * 8, "api_key", parent=b"S" * 8)]],
    )
    malformed = body[:-3]
    traces = {b"T" * 16, b"U" * 16}
    key_flags: dict[bytes, int] = {}

    def flags_of(key: bytes) -> int:
        return classify(key) | 2**40  # a fresh int object each time: a leak would show

    def refuses(key: bytes) -> int:
        raise RuntimeError(key)

    def counts() -> tuple[int, ...]:
        return tuple(sys.getrefcount(o) for o in (key_flags, flags_of, refuses, body, malformed, traces))

    assert impl.scan_spans(body, key_flags, flags_of) == (
        [(0, 0, 0, LLM | 2**40), (1, 0, 0, CREDENTIAL | 2**40)],
        [(0, 0, 1)],
    )
    # 10,000 rounds of the C module; the twin holds no references by hand, 1,000 rounds suffice
    rounds, refused = (10_000 if impl is native else 1_000), 0
    gc.collect()
    before, objects = counts(), len(gc.get_objects())
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for n in range(rounds):
            result = impl.scan_spans(body, key_flags, flags_of)
            assert sys.getrefcount(result) == 2  # only `result` and the call's argument
            impl.parents(body, traces)
            impl.scan_spans(body, {}, flags_of)  # every key classified and stored
            try:
                impl.scan_spans(malformed, key_flags, flags_of)
            except ValueError:
                refused += 1
            try:
                impl.parents(malformed, traces)
            except ValueError:
                refused += 1
            try:
                impl.scan_spans(body, {}, refuses)
            except RuntimeError:
                refused += 1
            try:
                impl.scan_spans(body, {b"gen_ai.system": "1"}, flags_of)
            except TypeError:
                refused += 1
            if n == 100:  # allocator and interpreter caches warmed up
                gc.collect()
                start = tracemalloc.get_traced_memory()[0]
        del result
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert refused == 4 * rounds
    assert counts() == before
    assert len(gc.get_objects()) - objects < 50
    assert grown < 32 * 1024, f"{grown} bytes more after {rounds} rounds"


# -- the pipeline's path without the C module: the same answers from the decoded request -----------


@settings(DIFFERENTIAL, max_examples=1_000)
@given(seed=SEEDS)
def test_scan_message_agrees_with_upb(seed: int) -> None:
    gen = Gen(seed)
    body = gen.request()
    initial = gen.initial_flags()
    expected, expected_flags, _ = oracle(body, initial)
    decoded = ExportTraceServiceRequest.FromString(body)
    key_flags = dict(initial)
    assert scan.scan_message(decoded, key_flags, classify) == expected
    assert key_flags == expected_flags
    present = {sp.trace_id for rs in decoded.resource_spans for ss in rs.scope_spans for sp in ss.spans}
    assert scan.message_parents(decoded, present) == parents_oracle(body, present)
