"""``plan_write_back`` hands a counted call's values to ``plan_pairs`` (C, with a Python twin)
instead of building ``written_attributes``' dict for ``plan_attributes``: the edits and appends
must be the same, in the same order, for any call and any attributes the span already has."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmpulse.call import LLMCall
from llmpulse.enrich import plan_write_back, written_attributes
from llmpulse.enrich._writeback import _CANONICAL_KEYS, _WRITTEN_KEYS, _canonical_values, _written_values
from llmpulse.otlp import AttributeAppends, AttributeEdits, _scan_py, plan_attributes, write_over
from llmpulse.otlp.scan import NATIVE, plan_pairs

_OPTIONAL_INT = st.one_of(st.none(), st.integers(0, 5))
_CALLS = st.builds(
    LLMCall,
    dialect=st.sampled_from(["semconv", "openlit"]),
    operation=st.sampled_from(["chat", "embeddings"]),
    provider=st.one_of(st.none(), st.just("openai")),
    request_model=st.one_of(st.none(), st.sampled_from(["gpt-4o", "m"])),
    response_model=st.one_of(st.none(), st.just("gpt-4o")),
    input_tokens=_OPTIONAL_INT,
    output_tokens=_OPTIONAL_INT,
    cache_read_tokens=_OPTIONAL_INT,
    cache_write_tokens=_OPTIONAL_INT,
    reasoning_tokens=_OPTIONAL_INT,
    streaming=st.one_of(st.none(), st.booleans()),
    ttft_s=st.one_of(st.none(), st.sampled_from([0.0, -0.0, 0.25, math.nan])),
    finish_reasons=st.lists(st.sampled_from(["stop", "length"]), max_size=2),
    failed=st.booleans(),
    error_class=st.one_of(st.none(), st.just("rate_limit")),
    error_raw=st.one_of(st.none(), st.just("429")),
    cost_usd=st.one_of(st.none(), st.floats(0, 1)),
    price_version=st.one_of(st.none(), st.just("2026-11")),
)
#: what a span may already hold under the keys write-back writes
_OLD = st.one_of(
    st.sampled_from(["gpt-4o", "chat", "openai", "429", "stop", "", "m"]),
    st.integers(0, 5),
    st.booleans(),
    st.sampled_from([0.0, -0.0, 0.25, math.nan, 1.0]),
    st.lists(st.sampled_from(["stop", "length"]), max_size=2),
    st.lists(st.integers(0, 2), max_size=2),
)
_CURRENT = st.dictionaries(st.sampled_from([*_WRITTEN_KEYS, "other"]), _OLD, max_size=10)


def _typed(edits: AttributeEdits, appends: AttributeAppends) -> list[Any]:
    # 1 == True == 1.0 and NaN != NaN: compare type and repr, in order
    return [(k, type(v), repr(v)) for k, v in edits.items()] + [repr(a) for a in appends]


@settings(max_examples=1000, deadline=None)
@given(call=_CALLS)
def test_written_values_are_the_tables_values_and_the_two_flags(call: LLMCall) -> None:
    """``_written_values`` reads the fields in place, for speed; the key tables
    (``_CANONICAL_KEYS``, read through their getters by ``_canonical_values``) say which
    value is which, so a field added to a table and not there, or out of order, fails here."""
    written = _written_values(call)
    assert len(_canonical_values(call)) == len(_CANONICAL_KEYS)
    assert len(written) == len(_WRITTEN_KEYS)
    assert _same(written[:-2], _canonical_values(call))
    usage_known = call.input_tokens is not None or call.output_tokens is not None
    assert written[-2:] == (True, True if call.cost_usd is None and usage_known else None)


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Equal, NaN included (``ttft_s`` may be NaN, which is not equal to itself)."""
    return len(a) == len(b) and all(
        x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
        for x, y in zip(a, b, strict=True)
    )


@settings(max_examples=1000, deadline=None)
@given(call=_CALLS, current=_CURRENT, duplicate=st.booleans())
def test_plan_write_back_plans_what_written_attributes_would(
    call: LLMCall, current: dict[str, Any], duplicate: bool
) -> None:
    duplicate_of = b"\x01" * 8 if duplicate else None
    edits, appends = {}, []
    plan_write_back(call, duplicate_of, current, edits, appends)
    expected_edits, expected_appends = {}, []
    written = written_attributes(call, duplicate_of)
    plan_attributes(written, current, expected_edits, expected_appends, keep_original=True)
    assert _typed(edits, appends) == _typed(expected_edits, expected_appends)


@pytest.mark.skipif(not NATIVE, reason="compares the C plan_pairs with its Python twin")
@settings(max_examples=1000, deadline=None)
@given(
    current=_CURRENT,
    values=st.lists(st.one_of(st.none(), _OLD), min_size=len(_WRITTEN_KEYS), max_size=len(_WRITTEN_KEYS)),
    keep=st.booleans(),
)
def test_native_plan_pairs_matches_its_twin(current: dict[str, Any], values: list[Any], keep: bool) -> None:
    results = []
    for implementation in (plan_pairs, _scan_py.plan_pairs):
        edits: AttributeEdits = {}
        appends: AttributeAppends = []
        implementation(_WRITTEN_KEYS, tuple(values), current, edits, appends, keep, write_over)
        results.append(_typed(edits, appends))
    assert results[0] == results[1]


def test_plan_pairs_refuses_what_it_cannot_plan() -> None:
    for implementation in (plan_pairs, _scan_py.plan_pairs):
        with pytest.raises(ValueError, match="2 keys but 1 values"):
            implementation(("a", "b"), (1,), {}, {}, [], True, write_over)
