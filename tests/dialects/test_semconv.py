"""OpenTelemetry GenAI semantic conventions v1.26 → v1.41 and the unreleased renames (reference §1).

Old and new names coexist in the wild (``OTEL_SEMCONV_STABILITY_OPT_IN``), so every generation is
built as its own span: ``gen_ai.system`` with ``prompt_tokens`` (1.26), the per-message events
(1.28–1.36), the deprecated provider values (``az.ai.openai``, ``gemini``, ``vertex_ai``, ``xai``)
and the ``cache_creation`` → ``cache_write`` rename of the new repository.
"""

from __future__ import annotations

import pytest

from tests.dialects._harness import CLIENT, Call, Case, Ev, S, check

SCOPE = "opentelemetry.instrumentation.openai_v2"

CASES = [
    Case(
        "v1.41-chat-openai-cache-reasoning",
        [
            S(
                "chat",
                "chat gpt-4o-mini",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 300,
                    "gen_ai.usage.cache_read.input_tokens": 1024,
                    "gen_ai.usage.reasoning.output_tokens": 128,
                    "gen_ai.response.finish_reasons": ["stop"],
                    "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
                    "gen_ai.output.messages": '[{"role":"assistant","parts":[]}]',
                    "gen_ai.system_instructions": '[{"type":"text","content":"be brief"}]',
                    "server.address": "api.openai.com",
                },
                scope="opentelemetry.util.genai.handler",
                duration_s=1.5,
            )
        ],
        [
            Call(
                "chat",
                "semconv",
                "chat",
                "openai",
                "gpt-4o-mini",
                "gpt-4o-mini-2024-07-18",
                input=1200,
                output=300,
                cache_read=1024,
                reasoning=128,
                finish_reasons=("stop",),
            )
        ],
        redacted=("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"),
    ),
    Case(
        "v1.41-stream-ttft",
        [
            S(
                "chat",
                "chat gpt-4o",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.request.stream": True,
                    "gen_ai.response.time_to_first_chunk": 0.42,
                    "gen_ai.usage.input_tokens": 50,
                    "gen_ai.usage.output_tokens": 21,
                },
                scope=SCOPE,
                duration_s=2.0,
            )
        ],
        [
            Call(
                "chat",
                "semconv",
                "chat",
                "openai",
                "gpt-4o",
                "gpt-4o-2024-08-06",
                input=50,
                output=21,
                streaming=True,
                ttft_s=0.42,
            )
        ],
    ),
    Case(
        # a non-streamed call sending stream=false and no TTFT: no TTFT observation
        "v1.41-non-stream-no-ttft",
        [
            S(
                "chat",
                "chat gpt-4o",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.request.stream": False,
                    "gen_ai.usage.input_tokens": 10,
                    "gen_ai.usage.output_tokens": 2,
                },
                scope=SCOPE,
            )
        ],
        [Call("chat", "semconv", "chat", "openai", "gpt-4o", None, input=10, output=2, streaming=False)],
    ),
    Case(
        # v1.40: Anthropic input_tokens = input + cache_read + cache_creation (already inclusive)
        "v1.40-anthropic-cache-creation",
        [
            S(
                "chat",
                "chat claude-sonnet-4-5",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "anthropic",
                    "gen_ai.request.model": "claude-sonnet-4-5",
                    "gen_ai.response.model": "claude-sonnet-4-5-20250929",
                    "gen_ai.usage.input_tokens": 2601,
                    "gen_ai.usage.output_tokens": 90,
                    "gen_ai.usage.cache_read.input_tokens": 2048,
                    "gen_ai.usage.cache_creation.input_tokens": 512,
                },
                scope="opentelemetry.util.genai.handler",
            )
        ],
        [
            Call(
                "chat",
                "semconv",
                "chat",
                "anthropic",
                "claude-sonnet-4-5",
                "claude-sonnet-4-5-20250929",
                input=2601,
                output=90,
                cache_read=2048,
                cache_write=512,
            )
        ],
    ),
    Case(
        # unreleased semantic-conventions-genai: cache_creation → cache_write
        "unreleased-cache-write",
        [
            S(
                "chat",
                "chat claude-haiku-4-5",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "anthropic",
                    "gen_ai.request.model": "claude-haiku-4-5",
                    "gen_ai.usage.input_tokens": 700,
                    "gen_ai.usage.output_tokens": 40,
                    "gen_ai.usage.cache_write.input_tokens": 600,
                },
            )
        ],
        [
            Call(
                "chat",
                "semconv",
                "chat",
                "anthropic",
                "claude-haiku-4-5",
                None,
                input=700,
                output=40,
                cache_write=600,
            )
        ],
    ),
    Case(
        # 1.28–1.36: gen_ai.system, per-message events (content only, dropped), old Azure value
        "v1.34-az.ai.openai-message-events",
        [
            S(
                "chat",
                "chat gpt-4o",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "az.ai.openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-11-20",
                    "gen_ai.usage.input_tokens": 80,
                    "gen_ai.usage.output_tokens": 12,
                    "gen_ai.response.finish_reasons": ["stop"],
                },
                events=[
                    Ev("gen_ai.user.message", 0.0, {"gen_ai.system": "az.ai.openai", "content": "hi"}),
                    Ev("gen_ai.choice", 0.9, {"gen_ai.system": "az.ai.openai", "index": 0}),
                ],
                scope=SCOPE,
            )
        ],
        [
            Call(
                "chat",
                "semconv",
                "chat",
                "azure.ai.openai",
                "gpt-4o",
                "gpt-4o-2024-11-20",
                input=80,
                output=12,
            )
        ],
        redacted_events=("gen_ai.user.message", "gen_ai.choice"),
    ),
    Case(
        # 1.26: gen_ai.system, prompt/completion tokens, content in span events, op from the span name
        "v1.26-prompt-completion-tokens",
        [
            S(
                "chat",
                "chat gpt-3.5-turbo",
                {
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-3.5-turbo",
                    "gen_ai.response.model": "gpt-3.5-turbo-0125",
                    "gen_ai.usage.prompt_tokens": 33,
                    "gen_ai.usage.completion_tokens": 7,
                    "gen_ai.response.finish_reasons": ["stop"],
                },
                events=[
                    Ev("gen_ai.content.prompt", 0.0, {"gen_ai.prompt": '[{"role":"user","content":"hi"}]'}),
                    Ev("gen_ai.content.completion", 0.8, {"gen_ai.completion": '[{"content":"yo"}]'}),
                ],
            )
        ],
        [
            Call(
                "chat",
                "semconv",
                "chat",
                "openai",
                "gpt-3.5-turbo",
                "gpt-3.5-turbo-0125",
                input=33,
                output=7,
            )
        ],
        redacted_events=("gen_ai.content.prompt", "gen_ai.content.completion"),
    ),
    *[
        Case(
            f"deprecated-provider-{old}",
            [
                S(
                    "call",
                    f"{op} {model}",
                    {
                        "gen_ai.operation.name": op,
                        "gen_ai.system": old,
                        "gen_ai.request.model": model,
                        "gen_ai.usage.input_tokens": 64,
                        "gen_ai.usage.output_tokens": 16,
                    },
                )
            ],
            [Call("call", "semconv", op, new, model, None, input=64, output=16)],
        )
        for old, new, op, model in (
            ("gemini", "gcp.gemini", "generate_content", "gemini-2.5-flash"),
            ("vertex_ai", "gcp.vertex_ai", "generate_content", "gemini-2.5-pro"),
            ("xai", "x_ai", "chat", "grok-4"),
            ("az.ai.inference", "azure.ai.inference", "chat", "mistral-large-2411"),
        )
    ],
    Case(
        "embeddings",
        [
            S(
                "emb",
                "embeddings text-embedding-3-small",
                {
                    "gen_ai.operation.name": "embeddings",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "text-embedding-3-small",
                    "gen_ai.response.model": "text-embedding-3-small",
                    "gen_ai.usage.input_tokens": 4000,
                },
                scope=SCOPE,
                duration_s=0.2,
            )
        ],
        [
            Call(
                "emb",
                "semconv",
                "embeddings",
                "openai",
                "text-embedding-3-small",
                "text-embedding-3-small",
                input=4000,
            )
        ],
    ),
    Case(
        # Gemini blocks the answer with HTTP 200 and finishReason SAFETY
        "gemini-safety-finish",
        [
            S(
                "gen",
                "generate_content gemini-2.5-flash",
                {
                    "gen_ai.operation.name": "generate_content",
                    "gen_ai.provider.name": "gcp.gemini",
                    "gen_ai.request.model": "gemini-2.5-flash",
                    "gen_ai.usage.input_tokens": 25,
                    "gen_ai.usage.output_tokens": 0,
                    "gen_ai.response.finish_reasons": ["SAFETY"],
                },
                scope="opentelemetry.instrumentation.google_genai",
            )
        ],
        [
            Call(
                "gen",
                "semconv",
                "generate_content",
                "gcp.gemini",
                "gemini-2.5-flash",
                None,
                input=25,
                output=0,
                error_class="content_filter",
            )
        ],
    ),
    Case(
        # v1.41 exception event gen_ai.client.operation.exception carries the only error evidence
        "v1.41-operation-exception-event",
        [
            S(
                "chat",
                "chat gpt-4o",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                },
                kind=CLIENT,
                events=[
                    Ev(
                        "gen_ai.client.operation.exception",
                        0.5,
                        {
                            "exception.type": "openai.APIConnectionError",
                            "exception.message": "Connection error.",
                        },
                    )
                ],
                error="",
                duration_s=0.5,
            )
        ],
        [Call("chat", "semconv", "chat", "openai", "gpt-4o", None, error_class="connection_error")],
    ),
    Case(
        # a span that is not an inference (agent/tool/workflow) never counts
        "invoke-agent-and-tool-not-calls",
        [
            S(
                "agent",
                "invoke_agent planner",
                {
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 300,
                    "gen_ai.usage.output_tokens": 60,
                },
                kind=CLIENT,
                children=[
                    S(
                        "tool",
                        "execute_tool lookup",
                        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
                        kind=CLIENT,
                        start_s=0.1,
                        duration_s=0.2,
                    ),
                    S(
                        "chat",
                        "chat gpt-4o",
                        {
                            "gen_ai.operation.name": "chat",
                            "gen_ai.provider.name": "openai",
                            "gen_ai.request.model": "gpt-4o",
                            "gen_ai.usage.input_tokens": 300,
                            "gen_ai.usage.output_tokens": 60,
                        },
                        start_s=0.35,
                        duration_s=0.6,
                    ),
                ],
            )
        ],
        [Call("chat", "semconv", "chat", "openai", "gpt-4o", None, input=300, output=60)],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_semconv(case: Case) -> None:
    check(case)
