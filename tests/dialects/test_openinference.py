"""OpenInference (Arize / Phoenix) and Envoy AI Gateway's OpenInference tracing mode (§3, §11c).

Calls are ``openinference.span.kind`` LLM or EMBEDDING spans (usually INTERNAL); CHAIN and AGENT
spans wrap them and are never calls, even when they repeat token counts. The request model is
often only inside ``llm.invocation_parameters`` (JSON), streaming too; TTFT comes from the
``First Token Stream Event`` some instrumentors add. No ``error.type``: errors are the span status
plus an ``exception`` event. Input tokens are inclusive of cache for every provider.
"""

from __future__ import annotations

import json

import pytest

from tests.dialects._harness import INTERNAL, Call, Case, Ev, S, check, exc

OPENAI = "openinference.instrumentation.openai"
ANTHROPIC = "openinference.instrumentation.anthropic"
KIND = "openinference.span.kind"

CASES = [
    Case(
        "openai-chat-cache-reasoning",
        [
            S(
                "llm",
                "ChatCompletion",
                {
                    KIND: "LLM",
                    "llm.provider": "openai",
                    "llm.system": "openai",
                    "llm.model_name": "gpt-4o-mini-2024-07-18",
                    "llm.invocation_parameters": json.dumps({"model": "gpt-4o-mini", "temperature": 0}),
                    "llm.token_count.prompt": 1200,
                    "llm.token_count.completion": 300,
                    "llm.token_count.total": 1500,
                    "llm.token_count.prompt_details.cache_read": 1024,
                    "llm.token_count.completion_details.reasoning": 64,
                    "input.value": '{"messages": [{"role": "user", "content": "hi"}]}',
                    "input.mime_type": "application/json",
                    "output.value": '{"choices": []}',
                    "llm.input_messages.0.message.role": "user",
                    "llm.input_messages.0.message.content": "hi",
                    "llm.output_messages.0.message.role": "assistant",
                    "llm.output_messages.0.message.content": "hello",
                },
                scope=OPENAI,
                kind=INTERNAL,
            )
        ],
        [
            Call(
                "llm",
                "openinference",
                "chat",
                "openai",
                "gpt-4o-mini",
                "gpt-4o-mini-2024-07-18",
                input=1200,
                output=300,
                cache_read=1024,
                reasoning=64,
            )
        ],
        redacted=("input.value", "output.value", "llm.input_messages", "llm.output_messages"),
    ),
    Case(
        "openai-stream-first-token-event",
        [
            S(
                "llm",
                "ChatCompletion",
                {
                    KIND: "LLM",
                    "llm.provider": "openai",
                    "llm.system": "openai",
                    "llm.model_name": "gpt-4o-2024-08-06",
                    "llm.invocation_parameters": json.dumps(
                        {"model": "gpt-4o", "stream": True, "stream_options": {"include_usage": True}}
                    ),
                    "llm.token_count.prompt": 42,
                    "llm.token_count.completion": 18,
                },
                scope=OPENAI,
                kind=INTERNAL,
                duration_s=1.9,
                events=[Ev("First Token Stream Event", 0.33)],
            )
        ],
        [
            Call(
                "llm",
                "openinference",
                "chat",
                "openai",
                "gpt-4o",
                "gpt-4o-2024-08-06",
                input=42,
                output=18,
                streaming=True,
                ttft_s=0.33,
            )
        ],
    ),
    Case(
        # Anthropic: llm.token_count.prompt = input + cache_creation + cache_read (inclusive)
        "anthropic-inclusive-cache",
        [
            S(
                "llm",
                "messages.create",
                {
                    KIND: "LLM",
                    "llm.provider": "anthropic",
                    "llm.system": "anthropic",
                    "llm.model_name": "claude-3-7-sonnet-20250219",
                    "llm.request.model_name": "claude-3-7-sonnet-latest",
                    "llm.invocation_parameters": json.dumps({"max_tokens": 256}),
                    "llm.token_count.prompt": 5100,
                    "llm.token_count.completion": 220,
                    "llm.token_count.prompt_details.cache_read": 4000,
                    "llm.token_count.prompt_details.cache_write": 1000,
                },
                scope=ANTHROPIC,
                kind=INTERNAL,
            )
        ],
        [
            Call(
                "llm",
                "openinference",
                "chat",
                "anthropic",
                "claude-3-7-sonnet-latest",
                "claude-3-7-sonnet-20250219",
                input=5100,
                output=220,
                cache_read=4000,
                cache_write=1000,
            )
        ],
    ),
    Case(
        # openai-agents realtime: the first-token time is in milliseconds
        "realtime-time-to-first-token-ms",
        [
            S(
                "llm",
                "realtime response",
                {
                    KIND: "LLM",
                    "llm.provider": "openai",
                    "llm.system": "openai",
                    "llm.model_name": "gpt-4o-realtime-preview",
                    "llm.token_count.prompt": 250,
                    "llm.token_count.completion": 90,
                    "time_to_first_token_ms": 420.0,
                },
                scope="openinference.instrumentation.openai_agents",
                kind=INTERNAL,
                duration_s=1.2,
            )
        ],
        [
            Call(
                "llm",
                "openinference",
                "chat",
                "openai",
                None,
                "gpt-4o-realtime-preview",
                input=250,
                output=90,
                streaming=True,
                ttft_s=0.42,
            )
        ],
    ),
    Case(
        "embedding",
        [
            S(
                "emb",
                "CreateEmbeddings",
                {
                    KIND: "EMBEDDING",
                    "embedding.model_name": "text-embedding-3-small",
                    "embedding.invocation_parameters": json.dumps({"model": "text-embedding-3-small"}),
                    "llm.provider": "openai",
                    "llm.system": "openai",
                    "llm.token_count.prompt": 6,
                    "llm.token_count.total": 6,
                    "embedding.embeddings.0.embedding.text": "hello world",
                    "input.value": '{"input": "hello world"}',
                },
                scope=OPENAI,
                kind=INTERNAL,
                duration_s=0.12,
            )
        ],
        [
            Call(
                "emb",
                "openinference",
                "embeddings",
                "openai",
                "text-embedding-3-small",
                "text-embedding-3-small",
                input=6,
            )
        ],
        redacted=("embedding.embeddings", "input.value"),
    ),
    Case(
        # AGENT → CHAIN → LLM: only the LLM span is a call, though the wrappers repeat its usage
        "agent-chain-parents-not-counted",
        [
            S(
                "agent",
                "Agent.run",
                {
                    KIND: "AGENT",
                    "llm.token_count.prompt": 800,
                    "llm.token_count.completion": 90,
                    "input.value": "plan a trip",
                },
                scope="openinference.instrumentation.llama_index",
                kind=INTERNAL,
                duration_s=3.0,
                children=[
                    S(
                        "chain",
                        "RetrieverQueryEngine.query",
                        {
                            KIND: "CHAIN",
                            "llm.token_count.prompt": 800,
                            "llm.token_count.completion": 90,
                            "llm.model_name": "gpt-4.1",
                        },
                        scope="openinference.instrumentation.llama_index",
                        kind=INTERNAL,
                        start_s=0.1,
                        duration_s=2.8,
                        children=[
                            S(
                                "llm",
                                "OpenAI.chat",
                                {
                                    KIND: "LLM",
                                    "llm.provider": "openai",
                                    "llm.system": "openai",
                                    "llm.model_name": "gpt-4.1-2025-04-14",
                                    "llm.invocation_parameters": json.dumps({"model": "gpt-4.1"}),
                                    "llm.token_count.prompt": 800,
                                    "llm.token_count.completion": 90,
                                },
                                scope="openinference.instrumentation.llama_index",
                                kind=INTERNAL,
                                start_s=0.5,
                                duration_s=2.0,
                            )
                        ],
                    )
                ],
            )
        ],
        [
            Call(
                "llm",
                "openinference",
                "chat",
                "openai",
                "gpt-4.1",
                "gpt-4.1-2025-04-14",
                input=800,
                output=90,
            )
        ],
        redacted=("input.value",),
    ),
    Case(
        # the captured anthropic_rate_limit shape: status + exception event, no error.type
        "anthropic-rate-limit-exception-event",
        [
            S(
                "llm",
                "messages.create",
                {
                    KIND: "LLM",
                    "llm.provider": "anthropic",
                    "llm.system": "anthropic",
                    "llm.model_name": "claude-3-5-sonnet-latest",
                    "llm.request.model_name": "claude-3-5-sonnet-latest",
                    "llm.invocation_parameters": json.dumps({"max_tokens": 16}),
                },
                scope=ANTHROPIC,
                kind=INTERNAL,
                duration_s=0.03,
                error="Error code: 429 - {'type': 'error', 'error': {'type': 'rate_limit_error', "
                "'message': 'Number of request tokens has exceeded your per-minute rate limit'}}",
                exceptions=[
                    exc(
                        "anthropic.RateLimitError",
                        "Error code: 429 - {'type': 'error', 'error': {'type': 'rate_limit_error'}}",
                    )
                ],
            )
        ],
        [
            Call(
                "llm",
                "openinference",
                "chat",
                "anthropic",
                "claude-3-5-sonnet-latest",
                "claude-3-5-sonnet-latest",
                error_class="rate_limit",
            )
        ],
    ),
    Case(
        # Azure refuses the prompt with HTTP 400 code=content_filter; hosting provider "azure"
        "azure-prompt-content-filter-400",
        [
            S(
                "llm",
                "ChatCompletion",
                {
                    KIND: "LLM",
                    "llm.provider": "azure",
                    "llm.system": "openai",
                    "llm.invocation_parameters": json.dumps({"model": "gpt-4o"}),
                },
                scope=OPENAI,
                kind=INTERNAL,
                duration_s=0.2,
                error="",
                exceptions=[
                    exc(
                        "openai.BadRequestError",
                        "Error code: 400 - {'error': {'message': 'The response was filtered due to the "
                        "prompt triggering Azure OpenAI content management policy.', 'type': None, "
                        "'param': 'prompt', 'code': 'content_filter', 'status': 400}}",
                    )
                ],
            )
        ],
        [
            Call(
                "llm",
                "openinference",
                "chat",
                "azure.ai.openai",
                "gpt-4o",
                None,
                error_class="content_filter",
            )
        ],
    ),
    Case(
        # a model with no price: the library's own llm.cost.total (USD) is used, marked reported
        "unpriced-model-reported-cost",
        [
            S(
                "llm",
                "ChatCompletion",
                {
                    KIND: "LLM",
                    "llm.provider": "fireworks",
                    "llm.system": "openai",
                    "llm.model_name": "accounts/fireworks/models/llama-v3p1-70b-instruct",
                    "llm.token_count.prompt": 1000,
                    "llm.token_count.completion": 500,
                    "llm.cost.total": 0.00135,
                },
                scope=OPENAI,
                kind=INTERNAL,
            )
        ],
        [
            Call(
                "llm",
                "openinference",
                "chat",
                "fireworks",
                None,
                "accounts/fireworks/models/llama-v3p1-70b-instruct",
                input=1000,
                output=500,
                reported_cost=0.00135,
            )
        ],
    ),
    Case(
        # Envoy AI Gateway's OpenInference mode spells cache writes prompt_details.cache_creation
        "envoy-ai-gateway-cache-creation",
        [
            S(
                "llm",
                "ChatCompletion",
                {
                    KIND: "LLM",
                    "llm.system": "anthropic",
                    "llm.model_name": "claude-sonnet-4-20250514",
                    "llm.invocation_parameters": json.dumps({"model": "claude-sonnet-4"}),
                    "llm.token_count.prompt": 3000,
                    "llm.token_count.completion": 100,
                    "llm.token_count.total": 3100,
                    "llm.token_count.prompt_details.cache_read": 1000,
                    "llm.token_count.prompt_details.cache_creation": 1500,
                },
                scope="envoyproxy/ai-gateway",
            )
        ],
        [
            Call(
                "llm",
                "openinference",
                "chat",
                "anthropic",
                "claude-sonnet-4",
                "claude-sonnet-4-20250514",
                input=3000,
                output=100,
                cache_read=1000,
                cache_write=1500,
            )
        ],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_openinference(case: Case) -> None:
    check(case)
