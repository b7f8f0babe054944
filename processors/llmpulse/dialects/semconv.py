"""OpenTelemetry GenAI semantic conventions, v1.26 through v1.41, with the deprecated names.

Sources: semantic-conventions v1.41.0 ``model/gen-ai/registry.yaml``, ``deprecated/*.yaml``;
the unreleased semantic-conventions-genai rename ``cache_creation`` → ``cache_write``. Every other
dialect starts from this table, because most of them write some semconv names too.
"""

from __future__ import annotations

import re

from llmpulse.call import INFERENCE_OPERATIONS
from llmpulse.dialects._spec import A, Dialect, Fields, Name

#: Span names ``{gen_ai.operation.name} {gen_ai.request.model}`` (semconv span naming), which is
#: all some libraries leave on a failed call.
SPAN_NAME = re.compile(r"^(?P<op>" + "|".join(sorted(INFERENCE_OPERATIONS)) + r") (?P<model>\S+)$")

FIELDS: Fields = {
    "operation": (A("gen_ai.operation.name"), Name(SPAN_NAME, "op")),
    "provider": (A("gen_ai.provider.name"), A("gen_ai.system")),
    "request_model": (A("gen_ai.request.model"), Name(SPAN_NAME, "model")),
    "response_model": (A("gen_ai.response.model"),),
    "input_tokens": (A("gen_ai.usage.input_tokens"), A("gen_ai.usage.prompt_tokens")),
    "output_tokens": (A("gen_ai.usage.output_tokens"), A("gen_ai.usage.completion_tokens")),
    "cache_read_tokens": (
        A("gen_ai.usage.cache_read.input_tokens"),
        A("gen_ai.usage.cache_read_input_tokens"),
    ),
    "cache_write_tokens": (
        A("gen_ai.usage.cache_creation.input_tokens"),
        A("gen_ai.usage.cache_write.input_tokens"),
        A("gen_ai.usage.cache_creation_input_tokens"),
    ),
    "reasoning_tokens": (A("gen_ai.usage.reasoning.output_tokens"), A("gen_ai.usage.reasoning_tokens")),
    "streaming": (A("gen_ai.request.stream"),),
    "ttft_s": (A("gen_ai.response.time_to_first_chunk", implies_streaming=True),),
    "finish_reasons": (A("gen_ai.response.finish_reasons"),),
    "error_type": (A("error.type"),),
    # error.type may itself be the HTTP status ("500" is a semconv example; reference §14.12)
    "http_status": (A("http.response.status_code"), A("http.status_code"), A("error.type")),
    "server_address": (A("server.address"),),
    "response_id": (A("gen_ai.response.id"),),
}

DIALECT: Dialect = Dialect(
    name="semconv",
    fields=FIELDS,
    scopes=(
        "opentelemetry.util.genai",
        "opentelemetry.instrumentation.openai_v2",
        "opentelemetry.instrumentation.vertexai",
        "opentelemetry.instrumentation.google_genai",
    ),
    markers=("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model"),
)
