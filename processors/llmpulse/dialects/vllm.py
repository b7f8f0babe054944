"""vLLM's server-side request spans (``vllm/tracing.py``): the model server's view of a call.

Deprecated token names, ``gen_ai.latency.*`` in seconds, no request model (the served model is the
response model) and no operation. The span is server-side: it is counted only when no client
span of the same trace describes the call.
"""

from __future__ import annotations

from llmpulse.dialects import semconv
from llmpulse.dialects._spec import A, Const, Dialect, extend

DIALECT: Dialect = Dialect(
    name="vllm",
    fields=extend(
        semconv.FIELDS,
        operation=(Const("text_completion"),),
        provider=(Const("vllm"),),
        ttft_s=(A("gen_ai.latency.time_to_first_token"),),
        duration_s=(A("gen_ai.latency.e2e"),),
        response_id=(A("gen_ai.request.id"),),
    ),
    markers=("gen_ai.latency.e2e", "gen_ai.latency.time_to_first_token", "gen_ai.latency.time_in_queue"),
    server_side=True,
)
