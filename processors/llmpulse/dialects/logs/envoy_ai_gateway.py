"""Envoy AI Gateway access logs: ``io.envoy.ai_gateway`` dynamic metadata in Envoy's JSON log.

Source: ``envoyproxy/ai-gateway`` ``site/docs/capabilities/observability/accesslogs.md`` and
``examples/accesslogs-envoy-proxy-llm.yaml`` (reference §11c). Two documented spellings:
``genai_model_name`` / ``genai_tokens_input`` / ``genai_tokens_output`` and the ``gen_ai.*`` one.
The documented ``gen_ai.provider.name`` is the *backend resource name*
(``default/tars/route/aigw-run/rule/0/ref/0``), so the provider is read only when it looks like
a provider; otherwise it comes from the upstream host.
"""

from __future__ import annotations

from llmpulse.dialects._spec import A
from llmpulse.dialects.logs import _envoy as envoy
from llmpulse.dialects.logs._spec import LogDialect, LogLike

_ENVOY_KEYS = ("x-envoy-origin-path", "upstream_cluster", "response_code_details", "route_name")


def _semconv_keys_in_envoy_log(view: LogLike) -> bool:
    """The ``gen_ai.*`` spelling: semconv keys, but in an Envoy access log (not an SDK event)."""
    return "gen_ai.request.model" in view.attrs and any(k in view.attrs for k in _ENVOY_KEYS)


DIALECT = LogDialect(
    name="envoy_ai_gateway",
    fields={
        "provider": (A("gen_ai.provider.name"),),
        "request_model": (A("genai_model_name"), A("gen_ai.request.model")),
        "response_model": (A("gen_ai.response.model"), A("genai_response_model")),
        "input_tokens": (A("genai_tokens_input"), A("gen_ai.usage.input_tokens")),
        "output_tokens": (A("genai_tokens_output"), A("gen_ai.usage.output_tokens")),
        "cache_read_tokens": (
            A("genai_tokens_cached_input"),
            A("gen_ai.usage.cache_read.input_tokens"),
        ),
        "cache_write_tokens": (
            A("genai_tokens_cache_creation_input"),
            A("gen_ai.usage.cache_creation.input_tokens"),
        ),
        "reasoning_tokens": (A("genai_tokens_reasoning"), A("gen_ai.usage.reasoning.output_tokens")),
        "duration_s": envoy.DURATION,
        "http_status": envoy.STATUS,
    },
    markers=("genai_model_name", "genai_backend_name", "genai_tokens_input", "gen_ai.request.model_override"),
    detect=_semconv_keys_in_envoy_log,
    paths=envoy.PATHS,
    hosts=envoy.HOSTS,
    request_ids=envoy.REQUEST_IDS,
    response_flags=envoy.RESPONSE_FLAGS,
    error_details=envoy.ERROR_DETAILS,
    request_bodies=envoy.REQUEST_BODIES,
    response_bodies=envoy.RESPONSE_BODIES,
)
