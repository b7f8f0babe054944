"""Vercel AI SDK: the legacy ``ai.*`` spans (v3–v6, ``LegacyOpenTelemetry`` in v7) and v7's
GenAI-semconv mode.

Legacy: the provider call is the ``ai.<op>.doGenerate``/``doStream``/``doEmbed`` span; its parent
(``ai.generateText`` …) repeats the same usage and is not a call. TTFT is in milliseconds.
Through v5, Anthropic ``inputTokens`` exclude cache; v7 says so explicitly with
``inputTokenDetails.noCacheTokens``. Before v7 the cache-write count is only in
``ai.response.providerMetadata``. v7 semconv mode: ``invoke_agent`` aggregates its ``chat``
children (not a call, by operation); metric names reused as span attributes, in seconds.
"""

from __future__ import annotations

import re

from llmpulse.dialects import semconv
from llmpulse.dialects._spec import A, Dialect, Event, J, Name, extend

_DO = re.compile(r"^ai\.\w+\.(?P<do>doGenerate|doStream|doEmbed)$")
#: provider usage as the provider returned it (JSON); the only place v5/v6 put Anthropic cache
#: writes. Paths as Langfuse reads them (reference §7b).
_META = "ai.response.providerMetadata"

LEGACY: Dialect = Dialect(
    name="vercel_ai",
    fields=extend(
        semconv.FIELDS,
        operation=(Name(_DO, "do", {"doGenerate": "chat", "doStream": "chat", "doEmbed": "embeddings"}),),
        provider=(A("ai.model.provider"),),
        request_model=(A("ai.model.id"),),
        response_model=(A("ai.response.model"),),
        input_tokens=(A("ai.usage.inputTokens"), A("ai.usage.promptTokens"), A("ai.usage.tokens")),
        output_tokens=(A("ai.usage.outputTokens"), A("ai.usage.completionTokens")),
        cache_read_tokens=(
            A("ai.usage.inputTokenDetails.cacheReadTokens"),
            A("ai.usage.cachedInputTokens"),
            J(_META, ("anthropic", "usage", "cache_read_input_tokens")),
            J(_META, ("bedrock", "usage", "cacheReadInputTokens")),
        ),
        cache_write_tokens=(
            A("ai.usage.inputTokenDetails.cacheWriteTokens"),
            J(_META, ("anthropic", "usage", "cache_creation_input_tokens")),
            J(_META, ("anthropic", "cacheCreationInputTokens")),
            J(_META, ("bedrock", "usage", "cacheWriteInputTokens")),
            J(_META, ("bedrock", "usage", "cacheCreationInputTokens")),
        ),
        reasoning_tokens=(A("ai.usage.outputTokenDetails.reasoningTokens"), A("ai.usage.reasoningTokens")),
        streaming=(Name(_DO, "do", {"doStream": True, "doGenerate": False, "doEmbed": False}),),
        ttft_s=(
            A("ai.response.msToFirstChunk", scale=0.001, implies_streaming=True),
            A("ai.stream.msToFirstChunk", scale=0.001, implies_streaming=True),
            Event(frozenset({"ai.stream.firstChunk"})),
        ),
        finish_reasons=(A("ai.response.finishReason"),),
        response_id=(A("ai.response.id"),),
    ),
    markers=("ai.operationId", "ai.model.id", "ai.model.provider"),
    not_calls=re.compile(r"^ai\.(?!\w+\.do(Generate|Stream|Embed)$)"),
    exclusive_input_providers=frozenset({"anthropic"}),
    inclusive_markers=("ai.usage.inputTokenDetails.noCacheTokens",),
    provider_aliases={
        "google.vertex": "gcp.vertex_ai",
        "google.generative-ai": "gcp.gemini",
        "amazon-bedrock": "aws.bedrock",
        "azure-openai": "azure.ai.openai",
        "azure": "azure.ai.inference",
        "mistral": "mistral_ai",
        "xai": "x_ai",
    },
)

V7: Dialect = Dialect(
    name="vercel_ai_v7",
    fields=extend(
        semconv.FIELDS,
        ttft_s=(A("gen_ai.client.operation.time_to_first_chunk", implies_streaming=True),),
    ),
    markers=("gen_ai.client.operation.time_to_first_chunk", "gen_ai.client.operation.duration"),
    provider_aliases=LEGACY.provider_aliases,
)
