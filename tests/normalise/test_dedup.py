"""``Deduplicator`` memory across requests: covered ancestors are bounded, least recent out first."""

from __future__ import annotations

from llmpulse.call import LLMCall
from llmpulse.dialects import DIALECTS
from llmpulse.normalise import Deduplicator
from llmpulse.normalise._dedup import Candidate, SpanKey

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
    dedup.resolve(late, lambda traces: {})
    assert [(cand.duplicate_of, cand.duplicate_reason) for cand in late] == [
        (None, None),
        (None, None),
        (d.span_id, "nested"),
        (d.span_id, "nested"),
    ]
