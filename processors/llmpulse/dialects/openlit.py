"""OpenLIT, before and after its 2026-02 alignment with the GenAI semconv.

Quirks (reference §4): Anthropic input tokens EXCLUDE cache; ``gen_ai.server.time_to_first_token``
is set on non-streamed calls too, equal to the whole duration, so it is trusted only on streams;
legacy streaming flag ``gen_ai.request.is_stream``; cost in ``gen_ai.usage.cost`` (USD). A failed
Anthropic call may carry no attributes at all: provider from the scope, model from the span name.
"""

from __future__ import annotations

import re

from llmpulse.dialects import semconv
from llmpulse.dialects._spec import A, Dialect, Scope, extend

_SCOPE = re.compile(r"^openlit\.instrumentation\.(?P<provider>[a-z_]+)")

DIALECT: Dialect = Dialect(
    name="openlit",
    fields=extend(
        semconv.FIELDS,
        provider=(A("gen_ai.provider.name"), A("gen_ai.system"), Scope(_SCOPE, "provider")),
        cache_read_tokens=(
            A("gen_ai.usage.prompt_tokens_details.cache_read"),
            A("gen_ai.usage.prompt_tokens_details.cached_tokens"),
        ),
        cache_write_tokens=(
            A("gen_ai.usage.prompt_tokens_details.cache_write"),
            A("gen_ai.usage.prompt_tokens_details.cache_creation_tokens"),
        ),
        reasoning_tokens=(A("gen_ai.usage.completion_tokens_details.reasoning_tokens"),),
        streaming=(A("gen_ai.request.is_stream"),),
        ttft_s=(A("gen_ai.server.time_to_first_token"),),
        reported_cost_usd=(A("gen_ai.usage.cost"),),
    ),
    scopes=("openlit.",),
    detect=lambda span: span.attrs.get("telemetry.sdk.name") == "openlit",
    exclusive_input_providers=frozenset({"anthropic"}),
    ttft_requires_streaming=True,
    provider_aliases={"vLLM": "vllm", "ibm.watson.ai": "ibm.watsonx.ai"},
)
