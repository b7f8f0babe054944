"""OpenLLMetry (Traceloop), all three generations (reference §2).

- legacy ≤0.47: ``gen_ai.system``, ``prompt_tokens``/``completion_tokens``, ``llm.request.type``,
  ``llm.is_streaming``, indexed ``gen_ai.prompt.N.*``/``gen_ai.completion.N.*`` content,
  capitalised provider values, chunk events ``llm.content.completion.chunk``;
- transition 0.48–0.54: ``input_tokens``/``output_tokens`` with ``gen_ai.system``,
  ``llm.usage.total_tokens`` and underscore cache keys;
- current 0.55+: ``gen_ai.provider.name``, dotted cache keys, ``gen_ai.is_streaming``,
  ``gen_ai.content.completion.chunk`` events (TTFT is derivable only from them).

Input tokens are inclusive of cache for every provider (the Anthropic wrapper adds cache reads and
writes); the legacy Anthropic wrapper is assumed to do the same (the reference documents the sum
for the current wrapper only).
"""

from __future__ import annotations

import pytest

from tests.dialects._harness import INTERNAL, Call, Case, Ev, S, check, exc

OPENAI = "opentelemetry.instrumentation.openai.v1"
ANTHROPIC = "opentelemetry.instrumentation.anthropic"
LANGCHAIN = "opentelemetry.instrumentation.langchain"
API_BASE = "https://api.openai.com/v1/"


def _chunks(first_s: float, count: int = 4, name: str = "gen_ai.content.completion.chunk") -> list[Ev]:
    return [Ev(name, first_s + 0.05 * i) for i in range(count)]


