"""``locate_spans`` and ``splice``: the pipeline re-assembles a changed request from the received
bytes and the re-encoded spans and resources, so every byte it keeps must be where upb would put
the same message. Oracle: the same edits made on the upb-decoded request. Both implementations
(C and its Python twin) must agree byte for byte, errors included."""

from __future__ import annotations

import random
from types import ModuleType
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.otlp.test_scan import (
    DIFFERENTIAL,
    IMPL_IDS,
    IMPLS,
    SEEDS,
    Gen,
    classify,
    ld,
    mutated,
    request,
    span,
)

Edits = tuple[list[tuple[int, int, int, bytes | None]], list[tuple[int, bytes]]]


def all_spans(decoded: ExportTraceServiceRequest) -> list[tuple[int, int, int, Span]]:
    return [
        (i, j, k, sp)
        for i, rs in enumerate(decoded.resource_spans)
        for j, ss in enumerate(rs.scope_spans)
        for k, sp in enumerate(ss.spans)
    ]


def random_edits(r: random.Random, body: bytes) -> tuple[Edits, ExportTraceServiceRequest]:
    """Edits of random spans (changed, emptied or dropped) and resources, and the upb request
    with the same edits made: what the spliced bytes must decode to."""
    expected = ExportTraceServiceRequest.FromString(body)
    spans: list[tuple[int, int, int, bytes | None]] = []
    for i, j, k, sp in all_spans(ExportTraceServiceRequest.FromString(body)):
        roll = r.random()
        if roll < 0.5:
            continue
        if roll < 0.65:
            spans.append((i, j, k, None))
            continue
        if roll < 0.7:
            sp.Clear()  # an empty span: a zero-length field
        else:
            sp.attributes.add(key="llmpulse.dialect", value=AnyValue(string_value="semconv"))
            if sp.attributes and r.random() < 0.5:
                del sp.attributes[0]
        spans.append((i, j, k, sp.SerializeToString()))
        expected.resource_spans[i].scope_spans[j].spans[k].CopyFrom(sp)
    for i, j, k, new in reversed(spans):
        if new is None:
            del expected.resource_spans[i].scope_spans[j].spans[k]
    resources: list[tuple[int, bytes]] = []
    for i, rs in enumerate(expected.resource_spans):
        if r.random() < 0.4:
            resource = Resource(attributes=[KeyValue(key="k8s.pod.name", value=AnyValue(string_value="p-1"))])
            if r.random() < 0.5:
                resource.MergeFrom(rs.resource)
            rs.resource.CopyFrom(resource)
            resources.append((i, resource.SerializeToString()))
    return (spans, resources), expected


def splice_all(body: bytes, edits: Edits) -> Any:
    """``splice`` on every implementation: the bytes, or the error's type and message; all agree."""
    outcomes = []
    for impl in IMPLS:
        try:
            outcomes.append(impl.splice(body, list(edits[0]), list(edits[1])))
        except (ValueError, TypeError) as exc:
            outcomes.append((type(exc).__name__, str(exc)))
    assert all(o == outcomes[0] for o in outcomes[1:]), outcomes
    return outcomes[0]


# -- exact results ---------------------------------------------------------------------------------
def test_locate_spans_gives_each_flagged_span_its_bytes() -> None:
    llm = span(b"T" * 16, b"A" * 8, "gen_ai.request.model")
    plain = span(b"T" * 16, b"B" * 8, "http.method")
    body = request([[plain, llm]], [[llm]])
    for impl in IMPLS:
        flagged, invalid = impl.locate_spans(body, {}, classify)
        assert [f[:4] for f in flagged] == [(0, 0, 1, 1), (1, 0, 0, 1)]
        assert invalid == []
        assert [body[start:stop] for *_, start, stop in flagged] == [llm.SerializeToString()] * 2
        assert (flagged, invalid)[0][0][:4] == impl.scan_spans(body, {}, classify)[0][0]


