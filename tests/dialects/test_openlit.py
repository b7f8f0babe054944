"""OpenLIT before and after its 2026-02 alignment with the GenAI semconv (reference §4, §14.1, §14.6).

Quirks under test: Anthropic ``gen_ai.usage.input_tokens`` EXCLUDES cache (so llmpulse adds the
cache reads and writes); ``gen_ai.server.time_to_first_token`` equals the whole duration on
non-streamed calls, so it is only a TTFT on streams; the legacy streaming flag is
``gen_ai.request.is_stream`` and legacy cache keys are ``gen_ai.usage.prompt_tokens_details.*``;
a failed Anthropic call may carry no attributes at all (provider from the scope, model from the
span name ``chat {model}``).
"""

from __future__ import annotations

import pytest

from tests.dialects._harness import Call, Case, S, check, exc

OPENAI = "openlit.instrumentation.openai"
ANTHROPIC = "openlit.instrumentation.anthropic"
RESOURCEISH = {"telemetry.sdk.name": "openlit", "gen_ai.sdk.version": "1.44.0"}

CASES = [
    Case(
        # non-stream: OpenLIT sets the TTFT attribute to the full duration; it is not a TTFT
        "head-openai-chat-non-stream-ttft-quirk",
        [
            S(
                "chat",
                "chat gpt-4o-mini",
                {
                    **RESOURCEISH,
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 31,
                    "gen_ai.usage.output_tokens": 17,
                    "gen_ai.usage.cache_read.input_tokens": 0,
                    "gen_ai.client.token.usage": 48,
                    "gen_ai.request.stream": False,
                    "gen_ai.server.time_to_first_token": 1.2,
                    "gen_ai.server.time_per_output_token": 0.0,
                    "gen_ai.usage.cost": 0.0000148,
                    "gen_ai.response.finish_reasons": ["stop"],
                    "gen_ai.input.messages": '[{"role": "user", "parts": []}]',
                    "gen_ai.output.messages": '[{"role": "assistant", "parts": []}]',
                },
                scope=OPENAI,
                duration_s=1.2,
            )
        ],
        [
            Call(
                "chat",
                "openlit",
                "chat",
                "openai",
                "gpt-4o-mini",
                "gpt-4o-mini-2024-07-18",
                input=31,
                output=17,
                cache_read=0,
                streaming=False,
                finish_reasons=("stop",),
            )
        ],
        redacted=("gen_ai.input.messages", "gen_ai.output.messages"),
    ),
    Case(
        "head-openai-stream-ttft",
        [
            S(
                "chat",
                "chat gpt-4o",
                {
                    **RESOURCEISH,
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.usage.input_tokens": 300,
                    "gen_ai.usage.output_tokens": 120,
                    "gen_ai.usage.reasoning_tokens": 0,
                    "gen_ai.request.stream": True,
                    "gen_ai.server.time_to_first_token": 0.25,
                    "gen_ai.server.time_per_output_token": 0.02,
                },
                scope=OPENAI,
                duration_s=2.6,
            )
        ],
        [
            Call(
                "chat",
                "openlit",
                "chat",
                "openai",
                "gpt-4o",
                "gpt-4o-2024-08-06",
                input=300,
                output=120,
                reasoning=0,
                streaming=True,
                ttft_s=0.25,
            )
        ],
    ),
    Case(
        # Anthropic input_tokens is raw (exclusive): 41 + 2048 cache reads + 512 cache writes
        "head-anthropic-exclusive-input",
        [
            S(
                "chat",
                "chat claude-3-5-sonnet-latest",
                {
                    **RESOURCEISH,
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "anthropic",
                    "gen_ai.request.model": "claude-3-5-sonnet-latest",
                    "gen_ai.response.model": "claude-3-5-sonnet-20241022",
                    "gen_ai.usage.input_tokens": 41,
                    "gen_ai.usage.output_tokens": 9,
                    "gen_ai.usage.cache_read.input_tokens": 2048,
                    "gen_ai.usage.cache_creation.input_tokens": 512,
                    "gen_ai.request.stream": False,
                    "gen_ai.server.time_to_first_token": 0.9,
                },
                scope=ANTHROPIC,
                duration_s=0.9,
            )
        ],
        [
            Call(
                "chat",
                "openlit",
                "chat",
                "anthropic",
                "claude-3-5-sonnet-latest",
                "claude-3-5-sonnet-20241022",
                input=2601,
                output=9,
                cache_read=2048,
                cache_write=512,
                streaming=False,
            )
        ],
    ),
    Case(
        "legacy-anthropic-stream-exclusive-input",
        [
            S(
                "chat",
                "chat claude-3-5-haiku-latest",
                {
                    **RESOURCEISH,
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "anthropic",
                    "gen_ai.request.model": "claude-3-5-haiku-latest",
                    "gen_ai.response.model": "claude-3-5-haiku-20241022",
                    "gen_ai.usage.input_tokens": 100,
                    "gen_ai.usage.output_tokens": 60,
                    "gen_ai.usage.prompt_tokens_details.cache_read": 3000,
                    "gen_ai.usage.prompt_tokens_details.cache_write": 700,
                    "gen_ai.request.is_stream": True,
                    "gen_ai.server.time_to_first_token": 0.4,
                    "gen_ai.prompt": "user: hi",
                    "gen_ai.completion": "hello",
                },
                scope=ANTHROPIC,
                duration_s=1.7,
            )
        ],
        [
            Call(
                "chat",
                "openlit",
                "chat",
                "anthropic",
                "claude-3-5-haiku-latest",
                "claude-3-5-haiku-20241022",
                input=3800,
                output=60,
                cache_read=3000,
                cache_write=700,
                streaming=True,
                ttft_s=0.4,
            )
        ],
        redacted=("gen_ai.prompt", "gen_ai.completion"),
    ),
    Case(
        "legacy-openai-embeddings",
        [
            S(
                "emb",
                "embeddings text-embedding-3-small",
                {
                    **RESOURCEISH,
                    "gen_ai.operation.name": "embeddings",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "text-embedding-3-small",
                    "gen_ai.usage.input_tokens": 12,
                    "gen_ai.request.is_stream": False,
                    "gen_ai.usage.cost": 2.4e-07,
                },
                scope=OPENAI,
                duration_s=0.1,
            )
        ],
        [
            Call(
                "emb",
                "openlit",
                "embeddings",
                "openai",
                "text-embedding-3-small",
                None,
                input=12,
                streaming=False,
            )
        ],
    ),
    Case(
        # a failed call with no attributes: provider from the scope, model from the span name
        "failed-anthropic-bare-span",
        [
            S(
                "chat",
                "chat claude-3-5-sonnet-latest",
                {},
                scope=ANTHROPIC,
                duration_s=0.02,
                error="Error code: 429",
                exceptions=[
                    exc(
                        "anthropic.RateLimitError",
                        "Error code: 429 - {'type': 'error', 'error': {'type': 'rate_limit_error', "
                        "'message': 'Number of request tokens has exceeded your per-minute rate limit'}}",
                    )
                ],
            )
        ],
        [
            Call(
                "chat",
                "openlit",
                "chat",
                "anthropic",
                "claude-3-5-sonnet-latest",
                None,
                error_class="rate_limit",
            )
        ],
    ),
    Case(
        # OpenAI ContentFilterFinishReasonError is not raised: a 200 with finish_reason content_filter
        "head-openai-content-filter-200",
        [
            S(
                "chat",
                "chat gpt-4o-mini",
                {
                    **RESOURCEISH,
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 20,
                    "gen_ai.usage.output_tokens": 0,
                    "gen_ai.response.finish_reasons": ["content_filter"],
                },
                scope=OPENAI,
            )
        ],
        [
            Call(
                "chat",
                "openlit",
                "chat",
                "openai",
                "gpt-4o-mini",
                "gpt-4o-mini-2024-07-18",
                input=20,
                output=0,
                error_class="content_filter",
            )
        ],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_openlit(case: Case) -> None:
    check(case)
