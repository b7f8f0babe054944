"""``Deduplicator`` memory across requests: covered ancestors are bounded, least recent out first;
partners are the nearest unpaired ones, and what is remembered is plain tuples."""

from __future__ import annotations

import gc

from llmpulse.call import LLMCall
from llmpulse.dialects import DIALECTS, Dialect
from llmpulse.normalise import Deduplicator
from llmpulse.normalise._dedup import Candidate, SpanKey, _nearest, _tracked, untracked

NATIVE = untracked is not _tracked

SEMCONV = next(d for d in DIALECTS if d.name == "semconv")
TRACE = bytes(range(16))
T0 = 1_780_000_000 * 10**9


def _cand(span: bytes, parent: bytes = b"", start_s: float = 0.0) -> Candidate:
    start = T0 + int(start_s * 1e9)
    call = LLMCall(dialect="semconv", operation="chat", request_model="gpt-4o", input_tokens=1)
    return Candidate(call, SEMCONV, ("svc",), TRACE, span, parent, start, start + 10**8)


def test_covered_ancestors_keep_the_most_recently_covered_within_the_bound() -> None:
    """C sits under P1 → P2 → P3, D under X → P3: covering P1, P2, P3, X, P3 again leaves room
    for two, so X and P3 are remembered and a late span at either is C's or D's duplicate."""
    p1, p2, p3, x = b"P1______", b"P2______", b"P3______", b"X_______"
    chain: dict[SpanKey, bytes] = {(TRACE, p1): p2, (TRACE, p2): p3, (TRACE, x): p3}
    dedup = Deduplicator(max_entries=2, clock=lambda: 10.0)
    c, d = _cand(b"C_______", p1), _cand(b"D_______", x, start_s=5.0)
    dedup.resolve([c, d], lambda traces: chain if TRACE in traces else {})
    assert (c.duplicate_of, d.duplicate_of) == (None, None)

    late = [_cand(span, start_s=20.0 + i) for i, span in enumerate((p1, p2, x, p3))]
    if NATIVE:  # the covered ancestors' keys are remembered untracked, as dedup's entries are
        assert list(dedup._covered) == [(TRACE, x), (TRACE, p3)]
        assert not any(gc.is_tracked(key) for key in dedup._covered)
    dedup.resolve(late, lambda traces: {})
    assert [(cand.duplicate_of, cand.duplicate_reason) for cand in late] == [
        (None, None),
        (None, None),
        (d.span_id, "nested"),
        (d.span_id, "nested"),
    ]


def test_nearest_takes_the_first_of_equally_near_unpaired_partners_of_the_other_kind() -> None:
    """Entries are ``(seen, start, end, kind, model, span, paired)``: the other kind only, a
    matching model (None matches any), overlapping by half the shorter span, nearest start."""
    entries = [
        (0.0, 100, 200, True, "gpt-4o", b"same-kind", False),
        (0.0, 90, 190, False, "o3", b"other-model", False),
        (0.0, 90, 190, False, "gpt-4o", b"paired", True),
        (0.0, 300, 400, False, None, b"no-overlap", False),
        (0.0, 90, 190, False, None, b"first-of-tie", False),
        (0.0, 110, 210, False, "gpt-4o", b"second-of-tie", False),
        (0.0, 60, 160, False, "gpt-4o", b"farther", False),
    ]
    assert _nearest(100, 200, entries, True, "gpt-4o") == 4
    assert _nearest(100, 200, entries, True, None) == 1  # any model: o3 starts as near, and first
    assert _nearest(100, 200, entries, False, "gpt-4o") == 0
    assert _nearest(100, 200, entries[1:4], True, "gpt-4o") == -1
    # half the shorter span is enough: [150, 250] overlaps [100, 200] by 50 of 100
    assert _nearest(150, 250, [(0.0, 100, 200, False, None, b"half", False)], True, None) == 0
    assert _nearest(151, 251, [(0.0, 100, 200, False, None, b"less", False)], True, None) == -1
    assert _nearest(100, 300, [(0.0, 199, 251, False, None, b"short", False)], True, None) == 0
    assert _nearest(100, 300, [(0.0, 275, 351, False, None, b"short", False)], True, None) == -1


def test_a_paired_partner_is_not_paired_again_and_memory_is_plain_untracked_tuples() -> None:
    """An Anthropic SDK span pairs with the instrumentor span of an earlier request once; a
    second instrumentor span of the same call time is counted. What is remembered is tuples of
    atoms, which the garbage collector does not walk: with the C module they are untracked as
    they are made (young collections walked ~30 000 of them, 6-21 ms each); without it, at the
    collector's next passes."""
    sdk = next(d for d in DIALECTS if d.sdk_native)
    dedup = Deduplicator(clock=lambda: 10.0)
    first = _cand(b"I1______", start_s=1.0)
    dedup.resolve([first], lambda traces: {})
    native = _elsewhere(_cand(b"SDK_____", start_s=1.0), sdk, b"T2" * 8)
    again = _elsewhere(_cand(b"SDK2____", start_s=1.0), sdk, b"T3" * 8)
    dedup.resolve([native], lambda traces: {})
    dedup.resolve([again], lambda traces: {})
    assert (native.duplicate_of, native.duplicate_reason) == (b"I1______", "sdk_sibling")
    assert (again.duplicate_of, again.duplicate_reason) == (None, None)
    if not NATIVE:
        gc.collect()  # entries are untracked here; a trace's tuple of them at the next collection
        gc.collect()
    remembered = [entry for resource in dedup._recent.values() for entry in resource.entries]
    remembered += [entry for entries in dedup._traces.values() for entry in entries]
    assert [entry[5] for entry in remembered] == [b"I1______", b"SDK2____", b"I1______", b"SDK2____"]
    assert [entry[6] for entry in remembered] == [True, False, False, False]
    assert not any(gc.is_tracked(entry) for entry in remembered)
    assert not any(gc.is_tracked(entries) for entries in dedup._traces.values())


def _elsewhere(cand: Candidate, dialect: Dialect, trace: bytes) -> Candidate:
    """``cand`` as a span of ``dialect`` in its own trace (the SDK's span beside the instrumentor's)."""
    return Candidate(
        cand.call, dialect, cand.resource_key, trace, cand.span_id, b"", cand.start_ns, cand.end_ns
    )
