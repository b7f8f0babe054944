"""Attributes the Langfuse SDK writes (``langfuse/_client/attributes.py``).

Calls are observations of type ``generation`` (or ``embedding``). Usage and cost are JSON maps
with provider-flavoured keys; TTFT is ``completion_start_time`` (ISO timestamp) minus span start.
Anthropic-style usage keys (``cache_read_input_tokens``) come with Anthropic's exclusive input.
"""

from __future__ import annotations

from llmpulse.dialects import semconv
from llmpulse.dialects._spec import A, Dialect, J, Mapped, Since, extend

USAGE = "langfuse.observation.usage_details"
KIND = "langfuse.observation.type"

DIALECT = Dialect(
    name="langfuse",
    fields=extend(
        semconv.FIELDS,
        operation=(Mapped(KIND, {"generation": "chat", "embedding": "embeddings"}),),
        request_model=(A("langfuse.observation.model.name"),),
        input_tokens=(J(USAGE, ("input",)), J(USAGE, ("prompt_tokens",)), J(USAGE, ("input_tokens",))),
        output_tokens=(J(USAGE, ("output",)), J(USAGE, ("completion_tokens",)), J(USAGE, ("output_tokens",))),
        cache_read_tokens=(
            J(USAGE, ("input_cached_tokens",)),
            J(USAGE, ("cache_read_input_tokens",)),
            J(USAGE, ("input_cache_read",)),
        ),
        cache_write_tokens=(J(USAGE, ("cache_creation_input_tokens",)), J(USAGE, ("input_cache_creation",))),
        reasoning_tokens=(J(USAGE, ("output_reasoning_tokens",)), J(USAGE, ("reasoning_tokens",))),
        ttft_s=(Since("langfuse.observation.completion_start_time"),),
        failed=(Mapped("langfuse.observation.level", {"ERROR": True}),),
        error_message=(A("langfuse.observation.status_message"),),
        reported_cost_usd=(J("langfuse.observation.cost_details", ("total",)),),
    ),
    markers=(KIND, USAGE),
    call_marker=(KIND, frozenset({"generation", "embedding"})),
    exclusive_input_providers=frozenset({"anthropic"}),
)
