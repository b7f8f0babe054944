"""Write the canonical call back onto its span: semconv v1.41 names plus ``llmpulse.*`` extras.

Downstream consumers (log stores, trace UIs, the collector's alerting) then read one dialect.
What the app sent is kept: a semconv key whose value changes is first copied to
``llmpulse.original.<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableSequence
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from llmpulse.call import LLMCall
from llmpulse.otlp import set_attributes


def canonical_attributes(call: LLMCall) -> dict[str, Any]:
    values: dict[str, Any] = {
        "gen_ai.operation.name": call.operation,
        "gen_ai.provider.name": call.provider,
        "gen_ai.request.model": call.request_model,
        "gen_ai.response.model": call.response_model,
        "gen_ai.usage.input_tokens": call.input_tokens,
        "gen_ai.usage.output_tokens": call.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": call.cache_read_tokens,
        "gen_ai.usage.cache_creation.input_tokens": call.cache_write_tokens,
        "gen_ai.usage.reasoning.output_tokens": call.reasoning_tokens,
        "gen_ai.request.stream": call.streaming,
        "gen_ai.response.time_to_first_chunk": call.ttft_s,
        "gen_ai.response.finish_reasons": list(call.finish_reasons) or None,
        "error.type": call.error_raw if call.failed else None,
        "llmpulse.error.class": call.error_class,
        "llmpulse.cost.usd": call.cost_usd,
        "llmpulse.price.version": call.price_version,
        "llmpulse.dialect": call.dialect,
    }
    return {k: v for k, v in values.items() if v is not None}


def write_back(
    attributes: MutableSequence[KeyValue],
    call: LLMCall,
    duplicate_of: bytes | None,
    current: Mapping[str, Any] | None = None,
) -> None:
    """``current``: the span's attributes as a dict, when the caller read them already."""
    values = canonical_attributes(call)
    if duplicate_of is not None:
        values = {
            "llmpulse.dialect": call.dialect,
            "llmpulse.counted": False,
            "llmpulse.duplicate_of": duplicate_of.hex(),
        }
    else:
        values["llmpulse.counted"] = True
        if call.cost_usd is None and (call.input_tokens is not None or call.output_tokens is not None):
            values["llmpulse.unpriced"] = True
    set_attributes(attributes, values, keep_original=True, current=current)
