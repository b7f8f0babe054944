"""Pydantic Logfire's LLM integrations and Pydantic AI (reference §8).

Logfire names spans with the unformatted message template (``Chat Completion with
{request_data[model]!r}``) and writes both ``gen_ai.provider.name`` and ``gen_ai.system``. Its v1
format keeps request and response as JSON (``request_data``/``response_data``, the OpenAI usage
object inside); a stream's request span ends before the stream is read and the usage-less
``streaming response from … took …s`` log that follows is not another call. Pydantic AI counts
input inclusive of cache for every provider, adds ``gen_ai.usage.details.*`` and renames agent
aggregates to ``gen_ai.aggregated_usage.*`` (the agent span is not a call). Cost is
``operation.cost`` (USD), used only for an unpriced model. Neither writes a first-chunk time.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dialects._harness import INTERNAL, Call, Case, S, check

LOGFIRE = "logfire.openai"
PYDANTIC_AI = "pydantic-ai"
CHAT_TEMPLATE = "Chat Completion with {request_data[model]!r}"
STREAM_LOG = "streaming response from {request_data[model]!r} took {duration:.2f}s"


def _logfire_span(key: str, model: str, attrs: dict[str, Any], **span: object) -> S:
    return S(
        key,
        CHAT_TEMPLATE,
        {
            "logfire.msg_template": CHAT_TEMPLATE,
            "logfire.msg": f"Chat Completion with {model!r}",
            "logfire.span_type": "span",
            "gen_ai.system": "openai",
            **attrs,
        },
        scope=LOGFIRE,
        kind=INTERNAL,
        **span,  # type: ignore[arg-type]
    )


CASES = [
    Case(
        "v1-request-response-data",
        [
            _logfire_span(
                "chat",
                "gpt-4o",
                {
                    "request_data": json.dumps(
                        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
                    ),
                    "response_data": json.dumps(
                        {
                            "message": {"role": "assistant", "content": "hello"},
                            "usage": {
                                "prompt_tokens": 1300,
                                "completion_tokens": 200,
                                "total_tokens": 1500,
                                "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
                                "completion_tokens_details": {"reasoning_tokens": 0},
                            },
                        }
                    ),
                },
            )
        ],
        [
            Call(
                "chat",
                "logfire",
                "chat",
                "openai",
                "gpt-4o",
                None,
                input=1300,
                output=200,
                cache_read=1024,
                reasoning=0,
            )
        ],
        redacted=("request_data", "response_data"),
    ),
    Case(
        # the request span of a stream has no usage; the follow-up log span is not a call
        "v1-stream-request-span-and-streaming-log",
        [
            _logfire_span(
                "chat",
                "gpt-4o-mini",
                {"request_data": json.dumps({"model": "gpt-4o-mini", "stream": True, "messages": []})},
                duration_s=0.4,
            ),
            S(
                "log",
                STREAM_LOG,
                {
                    "logfire.msg_template": STREAM_LOG,
                    "logfire.span_type": "log",
                    "request_data": json.dumps({"model": "gpt-4o-mini", "stream": True}),
                    "response_data": json.dumps({"combined_chunk_content": "hello", "chunk_count": 5}),
                    "duration": 1.23,
                    "gen_ai.system": "openai",
                },
                scope=LOGFIRE,
                kind=INTERNAL,
                start_s=1.7,
                duration_s=0.0,
            ),
        ],
        [Call("chat", "logfire", "chat", "openai", "gpt-4o-mini", None, streaming=True, duration_s=0.4)],
        redacted=("request_data", "response_data"),
    ),
    Case(
        "semconv-form-provider-and-system",
        [
            _logfire_span(
                "chat",
                "gpt-4o-mini",
                {
                    "request_data": json.dumps({"model": "gpt-4o-mini"}),
                    "gen_ai.provider.name": "openai",
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.response.id": "chatcmpl-9",
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 300,
                    "gen_ai.usage.cache_read.input_tokens": 1024,
                    "gen_ai.usage.raw": json.dumps({"prompt_tokens": 1200, "completion_tokens": 300}),
                    "gen_ai.response.finish_reasons": ["stop"],
                    "gen_ai.input.messages": '[{"role": "user", "parts": []}]',
                    "gen_ai.output.messages": '[{"role": "assistant", "parts": []}]',
                    "operation.cost": 0.000241,
                },
            )
        ],
        [
            Call(
                "chat",
                "logfire",
                "chat",
                "openai",
                "gpt-4o-mini",
                "gpt-4o-mini-2024-07-18",
                input=1200,
                output=300,
                cache_read=1024,
                finish_reasons=("stop",),
            )
        ],
        redacted=("gen_ai.input.messages", "gen_ai.output.messages", "request_data"),
    ),
    Case(
        # Pydantic AI: agent run (aggregated usage) → chat span; Anthropic input already inclusive
        "pydantic-ai-agent-aggregated-usage-not-counted",
        [
            S(
                "agent",
                "invoke_agent support_agent",
                {
                    "gen_ai.agent.name": "support_agent",
                    "agent_name": "support_agent",
                    "model_name": "claude-sonnet-4-5",
                    "gen_ai.aggregated_usage.input_tokens": 2601,
                    "gen_ai.aggregated_usage.output_tokens": 80,
                    "logfire.msg": "support_agent run",
                },
                scope=PYDANTIC_AI,
                kind=INTERNAL,
                duration_s=3.0,
                children=[
                    S(
                        "chat",
                        "chat claude-sonnet-4-5",
                        {
                            "gen_ai.operation.name": "chat",
                            "gen_ai.system": "anthropic",
                            "gen_ai.provider.name": "anthropic",
                            "gen_ai.request.model": "claude-sonnet-4-5",
                            "gen_ai.response.model": "claude-sonnet-4-5-20250929",
                            "gen_ai.usage.input_tokens": 2601,
                            "gen_ai.usage.output_tokens": 80,
                            "gen_ai.usage.cache_read.input_tokens": 2048,
                            "gen_ai.usage.cache_creation.input_tokens": 512,
                            "gen_ai.usage.details.cache_read_tokens": 2048,
                            "gen_ai.usage.details.cache_write_tokens": 512,
                            "gen_ai.usage.details.reasoning_tokens": 20,
                            "operation.cost": 0.0042,
                        },
                        scope=PYDANTIC_AI,
                        kind=INTERNAL,
                        start_s=0.2,
                        duration_s=2.5,
                    )
                ],
            )
        ],
        [
            Call(
                "chat",
                "logfire",
                "chat",
                "anthropic",
                "claude-sonnet-4-5",
                "claude-sonnet-4-5-20250929",
                input=2601,
                output=80,
                cache_read=2048,
                cache_write=512,
                reasoning=20,
            )
        ],
    ),
    Case(
        "pydantic-ai-unpriced-operation-cost",
        [
            S(
                "chat",
                "chat llama3.2",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "ollama",
                    "gen_ai.provider.name": "ollama",
                    "gen_ai.request.model": "llama3.2",
                    "gen_ai.usage.input_tokens": 70,
                    "gen_ai.usage.output_tokens": 30,
                    "operation.cost": 0.00002,
                },
                scope=PYDANTIC_AI,
                kind=INTERNAL,
            )
        ],
        [
            Call(
                "chat",
                "logfire",
                "chat",
                "ollama",
                "llama3.2",
                None,
                input=70,
                output=30,
                reported_cost=0.00002,
            )
        ],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_logfire(case: Case) -> None:
    check(case)
