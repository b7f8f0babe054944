"""Alibaba Service Mesh (ASM) sidecar access logs with the llmproxy plugin's filter state.

Source: Alibaba Cloud "Observe LLM traffic in Service Mesh (ASM)" (reference §11b). The
operator adds ``request_model`` / ``request_prompt_tokens`` / ``request_completion_tokens``
(``%FILTER_STATE(wasm.asm.llmproxy.*:PLAIN)%``, rendered as strings) to the sidecar's JSON access
log, beside Istio's own keys (``duration`` in ms, ``response_code``, ``authority`` …). The
provider is not logged: it comes from the upstream host.
"""

from __future__ import annotations

from llmpulse.dialects._spec import A
from llmpulse.dialects.logs import _envoy as envoy
from llmpulse.dialects.logs._spec import LogDialect

DIALECT = LogDialect(
    name="asm",
    fields={
        "request_model": (A("request_model"),),
        "input_tokens": (A("request_prompt_tokens"),),
        "output_tokens": (A("request_completion_tokens"),),
        "duration_s": envoy.DURATION,
        "http_status": envoy.STATUS,
    },
    markers=("request_model", "request_prompt_tokens", "request_completion_tokens"),
    paths=envoy.PATHS,
    hosts=envoy.HOSTS,
    request_ids=envoy.REQUEST_IDS,
    response_flags=envoy.RESPONSE_FLAGS,
    error_details=envoy.ERROR_DETAILS,
    request_bodies=envoy.REQUEST_BODIES,
    response_bodies=envoy.RESPONSE_BODIES,
)
