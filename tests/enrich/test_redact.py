"""``redact_attributes`` on the attribute list itself: what stays, in what order."""

from __future__ import annotations

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llmpulse.enrich import redact_attributes

#: runs of neighbouring content keys (dropped in one go), single ones, and keys that stay
KEYS = [
    "gen_ai.prompt.0.role",
    "gen_ai.prompt.0.content",
    "gen_ai.request.model",
    "gen_ai.prompt.1.role",
    "gen_ai.prompt.1.content",
    "gen_ai.completion.0.content",
    "http.request.header.authorization",
    "input.value",
    "gen_ai.usage.input_tokens",
    "llm.input_messages.0.message.content",
    "llm.output_messages.0.message.content",
]


@pytest.mark.parametrize("positions", [None, [0, 1, 3, 4, 5, 6, 7, 9, 10]])
def test_drop_keeps_the_other_attributes_in_order(positions: list[int] | None) -> None:
    span = Span()
    for key in KEYS:
        kv = span.attributes.add()
        kv.key, kv.value.string_value = key, f"value of {key}"
    changed = redact_attributes(span.attributes, "drop", 100, positions)
    assert changed == 9
    assert [(kv.key, kv.value.string_value) for kv in span.attributes] == [
        ("gen_ai.request.model", "value of gen_ai.request.model"),
        ("http.request.header.authorization", "[REDACTED]"),
        ("gen_ai.usage.input_tokens", "value of gen_ai.usage.input_tokens"),
    ]
