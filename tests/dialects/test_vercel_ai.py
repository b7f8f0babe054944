"""Vercel AI SDK: legacy ``ai.*`` spans (v3–v6, ``LegacyOpenTelemetry`` in v7) and v7's GenAI
semconv mode (reference §5, §14.10).

Legacy: ``ai.generateText`` / ``ai.streamText`` / ``ai.embedMany`` repeat their ``do*`` children's
usage; only the ``do*`` spans are provider calls. TTFT is ``ai.response.msToFirstChunk`` in
milliseconds. Through v5/v6, Anthropic input tokens exclude cache; cache writes are only in
``ai.response.providerMetadata`` (read as Langfuse does, §7b); v7 legacy spells the split out
(``inputTokenDetails.noCacheTokens``) and its ``inputTokens`` is inclusive.
v7: ``invoke_agent`` repeats the aggregate usage of its ``chat`` children and is not a call; chat
spans carry metric names as attributes, in seconds.

The OTel span kind of the legacy spans is UNCONFIRMED in the reference; INTERNAL is assumed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dialects._harness import CLIENT, INTERNAL, Call, Case, Ev, S, check, exc

SCOPE = "ai"
FN = "support-bot"


def _legacy(
    op: str, do: str, parent_attrs: dict[str, Any], child_attrs: dict[str, Any], **child: object
) -> S:
    """An ``ai.<op>`` parent repeating the usage of its ``ai.<op>.<do>`` child."""
    base = {"ai.telemetry.functionId": FN, "resource.name": FN}
    return S(
        "parent",
        f"ai.{op}",
        {**base, "operation.name": f"ai.{op} {FN}", "ai.operationId": f"ai.{op}", **parent_attrs},
        scope=SCOPE,
        kind=INTERNAL,
        duration_s=float(child.pop("parent_duration_s", 2.0)),  # type: ignore[arg-type]
        children=[
            S(
                "do",
                f"ai.{op}.{do}",
                {
                    **base,
                    "operation.name": f"ai.{op}.{do} {FN}",
                    "ai.operationId": f"ai.{op}.{do}",
                    **child_attrs,
                },
                scope=SCOPE,
                kind=INTERNAL,
                start_s=0.05,
                **child,  # type: ignore[arg-type]
            )
        ],
    )


OPENAI_USAGE_V4 = {"ai.usage.promptTokens": 50, "ai.usage.completionTokens": 20}

CASES = [
    Case(
        "legacy-generateText-parent-and-doGenerate",
        [
            _legacy(
                "generateText",
                "doGenerate",
                {
                    "ai.model.id": "gpt-4o-mini",
                    "ai.model.provider": "openai.chat",
                    **OPENAI_USAGE_V4,
                    "ai.prompt": '{"prompt": "hi"}',
                    "ai.response.text": "hello",
                    "ai.response.finishReason": "stop",
                },
                {
                    "ai.model.id": "gpt-4o-mini",
                    "ai.model.provider": "openai.chat",
                    **OPENAI_USAGE_V4,
                    "ai.prompt.messages": '[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]',
                    "ai.response.text": "hello",
                    "ai.response.model": "gpt-4o-mini-2024-07-18",
                    "ai.response.id": "chatcmpl-1",
                    "ai.response.finishReason": "stop",
                    "gen_ai.system": "openai.chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 50,
                    "gen_ai.usage.output_tokens": 20,
                    "gen_ai.response.finish_reasons": ["stop"],
                },
                duration_s=1.8,
            )
        ],
        [
            Call(
                "do",
                "vercel_ai",
                "chat",
                "openai",
                "gpt-4o-mini",
                "gpt-4o-mini-2024-07-18",
                input=50,
                output=20,
                streaming=False,
                finish_reasons=("stop",),
            )
        ],
        redacted=("ai.prompt", "ai.response.text"),
    ),
    Case(
        # v5/v6 names; TTFT in ms on the doStream span and its ai.stream.firstChunk event
        "legacy-streamText-doStream-ms-to-first-chunk",
        [
            _legacy(
                "streamText",
                "doStream",
                {
                    "ai.model.id": "o4-mini",
                    "ai.model.provider": "openai.responses",
                    "ai.usage.inputTokens": 1200,
                    "ai.usage.outputTokens": 300,
                    "ai.response.msToFirstChunk": 350.0,
                },
                {
                    "ai.model.id": "o4-mini",
                    "ai.model.provider": "openai.responses",
                    "ai.usage.inputTokens": 1200,
                    "ai.usage.outputTokens": 300,
                    "ai.usage.totalTokens": 1500,
                    "ai.usage.cachedInputTokens": 1024,
                    "ai.usage.reasoningTokens": 100,
                    "ai.response.model": "o4-mini-2025-04-16",
                    "ai.response.msToFirstChunk": 350.0,
                    "ai.response.msToFinish": 2100.0,
                    "ai.response.avgOutputTokensPerSecond": 142.8,
                    "ai.response.finishReason": "stop",
                    "gen_ai.system": "openai.responses",
                    "gen_ai.request.model": "o4-mini",
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 300,
                },
                duration_s=2.1,
                events=[
                    Ev("ai.stream.firstChunk", 0.35, {"ai.response.msToFirstChunk": 350.0}),
                    Ev("ai.stream.finish", 2.1),
                ],
            )
        ],
        [
            Call(
                "do",
                "vercel_ai",
                "chat",
                "openai",
                "o4-mini",
                "o4-mini-2025-04-16",
                input=1200,
                output=300,
                cache_read=1024,
                reasoning=100,
                streaming=True,
                ttft_s=0.35,
            )
        ],
    ),
    Case(
        # v3.x spelled the first-chunk time ai.stream.msToFirstChunk
        "legacy-v3-stream-ms-to-first-chunk",
        [
            _legacy(
                "streamText",
                "doStream",
                {"ai.model.id": "gpt-4o", "ai.model.provider": "openai.chat"},
                {
                    "ai.model.id": "gpt-4o",
                    "ai.model.provider": "openai.chat",
                    "ai.usage.promptTokens": 70,
                    "ai.usage.completionTokens": 30,
                    "ai.stream.msToFirstChunk": 275.0,
                },
                duration_s=1.1,
            )
        ],
        [
            Call(
                "do",
                "vercel_ai",
                "chat",
                "openai",
                "gpt-4o",
                None,
                input=70,
                output=30,
                streaming=True,
                ttft_s=0.275,
            )
        ],
    ),
    Case(
        # embedMany batches into several doEmbed provider calls: each one counts, the parent not
        "legacy-embedMany-two-doEmbed",
        [
            S(
                "parent",
                "ai.embedMany",
                {
                    "ai.operationId": "ai.embedMany",
                    "ai.model.id": "text-embedding-3-small",
                    "ai.model.provider": "openai.embedding",
                    "ai.usage.tokens": 30,
                    "ai.values": ["a", "b", "c"],
                },
                scope=SCOPE,
                kind=INTERNAL,
                duration_s=1.0,
                children=[
                    S(
                        f"do{i}",
                        "ai.embedMany.doEmbed",
                        {
                            "ai.operationId": "ai.embedMany.doEmbed",
                            "ai.model.id": "text-embedding-3-small",
                            "ai.model.provider": "openai.embedding",
                            "ai.usage.tokens": tokens,
                            "ai.values": ["a", "b"] if i == 0 else ["c"],
                        },
                        scope=SCOPE,
                        kind=INTERNAL,
                        start_s=0.1 + 0.4 * i,
                        duration_s=0.3,
                    )
                    for i, tokens in enumerate((20, 10))
                ],
            )
        ],
        [
            Call(
                f"do{i}",
                "vercel_ai",
                "embeddings",
                "openai",
                "text-embedding-3-small",
                None,
                input=tokens,
                streaming=False,
            )
            for i, tokens in enumerate((20, 10))
        ],
        redacted=("ai.values",),
    ),
    Case(
        # v5/v6 Anthropic: inputTokens exclude cache; the write count is only in providerMetadata
        "legacy-anthropic-exclusive-input-provider-metadata",
        [
            _legacy(
                "generateText",
                "doGenerate",
                {"ai.model.id": "claude-sonnet-4-5", "ai.model.provider": "anthropic.messages"},
                {
                    "ai.model.id": "claude-sonnet-4-5",
                    "ai.model.provider": "anthropic.messages",
                    "ai.usage.promptTokens": 41,
                    "ai.usage.completionTokens": 9,
                    "ai.usage.cachedInputTokens": 2048,
                    "ai.response.model": "claude-sonnet-4-5-20250929",
                    "ai.response.finishReason": "stop",
                    "ai.response.providerMetadata": json.dumps(
                        {
                            "anthropic": {
                                "cacheCreationInputTokens": 512,
                                "usage": {
                                    "input_tokens": 41,
                                    "cache_creation_input_tokens": 512,
                                    "cache_read_input_tokens": 2048,
                                    "output_tokens": 9,
                                },
                            }
                        }
                    ),
                    "gen_ai.system": "anthropic.messages",
                    "gen_ai.usage.input_tokens": 41,
                    "gen_ai.usage.output_tokens": 9,
                },
            )
        ],
        [
            Call(
                "do",
                "vercel_ai",
                "chat",
                "anthropic",
                "claude-sonnet-4-5",
                "claude-sonnet-4-5-20250929",
                input=2601,
                output=9,
                cache_read=2048,
                cache_write=512,
                streaming=False,
            )
        ],
    ),
    Case(
        # v7 LegacyOpenTelemetry: inputTokens is the inclusive total, the split is spelled out
        "v7-legacy-anthropic-inclusive-token-details",
        [
            _legacy(
                "streamText",
                "doStream",
                {"ai.model.id": "claude-haiku-4-5", "ai.model.provider": "anthropic.messages"},
                {
                    "ai.model.id": "claude-haiku-4-5",
                    "ai.model.provider": "anthropic.messages",
                    "ai.usage.inputTokens": 2601,
                    "ai.usage.inputTokenDetails.noCacheTokens": 41,
                    "ai.usage.inputTokenDetails.cacheReadTokens": 2048,
                    "ai.usage.inputTokenDetails.cacheWriteTokens": 512,
                    "ai.usage.outputTokens": 80,
                    "ai.usage.outputTokenDetails.textTokens": 50,
                    "ai.usage.outputTokenDetails.reasoningTokens": 30,
                    "ai.response.msToFirstChunk": 512.5,
                },
                duration_s=1.5,
            )
        ],
        [
            Call(
                "do",
                "vercel_ai",
                "chat",
                "anthropic",
                "claude-haiku-4-5",
                None,
                input=2601,
                output=80,
                cache_read=2048,
                cache_write=512,
                reasoning=30,
                streaming=True,
                ttft_s=0.5125,
            )
        ],
    ),
    Case(
        # no error.type: span status + recordException; the provider's message names the cause
        "legacy-doGenerate-rate-limit",
        [
            _legacy(
                "generateText",
                "doGenerate",
                {"ai.model.id": "gpt-4o-mini", "ai.model.provider": "openai.chat"},
                {"ai.model.id": "gpt-4o-mini", "ai.model.provider": "openai.chat"},
                duration_s=0.1,
                error="Rate limit reached for gpt-4o-mini",
                exceptions=[
                    exc(
                        "AI_APICallError",
                        "Rate limit reached for gpt-4o-mini in organization org-1 on requests per min "
                        "(RPM): Limit 3, Used 3, Requested 1.",
                    )
                ],
            )
        ],
        [
            Call(
                "do",
                "vercel_ai",
                "chat",
                "openai",
                "gpt-4o-mini",
                None,
                streaming=False,
                error_class="rate_limit",
            )
        ],
    ),
    Case(
        # v7 semconv mode: invoke_agent aggregates its chat children and is not a call
        "v7-invoke-agent-two-chat-children",
        [
            S(
                "agent",
                "invoke_agent gpt-4o-mini",
                {
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.agent.name": FN,
                    "gen_ai.usage.input_tokens": 700,
                    "gen_ai.usage.output_tokens": 90,
                    "gen_ai.usage.cache_read.input_tokens": 256,
                },
                scope=SCOPE,
                kind=INTERNAL,
                duration_s=4.0,
                children=[
                    S(
                        "chat1",
                        "chat gpt-4o-mini",
                        {
                            "gen_ai.operation.name": "chat",
                            "gen_ai.provider.name": "openai",
                            "gen_ai.request.model": "gpt-4o-mini",
                            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                            "gen_ai.usage.input_tokens": 300,
                            "gen_ai.usage.output_tokens": 40,
                            "gen_ai.usage.cache_read.input_tokens": 0,
                            "gen_ai.client.operation.duration": 1.5,
                            "gen_ai.client.operation.time_to_first_chunk": 0.4,
                            "gen_ai.client.operation.time_per_output_chunk": 0.028,
                            "gen_ai.input.messages": "[]",
                        },
                        scope=SCOPE,
                        kind=CLIENT,
                        start_s=0.1,
                        duration_s=1.5,
                    ),
                    S(
                        "tool",
                        "execute_tool lookup",
                        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
                        scope=SCOPE,
                        kind=INTERNAL,
                        start_s=1.7,
                        duration_s=0.2,
                    ),
                    S(
                        "chat2",
                        "chat gpt-4o-mini",
                        {
                            "gen_ai.operation.name": "chat",
                            "gen_ai.provider.name": "openai",
                            "gen_ai.request.model": "gpt-4o-mini",
                            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                            "gen_ai.usage.input_tokens": 400,
                            "gen_ai.usage.output_tokens": 50,
                            "gen_ai.usage.cache_read.input_tokens": 256,
                            "gen_ai.client.operation.duration": 2.0,
                            "gen_ai.client.operation.time_to_first_chunk": 0.6,
                            "gen_ai.client.operation.time_per_output_chunk": 0.029,
                        },
                        scope=SCOPE,
                        kind=CLIENT,
                        start_s=1.95,
                        duration_s=2.0,
                    ),
                ],
            )
        ],
        [
            Call(
                "chat1",
                "vercel_ai_v7",
                "chat",
                "openai",
                "gpt-4o-mini",
                "gpt-4o-mini-2024-07-18",
                input=300,
                output=40,
                cache_read=0,
                streaming=True,
                ttft_s=0.4,
            ),
            Call(
                "chat2",
                "vercel_ai_v7",
                "chat",
                "openai",
                "gpt-4o-mini",
                "gpt-4o-mini-2024-07-18",
                input=400,
                output=50,
                cache_read=256,
                streaming=True,
                ttft_s=0.6,
            ),
        ],
        redacted=("gen_ai.input.messages",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_vercel_ai(case: Case) -> None:
    check(case)
