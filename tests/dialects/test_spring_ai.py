"""Spring AI observations bridged to OpenTelemetry (reference §10).

Semconv names with ``gen_ai.system``; missing low-cardinality values are the literal ``none``
(``KeyValue.NONE_VALUE``), which is unset, never a label value. ``ChatClient``/advisor
observations (``spring.ai.kind``, operation ``framework``) wrap the model call and are not calls.

Assumption (UNCONFIRMED in the reference): the spans arrive through Micrometer Tracing's OTel
bridge, whose tracer Spring Boot names ``org.springframework.boot``; errors are the span status
plus the recorded exception, and Micrometer's ``error`` key is ``none`` on success.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.dialects._harness import CLIENT, INTERNAL, Call, Case, S, check, exc

SCOPE = "org.springframework.boot"


def _model(key: str, attrs: dict[str, Any], **span: object) -> S:
    return S(
        key,
        f"chat {attrs.get('gen_ai.request.model', 'none')}",
        {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "error": "none", **attrs},
        scope=SCOPE,
        kind=CLIENT,
        **span,  # type: ignore[arg-type]
    )


CASES = [
    Case(
        "chat-model-observation",
        [
            _model(
                "chat",
                {
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.response.id": "chatcmpl-7",
                    "gen_ai.response.finish_reasons": ["STOP"],
                    "gen_ai.usage.input_tokens": 500,
                    "gen_ai.usage.output_tokens": 100,
                    "gen_ai.usage.total_tokens": 600,
                    "gen_ai.request.temperature": 0.7,
                },
            )
        ],
        [
            Call(
                "chat",
                "spring_ai",
                "chat",
                "openai",
                "gpt-4o-mini",
                "gpt-4o-mini-2024-07-18",
                input=500,
                output=100,
                finish_reasons=("STOP",),
            )
        ],
    ),
    Case(
        # unknown values are the literal "none": omitted from labels and never written back
        "none-values",
        [
            _model(
                "chat",
                {
                    "gen_ai.system": "anthropic",
                    "gen_ai.request.model": "claude-3-5-haiku-latest",
                    "gen_ai.response.model": "none",
                    "gen_ai.usage.input_tokens": 64,
                    "gen_ai.usage.output_tokens": 8,
                },
            )
        ],
        [
            Call(
                "chat",
                "spring_ai",
                "chat",
                "anthropic",
                "claude-3-5-haiku-latest",
                None,
                input=64,
                output=8,
            )
        ],
    ),
    Case(
        # ChatClient → advisor → chat model: only the model observation is a call
        "chat-client-and-advisor-not-calls",
        [
            S(
                "client",
                "spring_ai chat_client",
                {
                    "spring.ai.kind": "chat_client",
                    "gen_ai.operation.name": "framework",
                    "gen_ai.system": "spring_ai",
                    "spring.ai.chat.client.advisors": ["SimpleLoggerAdvisor"],
                },
                scope=SCOPE,
                kind=INTERNAL,
                duration_s=2.0,
                children=[
                    S(
                        "advisor",
                        "spring_ai_advisor SimpleLoggerAdvisor",
                        {"spring.ai.kind": "advisor", "gen_ai.operation.name": "framework"},
                        scope=SCOPE,
                        kind=INTERNAL,
                        start_s=0.05,
                        duration_s=1.9,
                        children=[
                            _model(
                                "chat",
                                {
                                    "gen_ai.request.model": "gpt-4o",
                                    "gen_ai.usage.input_tokens": 900,
                                    "gen_ai.usage.output_tokens": 120,
                                },
                                start_s=0.1,
                                duration_s=1.8,
                            )
                        ],
                    )
                ],
            )
        ],
        [Call("chat", "spring_ai", "chat", "openai", "gpt-4o", None, input=900, output=120)],
    ),
    Case(
        "embedding-observation",
        [
            S(
                "emb",
                "embedding text-embedding-3-small",
                {
                    "gen_ai.operation.name": "embedding",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "text-embedding-3-small",
                    "gen_ai.response.model": "none",
                    "gen_ai.usage.input_tokens": 24,
                    "gen_ai.usage.total_tokens": 24,
                },
                scope=SCOPE,
                kind=CLIENT,
                duration_s=0.15,
            )
        ],
        [Call("emb", "spring_ai", "embeddings", "openai", "text-embedding-3-small", None, input=24)],
    ),
    Case(
        "rate-limited-after-retries",
        [
            _model(
                "chat",
                {"gen_ai.request.model": "gpt-4o", "error": "TransientAiException"},
                duration_s=0.4,
                error="HTTP 429 - rate limited",
                exceptions=[
                    exc(
                        "org.springframework.ai.retry.TransientAiException",
                        'HTTP 429 - {"error": {"message": "Rate limit reached for gpt-4o", '
                        '"type": "requests", "code": "rate_limit_exceeded"}}',
                    )
                ],
            )
        ],
        [Call("chat", "spring_ai", "chat", "openai", "gpt-4o", None, error_class="rate_limit")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_spring_ai(case: Case) -> None:
    check(case)
