"""``set_attributes`` with and without the caller's dict of current values writes the same span,
and ``plan_attributes`` + ``edit_attributes`` (the same write in the span's encoding) too."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llmpulse.otlp import AttributeAppends, AttributeEdits, attrs_to_dict, plan_attributes, set_attributes
from llmpulse.otlp.scan import edit_attributes

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


#: a span's attributes (repeated keys too), the values to write, and keep_original
WRITES = {
    "existing": st.lists(st.tuples(KEYS, VALUES), max_size=6),
    "values": st.dictionaries(KEYS, VALUES, max_size=5),
    "keep": st.booleans(),
}


@settings(max_examples=500, deadline=None)
@given(**WRITES)
def test_current_is_only_a_shortcut(
    existing: list[tuple[str, Any]], values: dict[str, Any], keep: bool
) -> None:
    slow, fast = _span(existing), _span(existing)
    set_attributes(slow.attributes, values, keep_original=keep)
    set_attributes(fast.attributes, values, keep_original=keep, current=attrs_to_dict(fast.attributes))
    assert fast.SerializeToString() == slow.SerializeToString()  # same keys, values and order


@settings(max_examples=2_000, deadline=None)
@given(**WRITES)
def test_planned_edits_of_the_encoding_write_what_upb_writes(
    existing: list[tuple[str, Any]], values: dict[str, Any], keep: bool
) -> None:
    span = _span(existing)
    encoded = span.SerializeToString()
    edits: AttributeEdits = {}
    appends: AttributeAppends = []
    plan_attributes(values, attrs_to_dict(span.attributes), edits, appends, keep_original=keep)
    set_attributes(span.attributes, values, keep_original=keep)
    assert edit_attributes(encoded, edits, appends) == span.SerializeToString()


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


def _any(kind: str, value: Any) -> AnyValue:
    """An AnyValue built by protobuf itself (not by the code under test); lists: of (kind, value)."""
    if kind == "array_value":
        return AnyValue(array_value=ArrayValue(values=[_any(k, v) for k, v in value]))
    return AnyValue(**{kind: value})


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # a zero of the other sign is equal but not the same value: rewritten, nothing backed up
        (0.0, -0.0, [("k", "double_value", -0.0)]),
        (-0.0, 0.0, [("k", "double_value", 0.0)]),
        (0.25, 0.25, [("k", "double_value", 0.25)]),
        # NaN never equals itself: the old value is backed up, then rewritten
        (
            math.nan,
            math.nan,
            [("k", "double_value", math.nan), ("llmpulse.original.k", "double_value", math.nan)],
        ),
        (1, 1.0, [("k", "double_value", 1.0)]),
        # a list of ints is not a list of floats (nor of bools), though == says so
        ([1, 2], [1.0, 2.0], [("k", "array_value", [("double_value", 1.0), ("double_value", 2.0)])]),
        ([1], [True], [("k", "array_value", [("bool_value", True)])]),
        ([0.0], [-0.0], [("k", "array_value", [("double_value", -0.0)])]),
        (
            ["stop", "a"],
            ["stop", "a"],
            [("k", "array_value", [("string_value", "stop"), ("string_value", "a")])],
        ),
        ([1.5, "a"], [1.5, "a"], [("k", "array_value", [("double_value", 1.5), ("string_value", "a")])]),
        (
            ["stop"],
            ["stop", "a"],
            [
                ("k", "array_value", [("string_value", "stop"), ("string_value", "a")]),
                ("llmpulse.original.k", "array_value", [("string_value", "stop")]),
            ],
        ),
    ],
)
@pytest.mark.parametrize("with_current", [False, True])
def test_floats_and_lists_are_compared_exactly(
    old: Any, new: Any, expected: list[tuple[str, str, Any]], with_current: bool
) -> None:
    span = _span([("a", "x"), ("k", old), ("b", 3)])
    current = attrs_to_dict(span.attributes) if with_current else None
    set_attributes(span.attributes, {"k": new}, keep_original=True, current=current)
    assert [kv.key for kv in span.attributes] == ["a", "k", "b"] + [key for key, _, _ in expected[1:]]
    stored = [kv.value.SerializeToString() for kv in span.attributes[1:2]] + [
        kv.value.SerializeToString() for kv in span.attributes[3:]
    ]
    assert stored == [_any(kind, value).SerializeToString() for _, kind, value in expected]