CASES = [
    Case(
        "current-openai-chat",
        [
            S(
                "chat",
                "openai.chat",
                {
                    "gen_ai.provider.name": "openai",
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 31,
                    "gen_ai.usage.output_tokens": 17,
                    "gen_ai.usage.total_tokens": 48,
                    # the OpenAI wrapper writes 0 when the response has no cached tokens
                    "gen_ai.usage.cache_read.input_tokens": 0,
                    "gen_ai.usage.reasoning_tokens": 0,
                    "gen_ai.is_streaming": False,
                    "gen_ai.openai.api_base": API_BASE,
                    "gen_ai.response.finish_reasons": ["stop"],
                    "gen_ai.input.messages": '[{"role": "user", "parts": []}]',
                    "gen_ai.output.messages": '[{"role": "assistant", "parts": []}]',
                },
                scope=OPENAI,
                duration_s=0.8,
            )
        ],
        [
            Call(
                "chat",
                "openllmetry",
                "chat",
                "openai",
                "gpt-4o-mini",
                "gpt-4o-mini-2024-07-18",
                input=31,
                output=17,
                cache_read=0,
                reasoning=0,
                streaming=False,
                finish_reasons=("stop",),
            )
        ],
        redacted=("gen_ai.input.messages", "gen_ai.output.messages"),
    ),
    Case(
        "current-openai-stream-chunk-events",
        [
            S(
                "chat",
                "openai.chat",
                {
                    "gen_ai.provider.name": "openai",
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "o3-mini",
                    "gen_ai.response.model": "o3-mini-2025-01-31",
                    "gen_ai.usage.input_tokens": 900,
                    "gen_ai.usage.output_tokens": 400,
                    "gen_ai.usage.cache_read.input_tokens": 512,
                    "gen_ai.usage.reasoning_tokens": 256,
                    "gen_ai.is_streaming": True,
                },
                scope=OPENAI,
                duration_s=3.0,
                events=_chunks(0.75),
            )
        ],
        [
            Call(
                "chat",
                "openllmetry",
                "chat",
                "openai",
                "o3-mini",
                "o3-mini-2025-01-31",
                input=900,
                output=400,
                cache_read=512,
                reasoning=256,
                streaming=True,
                ttft_s=0.75,
            )
        ],
    ),
    Case(
        "current-anthropic-inclusive-cache",
        [
            S(
                "chat",
                "anthropic.chat",
                {
                    "gen_ai.provider.name": "anthropic",
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "claude-3-5-sonnet-latest",
                    "gen_ai.response.model": "claude-3-5-sonnet-20241022",
                    "gen_ai.usage.input_tokens": 2601,
                    "gen_ai.usage.output_tokens": 10,
                    "gen_ai.usage.total_tokens": 2611,
                    "gen_ai.usage.cache_read.input_tokens": 2048,
                    "gen_ai.usage.cache_creation.input_tokens": 512,
                    "gen_ai.is_streaming": True,
                    "gen_ai.response.finish_reasons": ["stop"],
                },
                scope=ANTHROPIC,
                events=_chunks(0.17),
            )
        ],
        [
            Call(
                "chat",
                "openllmetry",
                "chat",
                "anthropic",
                "claude-3-5-sonnet-latest",
                "claude-3-5-sonnet-20241022",
                input=2601,
                output=10,
                cache_read=2048,
                cache_write=512,
                streaming=True,
                ttft_s=0.17,
            )
        ],
    ),
    Case(
        "transition-0.5x-openai",
        [
            S(
                "chat",
                "openai.chat",
                {
                    "gen_ai.system": "openai",
                    "llm.request.type": "chat",
                    "gen_ai.request.model": "o3-mini",
                    "gen_ai.response.model": "o3-mini-2025-01-31",
                    "gen_ai.usage.input_tokens": 1500,
                    "gen_ai.usage.output_tokens": 200,
                    "llm.usage.total_tokens": 1700,
                    # semconv-ai 0.5.2's legacy alias for reasoning tokens
                    "llm.usage.reasoning_tokens": 64,
                    "gen_ai.usage.cache_read_input_tokens": 1024,
                    "llm.is_streaming": False,
                    "gen_ai.openai.api_base": API_BASE,
                },
                scope=OPENAI,
            )
        ],
        [
            Call(
                "chat",
                "openllmetry",
                "chat",
                "openai",
                "o3-mini",
                "o3-mini-2025-01-31",
                input=1500,
                output=200,
                cache_read=1024,
                reasoning=64,
                streaming=False,
            )
        ],
    ),
    Case(
        "transition-0.5x-anthropic-capitalised-system",
        [
            S(
                "chat",
                "anthropic.chat",
                {
                    "gen_ai.system": "Anthropic",
                    "llm.request.type": "chat",
                    "gen_ai.request.model": "claude-3-5-haiku-latest",
                    "gen_ai.response.model": "claude-3-5-haiku-20241022",
                    "gen_ai.usage.input_tokens": 3000,
                    "gen_ai.usage.output_tokens": 150,
                    "gen_ai.usage.cache_read_input_tokens": 2000,
                    "gen_ai.usage.cache_creation_input_tokens": 900,
                },
                scope=ANTHROPIC,
            )
        ],
        [
            Call(
                "chat",
                "openllmetry",
                "chat",
                "anthropic",
                "claude-3-5-haiku-latest",
                "claude-3-5-haiku-20241022",
                input=3000,
                output=150,
                cache_read=2000,
                cache_write=900,
            )
        ],
    ),
    Case(
        "legacy-0.4x-openai-stream",
        [
            S(
                "chat",
                "openai.chat",
                {
                    "gen_ai.system": "OpenAI",
                    "llm.request.type": "chat",
                    "gen_ai.request.model": "gpt-4-turbo",
                    "gen_ai.response.model": "gpt-4-turbo-2024-04-09",
                    "gen_ai.usage.prompt_tokens": 120,
                    "gen_ai.usage.completion_tokens": 64,
                    "llm.usage.total_tokens": 184,
                    "llm.is_streaming": True,
                    "gen_ai.openai.api_base": API_BASE,
                    "gen_ai.prompt.0.role": "user",
                    "gen_ai.prompt.0.content": "hello",
                    "gen_ai.completion.0.role": "assistant",
                    "gen_ai.completion.0.content": "hi there",
                    "gen_ai.completion.0.finish_reason": "stop",
                },
                scope=OPENAI,
                duration_s=2.5,
                events=_chunks(0.6, name="llm.content.completion.chunk"),
            )
        ],
        [
            Call(
                "chat",
                "openllmetry",
                "chat",
                "openai",
                "gpt-4-turbo",
                "gpt-4-turbo-2024-04-09",
                input=120,
                output=64,
                streaming=True,
                ttft_s=0.6,
                finish_reasons=("stop",),
            )
        ],
        redacted=("gen_ai.prompt", "gen_ai.completion"),
    ),
    Case(
        # content-filtered choice: finish_reason content_filter, content replaced by "FILTERED"
        "legacy-azure-content-filter",
        [
            S(
                "chat",
                "openai.chat",
                {
                    "gen_ai.system": "Azure",
                    "llm.request.type": "chat",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-05-13",
                    "gen_ai.usage.prompt_tokens": 40,
                    "gen_ai.usage.completion_tokens": 0,
                    "gen_ai.completion.0.content": "FILTERED",
                    "gen_ai.completion.0.finish_reason": "content_filter",
                },
                scope=OPENAI,
            )
        ],
        [
            Call(
                "chat",
                "openllmetry",
                "chat",
                "azure.ai.openai",
                "gpt-4o",
                "gpt-4o-2024-05-13",
                input=40,
                output=0,
                error_class="content_filter",
            )
        ],
        redacted=("gen_ai.completion",),
    ),
    Case(
        "legacy-embeddings",
        [
            S(
                "emb",
                "openai.embeddings",
                {
                    "gen_ai.system": "openai",
                    "llm.request.type": "embedding",
                    "gen_ai.request.model": "text-embedding-3-large",
                    "gen_ai.response.model": "text-embedding-3-large",
                    "gen_ai.usage.prompt_tokens": 2048,
                    "llm.usage.total_tokens": 2048,
                },
                scope=OPENAI,
                duration_s=0.3,
            )
        ],
        [
            Call(
                "emb",
                "openllmetry",
                "embeddings",
                "openai",
                "text-embedding-3-large",
                "text-embedding-3-large",
                input=2048,
            )
        ],
    ),
    Case(
        "current-rate-limit-429",
        [
            S(
                "chat",
                "openai.chat",
                {
                    "gen_ai.provider.name": "openai",
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.is_streaming": False,
                    "error.type": "RateLimitError",
                },
                scope=OPENAI,
                duration_s=0.05,
                error="Error code: 429",
                exceptions=[
                    exc(
                        "openai.RateLimitError",
                        "Error code: 429 - {'error': {'message': 'Rate limit reached for gpt-4o-mini', "
                        "'type': 'requests', 'code': 'rate_limit_exceeded'}}",
                    )
                ],
            )
        ],
        [
            Call(
                "chat",
                "openllmetry",
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
        # LangChain framework span around the OpenAI SDK span for the same call: the SDK span counts
        "framework-parent-sdk-child",
        [
            S(
                "framework",
                "ChatOpenAI.chat",
                {
                    "traceloop.span.kind": "task",
                    "llm.request.type": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.usage.prompt_tokens": 210,
                    "gen_ai.usage.completion_tokens": 45,
                    "traceloop.entity.input": '{"messages": [["human", "hi"]]}',
                    "traceloop.entity.output": '{"generations": []}',
                },
                scope=LANGCHAIN,
                kind=INTERNAL,
                duration_s=1.4,
                children=[
                    S(
                        "sdk",
                        "openai.chat",
                        {
                            "gen_ai.provider.name": "openai",
                            "gen_ai.operation.name": "chat",
                            "gen_ai.request.model": "gpt-4o",
                            "gen_ai.response.model": "gpt-4o-2024-08-06",
                            "gen_ai.usage.input_tokens": 210,
                            "gen_ai.usage.output_tokens": 45,
                            "gen_ai.usage.cache_read.input_tokens": 0,
                            "gen_ai.is_streaming": False,
                        },
                        scope=OPENAI,
                        start_s=0.1,
                        duration_s=1.2,
                    )
                ],
            )
        ],
        [
            Call(
                "sdk",
                "openllmetry",
                "chat",
                "openai",
                "gpt-4o",
                "gpt-4o-2024-08-06",
                input=210,
                output=45,
                cache_read=0,
                streaming=False,
            )
        ],
        duplicates={"framework": ("sdk", "nested")},
        redacted=("traceloop.entity.input", "traceloop.entity.output"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_openllmetry(case: Case) -> None:
    check(case)