def test_splice_replaces_drops_and_keeps_every_other_byte() -> None:
    a, b, c = (span(b"T" * 16, bytes([n]) * 8, "gen_ai.x") for n in (1, 2, 3))
    body = request([[a, b], [c]], [[a]])
    changed = Span()
    changed.CopyFrom(b)
    changed.attributes.add(key="llmpulse.counted").value.bool_value = True
    resource = Resource(attributes=[KeyValue(key="k8s.namespace.name", value=AnyValue(string_value="ai"))])
    edits: Edits = (
        [(0, 0, 0, None), (0, 0, 1, changed.SerializeToString())],
        [(1, resource.SerializeToString())],
    )
    out = splice_all(body, edits)
    decoded = ExportTraceServiceRequest.FromString(out)
    assert [sp.span_id for sp in decoded.resource_spans[0].scope_spans[0].spans] == [b"\x02" * 8]
    assert decoded.resource_spans[0].scope_spans[0].spans[0] == changed
    assert decoded.resource_spans[0].scope_spans[1].spans[0].SerializeToString() == c.SerializeToString()
    assert decoded.resource_spans[1].resource == resource
    # what was not edited is the received bytes: the second resource_spans' scope, untouched
    assert (
        ld(2, ExportTraceServiceRequest.FromString(body).resource_spans[1].scope_spans[0].SerializeToString())
        in out
    )
    assert splice_all(body, ([], [])) == body


@pytest.mark.parametrize(("before", "after"), [(40, 200), (200, 40), (60_000, 10), (10, 20_000)])
def test_enclosing_lengths_that_change_size_are_rewritten(before: int, after: int) -> None:
    """A replaced span whose length moves its ScopeSpans and ResourceSpans across a varint size
    (127/128 bytes, 16 383/16 384): ``splice`` writes the enclosing messages once, leaving the
    old length's size for the new one, and must move them when it differs."""

    def sized(n: int) -> Span:
        sp = span(b"T" * 16, b"S" * 8)
        sp.name = "x" * n
        return sp

    body = request([[sized(before)]])
    new = sized(after)
    out = splice_all(body, ([(0, 0, 0, new.SerializeToString())], []))
    assert isinstance(out, bytes)
    expected = ExportTraceServiceRequest.FromString(body)
    expected.resource_spans[0].scope_spans[0].spans[0].CopyFrom(new)
    assert out == expected.SerializeToString()
    got = ExportTraceServiceRequest.FromString(out).resource_spans[0].scope_spans[0].spans[0]
    assert got.name == "x" * after


def test_a_resource_absent_or_given_twice_is_replaced_once() -> None:
    scope = ld(2, ld(2, span(b"T" * 16, b"S" * 8).SerializeToString()))
    old = Resource(attributes=[KeyValue(key="a", value=AnyValue(int_value=1))]).SerializeToString()
    new = Resource(attributes=[KeyValue(key="b", value=AnyValue(int_value=2))]).SerializeToString()
    no_resource = ld(1, scope)
    twice = ld(1, ld(1, old) + scope + ld(1, old))
    assert splice_all(no_resource, ([], [(0, new)])) == ld(1, scope + ld(1, new))
    assert splice_all(twice, ([], [(0, new)])) == ld(1, ld(1, new) + scope)


@pytest.mark.parametrize(
    ("edits", "error"),
    [
        (([(0, 0, 5, None)], []), ("ValueError", "splice: span (0, 0, 5) is not in the request")),
        (([(0, 3, 0, None)], []), ("ValueError", "splice: span (0, 3, 0) is not in the request")),
        (([(2, 0, 0, b"")], []), ("ValueError", "splice: span (2, 0, 0) is not in the request")),
        (([], [(1, b"")]), ("ValueError", "splice: resource_spans 1 is not in the request")),
        (
            ([(0, 0, 1, None), (0, 0, 0, None)], []),
            ("ValueError", "splice spans must be strictly ascending (at 1)"),
        ),
        (
            ([(0, 0, 0, None), (0, 0, 0, None)], []),
            ("ValueError", "splice spans must be strictly ascending (at 1)"),
        ),
        (([], [(0, b""), (0, b"")]), ("ValueError", "splice resources must be strictly ascending (at 1)")),
        (([(0, 0, -1, None)], []), ("ValueError", "splice spans[0]: negative index")),
        (([(0, 0, 0)], []), ("TypeError", "splice spans[0] must be (i, j, k, bytes | None)")),
        (([[0, 0, 0, None]], []), ("TypeError", "splice spans[0] must be (i, j, k, bytes | None)")),
        (
            ([(0, 0, 0, "x")], []),
            ("TypeError", "splice spans[0]: the new encoding must be bytes or None, not str"),
        ),
        (
            ([], [(0, None)]),
            ("TypeError", "splice resources[0]: the new encoding must be bytes, not NoneType"),
        ),
    ],
)
def test_edits_that_do_not_fit_the_request_are_refused(edits: Edits, error: tuple[str, str]) -> None:
    body = request([[span(b"T" * 16, b"S" * 8), span(b"T" * 16, b"U" * 8)]])
    assert splice_all(body, edits) == error


@pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)
def test_splice_arguments_must_be_lists(impl: ModuleType) -> None:
    with pytest.raises(TypeError):
        impl.splice(b"", (), [])


# -- generated requests ----------------------------------------------------------------------------
@settings(DIFFERENTIAL, max_examples=3_000)
@given(seed=SEEDS)
def test_locate_spans_agrees_with_scan_spans_and_upb(seed: int) -> None:
    body = Gen(seed).request()
    decoded = ExportTraceServiceRequest.FromString(body)
    results = [impl.locate_spans(body, {}, classify) for impl in IMPLS]
    assert all(r == results[0] for r in results[1:])
    flagged, invalid = results[0]
    assert ([f[:4] for f in flagged], invalid) == IMPLS[0].scan_spans(body, {}, classify)
    for i, j, k, _flags, start, stop in flagged:
        assert Span.FromString(body[start:stop]) == decoded.resource_spans[i].scope_spans[j].spans[k]


@settings(DIFFERENTIAL, max_examples=4_000)
@given(seed=SEEDS)
def test_splice_agrees_with_the_same_edits_made_by_upb(seed: int) -> None:
    gen = Gen(seed)
    body = gen.request()
    edits, expected = random_edits(gen.r, body)
    out = splice_all(body, edits)
    got = ExportTraceServiceRequest.FromString(out)
    assert got.SerializeToString(deterministic=True) == expected.SerializeToString(deterministic=True)


@settings(DIFFERENTIAL, max_examples=4_000)
@given(data=st.one_of(st.binary(max_size=400), SEEDS), edit_seed=SEEDS)
def test_malformed_bytes_are_refused_alike_and_never_crash(data: bytes | int, edit_seed: int) -> None:
    body = data if isinstance(data, bytes) else mutated(Gen(data))
    r = random.Random(edit_seed)
    spans = sorted({(r.randrange(3), r.randrange(3), r.randrange(4)) for _ in range(r.randrange(4))})
    edits: Edits = (
        [(*at, r.choice((None, b"", b"\x0a\x00"))) for at in spans],
        [(0, b"")] if r.random() < 0.3 else [],
    )
    out = splice_all(body, edits)  # any exception other than ValueError fails here
    if isinstance(out, bytes):
        try:
            ExportTraceServiceRequest.FromString(body)
        except DecodeError:
            return  # a part splice never entered (kept as bytes) may be what upb refuses
        ExportTraceServiceRequest.FromString(out)  # a valid request stays valid


# -- find_any ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)
def test_find_any(impl: ModuleType) -> None:
    text = b"Authorization: Bearer abc, key sk-123"
    assert impl.find_any(text, (b"Bearer", b"sk-")) is True
    assert impl.find_any(text, (b"nope", b"sk-1234")) is False
    assert impl.find_any(text, (b"nope", b"123")) is True  # at the very end
    assert impl.find_any(b"", (b"x",)) is False
    assert impl.find_any(b"", (b"",)) is True  # as b"" in b""
    assert impl.find_any(memoryview(text)[:5], (b"Autho",)) is True
    assert impl.find_any(text, ()) is False
    with pytest.raises(TypeError):
        impl.find_any(text, [b"x"])
    with pytest.raises(TypeError):
        impl.find_any(text, ("x",))


@settings(DIFFERENTIAL, max_examples=2_000)
@given(data=st.binary(max_size=300), needles=st.lists(st.binary(max_size=6), max_size=3))
def test_find_any_is_in(data: bytes, needles: list[bytes]) -> None:
    for impl in IMPLS:
        assert impl.find_any(data, tuple(needles)) == any(n in data for n in needles)


#: few distinct bytes, so that needles occur, nearly occur and overlap (C anchors short needles
#: on one byte and compares around it; long ones go to memmem)
_TEXTY = st.binary(max_size=40).map(lambda b: bytes(b"sk-Bear r.a0"[x % 12] for x in b))


@settings(DIFFERENTIAL, max_examples=3_000)
@given(data=_TEXTY, needles=st.lists(st.one_of(_TEXTY.map(lambda b: b[:9]), _TEXTY), max_size=3))
def test_find_any_is_in_for_text_with_near_misses(data: bytes, needles: list[bytes]) -> None:
    expected = any(n in data for n in needles)
    for impl in IMPLS:
        assert impl.find_any(data, tuple(needles)) == expected
    if data:  # and at the very end of an exactly-sized buffer
        assert IMPLS[-1].find_any(memoryview(data)[1:], tuple(needles)) == any(n in data[1:] for n in needles)
