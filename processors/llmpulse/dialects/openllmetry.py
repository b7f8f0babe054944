"""OpenLLMetry (Traceloop), all three generations.

Legacy ≤0.47 (``gen_ai.system``, ``prompt_tokens``, ``llm.*``), transition 0.48–0.54
(``input_tokens`` but ``gen_ai.usage.cache_read_input_tokens``, ``llm.usage.total_tokens``) and
current 0.55+ (``gen_ai.provider.name``, dotted cache keys). Streaming is ``gen_ai.is_streaming``
(``llm.is_streaming`` before); TTFT only as per-chunk span events. Input tokens are inclusive of
cache for every provider (the Anthropic wrapper adds cache reads and writes).
"""

from __future__ import annotations

import re

from llmpulse.dialects import semconv
from llmpulse.dialects._spec import A, Dialect, Event, Scope, extend

_SCOPE = re.compile(r"^opentelemetry\.instrumentation\.(?P<provider>[a-z_]+?)(?:\.v\d+)?$")

DIALECT: Dialect = Dialect(
    name="openllmetry",
    fields=extend(
        semconv.FIELDS,
        operation=(A("llm.request.type"),),
        provider=(A("gen_ai.provider.name"), A("gen_ai.system"), Scope(_SCOPE, "provider")),
        reasoning_tokens=(A("llm.usage.reasoning_tokens"),),
        streaming=(A("gen_ai.is_streaming"), A("llm.is_streaming")),
        ttft_s=(Event(frozenset({"gen_ai.content.completion.chunk", "llm.content.completion.chunk"})),),
        finish_reasons=(A("llm.response.finish_reason"), A("gen_ai.completion.0.finish_reason")),
        server_address=(A("gen_ai.openai.api_base"),),
    ),
    scopes=tuple(
        f"opentelemetry.instrumentation.{lib}"
        for lib in (
            "openai.v",
            "anthropic",
            "bedrock",
            "google_generativeai",
            "mistralai",
            "cohere",
            "groq",
            "ollama",
            "together",
            "replicate",
            "watsonx",
            "alephalpha",
            "sagemaker",
            "transformers",
            "writer",
        )
    ),
    markers=("gen_ai.is_streaming", "llm.request.type", "gen_ai.openai.api_base", "llm.usage.total_tokens"),
    operation_aliases={"completion": "text_completion", "embedding": "embeddings"},
    provider_aliases={
        "Anthropic": "anthropic",
        "Azure": "azure.ai.openai",
        "AWS": "aws.bedrock",
        "Google": "gcp.gemini",
        "vertexai": "gcp.vertex_ai",
        "Watsonx": "ibm.watsonx.ai",
    },
)
