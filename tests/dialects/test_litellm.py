"""LiteLLM's OTel callback (``litellm/integrations/opentelemetry.py``; reference §9).

``litellm_request`` is the call; its ``raw_gen_ai_request`` child repeats it with the raw
provider params, and the proxy's ``Received Proxy Server Request`` root wraps it: neither counts.
``gen_ai.system`` holds LiteLLM provider ids (``azure``, ``vertex_ai``), ``gen_ai.operation.name``
the raw call type (``acompletion``), ``llm.is_streaming`` the string ``"True"``/``"False"``,
finish reasons a JSON string, ``error.code`` the HTTP status as a string. LiteLLM writes no cache
or reasoning attributes on the span, and TTFT only as a metric.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dialects._harness import CLIENT, INTERNAL, SERVER, Call, Case, S, check, exc

SCOPE = "litellm"


def _request(attrs: dict[str, Any], raw: dict[str, Any] | None = None, **span: object) -> S:
    """``litellm_request`` with its ``raw_gen_ai_request`` child (raw provider params)."""
    children = []
    if raw is not None:
        children.append(
            S("raw", "raw_gen_ai_request", raw, scope=SCOPE, kind=CLIENT, start_s=0.02, duration_s=0.9)
        )
    return S(
        "req",
        "litellm_request",
        {"gen_ai.framework": "litellm", "metadata.user_api_key_hash": "88dc28d0", **attrs},
        scope=SCOPE,
        kind=INTERNAL,
        children=children,
        **span,  # type: ignore[arg-type]
    )


RAW_OPENAI = {
    "llm.openai.model": "gpt-4o",
    "llm.openai.messages": json.dumps([{"role": "user", "content": "hi"}]),
    "llm.openai.temperature": 0.2,
}

CASES = [
    Case(
        "litellm-request-and-raw-child",
        [
            _request(
                {
                    "gen_ai.operation.name": "chat",
                    "llm.request.type": "completion",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.usage.input_tokens": 640,
                    "gen_ai.usage.output_tokens": 64,
                    "gen_ai.usage.total_tokens": 704,
                    "llm.is_streaming": "False",
                    "gen_ai.response.finish_reasons": json.dumps(["stop"]),
                    "gen_ai.request.id": "litellm-req-1",
                    "gen_ai.input.messages": json.dumps([{"role": "user", "content": "hi"}]),
                    "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": "yo"}]),
                },
                raw=RAW_OPENAI,
            )
        ],
        [
            Call(
                "req",
                "litellm",
                "chat",
                "openai",
                "gpt-4o",
                "gpt-4o-2024-08-06",
                input=640,
                output=64,
                streaming=False,
                finish_reasons=("stop",),
            )
        ],
        redacted=("gen_ai.input.messages", "gen_ai.output.messages"),
    ),
    Case(
        # proxy root → litellm_request (async call type, "True" string) → raw child
        "proxy-root-acompletion-stream",
        [
            S(
                "proxy",
                "Received Proxy Server Request",
                {"http.method": "POST", "http.route": "/chat/completions"},
                scope=SCOPE,
                kind=SERVER,
                duration_s=2.5,
                children=[
                    _request(
                        {
                            "gen_ai.operation.name": "acompletion",
                            "llm.request.type": "acompletion",
                            "gen_ai.system": "azure",
                            "gen_ai.request.model": "gpt-4o-mini",
                            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                            "gen_ai.usage.input_tokens": 300,
                            "gen_ai.usage.output_tokens": 150,
                            "llm.is_streaming": "True",
                            "gen_ai.response.finish_reasons": json.dumps(["stop"]),
                        },
                        raw={"llm.azure.model": "gpt-4o-mini", "llm.azure.stream": True},
                        start_s=0.1,
                        duration_s=2.2,
                    )
                ],
            )
        ],
        [
            Call(
                "req",
                "litellm",
                "chat",
                "azure.ai.openai",
                "gpt-4o-mini",
                "gpt-4o-mini-2024-07-18",
                input=300,
                output=150,
                streaming=True,
            )
        ],
    ),
    Case(
        "aembedding-bedrock",
        [
            _request(
                {
                    "gen_ai.operation.name": "aembedding",
                    "llm.request.type": "aembedding",
                    "gen_ai.system": "bedrock",
                    "gen_ai.request.model": "amazon.titan-embed-text-v2:0",
                    "gen_ai.usage.input_tokens": 12,
                    "gen_ai.usage.total_tokens": 12,
                    "llm.is_streaming": "False",
                },
                duration_s=0.2,
            )
        ],
        [
            Call(
                "req",
                "litellm",
                "embeddings",
                "aws.bedrock",
                "amazon.titan-embed-text-v2:0",
                None,
                input=12,
                streaming=False,
            )
        ],
    ),
    Case(
        "rate-limit-error-code-429-string",
        [
            _request(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "llm.is_streaming": "False",
                    "error.type": "RateLimitError",
                    "error.code": "429",
                    "error.message": "litellm.RateLimitError: RateLimitError: OpenAIException - "
                    "Rate limit reached for gpt-4o in organization org-1 on tokens per min (TPM)",
                    "error.llm_provider": "openai",
                },
                duration_s=0.05,
                error="",
                exceptions=[
                    exc("litellm.exceptions.RateLimitError", "litellm.RateLimitError: RateLimitError")
                ],
            )
        ],
        [
            Call(
                "req",
                "litellm",
                "chat",
                "openai",
                "gpt-4o",
                None,
                streaming=False,
                error_class="rate_limit",
            )
        ],
    ),
    Case(
        # same 429, but the quota is exhausted: not retryable, classed apart from rate limits
        "quota-exceeded-429",
        [
            _request(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "error.type": "RateLimitError",
                    "error.code": "429",
                    "error.message": "litellm.RateLimitError: OpenAIException - You exceeded your current "
                    "quota, please check your plan and billing details.",
                },
                duration_s=0.05,
                error="",
            )
        ],
        [Call("req", "litellm", "chat", "openai", "gpt-4o", None, error_class="quota_exceeded")],
    ),
    Case(
        # LiteLLM's ContentPolicyViolationError: Azure refused the prompt with a 400
        "azure-content-policy-violation-400",
        [
            _request(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "azure",
                    "gen_ai.request.model": "gpt-4o",
                    "error.type": "ContentPolicyViolationError",
                    "error.code": "400",
                    "error.message": "litellm.ContentPolicyViolationError: AzureException - The response was "
                    "filtered due to the prompt triggering Azure OpenAI's content management policy.",
                },
                duration_s=0.3,
                error="",
            )
        ],
        [Call("req", "litellm", "chat", "azure.ai.openai", "gpt-4o", None, error_class="content_filter")],
    ),
    Case(
        # Vertex Gemini blocked for safety: LiteLLM maps the finish reason to content_filter
        "vertex-finish-reasons-json-string",
        [
            _request(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "vertex_ai",
                    "gen_ai.request.model": "gemini-2.5-pro",
                    "gen_ai.usage.input_tokens": 44,
                    "gen_ai.usage.output_tokens": 0,
                    "llm.is_streaming": "False",
                    "gen_ai.response.finish_reasons": json.dumps(["content_filter"]),
                }
            )
        ],
        [
            Call(
                "req",
                "litellm",
                "chat",
                "gcp.vertex_ai",
                "gemini-2.5-pro",
                None,
                input=44,
                output=0,
                streaming=False,
                error_class="content_filter",
                finish_reasons=("content_filter",),
            )
        ],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_litellm(case: Case) -> None:
    check(case)
