"""``set_attributes`` with and without the caller's dict of current values writes the same span."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llmpulse.otlp import attrs_to_dict, set_attributes

KEYS = st.sampled_from(["gen_ai.request.model", "gen_ai.usage.input_tokens", "a", "b", "llmpulse.dialect"])
VALUES = st.one_of(
    st.text(max_size=5),
    st.integers(-3, 3),
    st.booleans(),
    st.floats(allow_nan=False, width=32),
    st.lists(st.text(max_size=3), max_size=2),
)


def _span(pairs: list[tuple[str, Any]]) -> Span:
    span = Span()
    for key, value in pairs:  # repeated keys included: the last one is the value
        set_attributes(span.attributes, {"tmp": value})
        span.attributes[-1].key = key
    return span


@settings(max_examples=500, deadline=None)
@given(
    existing=st.lists(st.tuples(KEYS, VALUES), max_size=6),
    values=st.dictionaries(KEYS, VALUES, max_size=5),
    keep=st.booleans(),
)
def test_current_is_only_a_shortcut(
    existing: list[tuple[str, Any]], values: dict[str, Any], keep: bool
) -> None:
    slow, fast = _span(existing), _span(existing)
    set_attributes(slow.attributes, values, keep_original=keep)
    set_attributes(fast.attributes, values, keep_original=keep, current=attrs_to_dict(fast.attributes))
    assert fast.SerializeToString() == slow.SerializeToString()  # same keys, values and order


def test_existing_equal_value_is_left_alone_and_a_changed_one_kept_as_original() -> None:
    span = _span([("gen_ai.request.model", "gpt-4o"), ("gen_ai.usage.input_tokens", "12")])
    values = {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 12, "llmpulse.dialect": "x"}
    set_attributes(span.attributes, values, keep_original=True, current=attrs_to_dict(span.attributes))
    assert [(kv.key, kv.value.WhichOneof("value")) for kv in span.attributes] == [
        ("gen_ai.request.model", "string_value"),
        ("gen_ai.usage.input_tokens", "int_value"),
        ("llmpulse.original.gen_ai.usage.input_tokens", "string_value"),
        ("llmpulse.dialect", "string_value"),
    ]
