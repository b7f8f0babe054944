"""Write the canonical call back onto its span: semconv v1.41 names plus ``llmpulse.*`` extras.

Downstream consumers (log stores, trace UIs, the collector's alerting) then read one dialect.
What the app sent is kept: a semconv key whose value changes is first copied to
``llmpulse.original.<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableSequence
from operator import attrgetter
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from llmpulse.call import LLMCall
from llmpulse.otlp import AttributeAppends, AttributeEdits, plan_attributes, set_attributes, write_over
from llmpulse.otlp.scan import plan_pairs

#: (semconv name, LLMCall field) written as they are, in write order (before finish reasons)
_HEAD = (
    ("gen_ai.operation.name", "operation"),
    ("gen_ai.provider.name", "provider"),
    ("gen_ai.request.model", "request_model"),
    ("gen_ai.response.model", "response_model"),
    ("gen_ai.usage.input_tokens", "input_tokens"),
    ("gen_ai.usage.output_tokens", "output_tokens"),
    ("gen_ai.usage.cache_read.input_tokens", "cache_read_tokens"),
    ("gen_ai.usage.cache_creation.input_tokens", "cache_write_tokens"),
    ("gen_ai.usage.reasoning.output_tokens", "reasoning_tokens"),
    ("gen_ai.request.stream", "streaming"),
    ("gen_ai.response.time_to_first_chunk", "ttft_s"),
)
#: ``llmpulse.*`` extras written as they are, after ``error.type``
_TAIL = (
    ("llmpulse.error.class", "error_class"),
    ("llmpulse.cost.usd", "cost_usd"),
    ("llmpulse.price.version", "price_version"),
    ("llmpulse.dialect", "dialect"),
)
_HEAD_KEYS, _HEAD_VALUES = tuple(k for k, _ in _HEAD), attrgetter(*(f for _, f in _HEAD))
_TAIL_KEYS, _TAIL_VALUES = tuple(k for k, _ in _TAIL), attrgetter(*(f for _, f in _TAIL))
#: the keys a call writes back, in write order, and (``_WRITTEN_KEYS``) those of a counted call;
#: ``_canonical_values`` / ``_written_values`` give their values, ``None`` for "not written"
_CANONICAL_KEYS = (*_HEAD_KEYS, "gen_ai.response.finish_reasons", "error.type", *_TAIL_KEYS)
_WRITTEN_KEYS = (*_CANONICAL_KEYS, "llmpulse.counted", "llmpulse.unpriced")


def _canonical_values(call: LLMCall) -> tuple[Any, ...]:
    return (
        *_HEAD_VALUES(call),
        list(call.finish_reasons) if call.finish_reasons else None,
        call.error_raw if call.failed else None,
        *_TAIL_VALUES(call),
    )


def _written_values(call: LLMCall) -> tuple[Any, ...]:
    """``_canonical_values`` and the two flags, as one tuple of the call's fields read in
    place: it runs for every counted call, and the getters and unpacking above took ~0.6 µs of
    it (``tests/enrich/test_writeback_plan.py`` holds the two to the same values)."""
    input_tokens = call.input_tokens
    output_tokens = call.output_tokens
    finish_reasons = call.finish_reasons
    cost_usd = call.cost_usd
    return (
        call.operation,
        call.provider,
        call.request_model,
        call.response_model,
        input_tokens,
        output_tokens,
        call.cache_read_tokens,
        call.cache_write_tokens,
        call.reasoning_tokens,
        call.streaming,
        call.ttft_s,
        list(finish_reasons) if finish_reasons else None,
        call.error_raw if call.failed else None,
        call.error_class,
        cost_usd,
        call.price_version,
        call.dialect,
        True,
        True if cost_usd is None and (input_tokens is not None or output_tokens is not None) else None,
    )


def canonical_attributes(call: LLMCall) -> dict[str, Any]:
    """The attributes a call writes back, in write order; unknown (``None``) ones left out."""
    return {k: v for k, v in zip(_CANONICAL_KEYS, _canonical_values(call), strict=True) if v is not None}


def written_attributes(call: LLMCall, duplicate_of: bytes | None) -> dict[str, Any]:
    """What write-back stores on a call's span: the canonical attributes, or for a duplicate
    only which call it duplicates."""
    if duplicate_of is not None:
        return {
            "llmpulse.dialect": call.dialect,
            "llmpulse.counted": False,
            "llmpulse.duplicate_of": duplicate_of.hex(),
        }
    return {k: v for k, v in zip(_WRITTEN_KEYS, _written_values(call), strict=True) if v is not None}


def write_back(
    attributes: MutableSequence[KeyValue],
    call: LLMCall,
    duplicate_of: bytes | None,
    current: Mapping[str, Any] | None = None,
) -> None:
    """``current``: the span's attributes as a dict, when the caller read them already."""
    set_attributes(attributes, written_attributes(call, duplicate_of), keep_original=True, current=current)


def plan_write_back(
    call: LLMCall,
    duplicate_of: bytes | None,
    current: Mapping[str, Any],
    edits: AttributeEdits,
    appends: AttributeAppends,
) -> None:
    """``write_back`` as edits of the span's encoding (``llmpulse.otlp.scan.edit_attributes``).
    A counted call's values go to ``plan_pairs`` as one tuple beside ``_WRITTEN_KEYS``, without
    building ``written_attributes``' dict."""
    if duplicate_of is not None or not isinstance(current, dict):
        plan_attributes(written_attributes(call, duplicate_of), current, edits, appends, keep_original=True)
        return
    plan_pairs(_WRITTEN_KEYS, _written_values(call), current, edits, appends, True, write_over)
