"""Higress ``ai-statistics`` access logs: the ``ai_log`` JSON string beside Envoy's keys.

Source: ``alibaba/higress`` ``plugins/wasm-go/extensions/ai-statistics`` (reference §11a): the log
format ``"ai_log":"%FILTER_STATE(wasm.ai_log:PLAIN)%"`` holds ``model``, ``input_token``,
``output_token`` (strings in the README), ``llm_first_token_duration`` and
``llm_service_duration`` in **ms**, ``response_type`` (``stream``/``normal``), and optionally
``cached_tokens``, ``reasoning_tokens``, ``input_token_details``/``output_token_details`` (JSON
strings). Higress takes Anthropic's ``usage.input_tokens`` as is, which excludes cache.
"""

from __future__ import annotations

from llmpulse.dialects._spec import J
from llmpulse.dialects.logs import _envoy as envoy
from llmpulse.dialects.logs._spec import LogDialect

_AI = "ai_log"

DIALECT = LogDialect(
    name="higress",
    fields={
        "request_model": (J(_AI, ("model",)),),
        "input_tokens": (J(_AI, ("input_token",)),),
        "output_tokens": (J(_AI, ("output_token",)),),
        "cache_read_tokens": (
            J(_AI, ("cached_tokens",)),
            J(_AI, ("input_token_details", "cached_tokens")),
        ),
        "reasoning_tokens": (
            J(_AI, ("reasoning_tokens",)),
            J(_AI, ("output_token_details", "reasoning_tokens")),
        ),
        "streaming": (J(_AI, ("response_type",)),),
        "ttft_s": (J(_AI, ("llm_first_token_duration",), scale=0.001, implies_streaming=True),),
        "duration_s": (J(_AI, ("llm_service_duration",), scale=0.001), *envoy.DURATION),
        "http_status": envoy.STATUS,
    },
    markers=(_AI,),
    json_fields=(_AI,),
    paths=(J(_AI, ("request_path",)), *envoy.PATHS),
    hosts=envoy.HOSTS,
    request_ids=envoy.REQUEST_IDS,
    response_flags=envoy.RESPONSE_FLAGS,
    error_details=envoy.ERROR_DETAILS,
    request_bodies=envoy.REQUEST_BODIES,
    response_bodies=envoy.RESPONSE_BODIES,
    exclusive_input_providers=frozenset({"anthropic"}),
)
