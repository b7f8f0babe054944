"""Attributes the Langfuse SDK writes (reference §7a; shapes of ``usage_details`` in the table's
docstring).

``usage_details`` is a JSON string: Langfuse's disjoint buckets (``input`` without the cache it
split off into ``input_cached_tokens`` / ``input_cache_read`` / ``input_cache_creation``), or the
provider's usage passed through. ``completion_start_time`` is a JSON-serialised ISO timestamp
(TTFT = it minus the span start, for the streamed generation it is set on); level ``ERROR`` marks a
failed call, ``status_message`` carries its text. The SDK writes no provider, so the label is
omitted. ``cost_details`` is used only for an unpriced model.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dialects._harness import INTERNAL, Call, Case, S, check, iso_at

SCOPE = "langfuse-sdk"
TYPE = "langfuse.observation.type"
USAGE = "langfuse.observation.usage_details"
MODEL = "langfuse.observation.model.name"


def _gen(key: str, attrs: dict[str, Any], **span: object) -> S:
    return S(
        key,
        span.pop("name", "OpenAI-generation"),  # type: ignore[arg-type]
        {TYPE: "generation", **attrs},
        scope=SCOPE,
        kind=INTERNAL,
        **span,  # type: ignore[arg-type]
    )


CASES = [
    Case(
        # OpenAI usage turned into Langfuse buckets: input 176 = 1200 prompt − 1024 cached
        "buckets-openai-cached-reasoning",
        [
            _gen(
                "gen",
                {
                    MODEL: "gpt-4o-mini",
                    USAGE: json.dumps(
                        {
                            "input": 176,
                            "input_cached_tokens": 1024,
                            "output": 172,
                            "output_reasoning_tokens": 128,
                            "total": 1500,
                        }
                    ),
                    "langfuse.observation.cost_details": json.dumps({"total": 0.000242}),
                    "langfuse.observation.input": '[{"role": "user", "content": "hi"}]',
                    "langfuse.observation.output": '{"role": "assistant", "content": "yo"}',
                    "langfuse.observation.model.parameters": json.dumps({"temperature": 0}),
                },
            )
        ],
        [
            Call(
                "gen",
                "langfuse",
                "chat",
                None,
                "gpt-4o-mini",
                None,
                input=1200,
                output=300,
                cache_read=1024,
                reasoning=128,
            )
        ],
        redacted=("langfuse.observation.input", "langfuse.observation.output"),
    ),
    Case(
        # LangChain handler buckets; streamed: completion_start_time gives the TTFT
        "buckets-langchain-anthropic-stream-completion-start-time",
        [
            _gen(
                "gen",
                {
                    MODEL: "claude-3-5-haiku-20241022",
                    USAGE: json.dumps(
                        {"input": 41, "input_cache_read": 2048, "input_cache_creation": 512, "output": 30}
                    ),
                    "langfuse.observation.completion_start_time": json.dumps(iso_at(0.8)),
                },
                name="ChatAnthropic",
                duration_s=2.0,
            )
        ],
        [
            Call(
                "gen",
                "langfuse",
                "chat",
                None,
                "claude-3-5-haiku-20241022",
                None,
                input=2601,
                output=30,
                cache_read=2048,
                cache_write=512,
                streaming=True,
                ttft_s=0.8,
            )
        ],
    ),
    Case(
        # the v3 OpenAI integration passes the OpenAI usage object through: prompt_tokens inclusive
        "openai-usage-passthrough",
        [
            _gen(
                "gen",
                {
                    MODEL: "gpt-4.1-2025-04-14",
                    USAGE: json.dumps(
                        {
                            "prompt_tokens": 900,
                            "completion_tokens": 80,
                            "total_tokens": 980,
                            "prompt_tokens_details": {"cached_tokens": 512, "audio_tokens": 0},
                            "completion_tokens_details": {"reasoning_tokens": 0},
                        }
                    ),
                },
            )
        ],
        [
            Call(
                "gen",
                "langfuse",
                "chat",
                None,
                "gpt-4.1-2025-04-14",
                None,
                input=900,
                output=80,
                cache_read=512,
                reasoning=0,
            )
        ],
    ),
    Case(
        # Anthropic usage passed through: input_tokens excludes the cache counts
        "anthropic-usage-passthrough",
        [
            _gen(
                "gen",
                {
                    MODEL: "claude-sonnet-4-5",
                    USAGE: json.dumps(
                        {
                            "input_tokens": 10,
                            "cache_read_input_tokens": 4000,
                            "cache_creation_input_tokens": 300,
                            "output_tokens": 200,
                        }
                    ),
                },
            )
        ],
        [
            Call(
                "gen",
                "langfuse",
                "chat",
                None,
                "claude-sonnet-4-5",
                None,
                input=4310,
                output=200,
                cache_read=4000,
                cache_write=300,
            )
        ],
    ),
    Case(
        "embedding-observation",
        [
            S(
                "emb",
                "embed-docs",
                {TYPE: "embedding", MODEL: "text-embedding-3-small", USAGE: json.dumps({"input": 2000})},
                scope=SCOPE,
                kind=INTERNAL,
                duration_s=0.3,
            )
        ],
        [Call("emb", "langfuse", "embeddings", None, "text-embedding-3-small", None, input=2000)],
    ),
    Case(
        # level ERROR with the provider's text in status_message; no span status, no exception
        "level-error-status-message",
        [
            _gen(
                "gen",
                {
                    MODEL: "gpt-4o",
                    "langfuse.observation.level": "ERROR",
                    "langfuse.observation.status_message": "Error code: 429 - {'error': {'message': 'You "
                    "exceeded your current quota, please check your plan and billing details.', 'type': "
                    "'insufficient_quota', 'code': 'insufficient_quota'}}",
                },
                duration_s=0.2,
            )
        ],
        [Call("gen", "langfuse", "chat", None, "gpt-4o", None, error_class="quota_exceeded")],
    ),
    Case(
        # a status message on a WARNING-level generation is not a failure
        "level-warning-status-message-not-failed",
        [
            _gen(
                "gen",
                {
                    MODEL: "gpt-4o",
                    USAGE: json.dumps({"input": 60, "output": 6}),
                    "langfuse.observation.level": "WARNING",
                    "langfuse.observation.status_message": "retried once after a rate limit",
                },
            )
        ],
        [Call("gen", "langfuse", "chat", None, "gpt-4o", None, input=60, output=6)],
    ),
    Case(
        # span/agent observations wrap generations and are never calls
        "span-and-agent-observations-not-calls",
        [
            S(
                "agent",
                "research-agent",
                {TYPE: "agent", USAGE: json.dumps({"input": 500, "output": 50})},
                scope=SCOPE,
                kind=INTERNAL,
                duration_s=3.0,
                children=[
                    _gen(
                        "gen",
                        {MODEL: "gpt-4o", USAGE: json.dumps({"input": 500, "output": 50})},
                        start_s=0.5,
                        duration_s=2.0,
                    )
                ],
            )
        ],
        [Call("gen", "langfuse", "chat", None, "gpt-4o", None, input=500, output=50)],
    ),
    Case(
        "unpriced-model-cost-details",
        [
            _gen(
                "gen",
                {
                    MODEL: "my-finetuned-llama",
                    USAGE: json.dumps({"input": 1000, "output": 100}),
                    "langfuse.observation.cost_details": json.dumps(
                        {"input": 0.001, "output": 0.0004, "total": 0.0014}
                    ),
                },
            )
        ],
        [
            Call(
                "gen",
                "langfuse",
                "chat",
                None,
                "my-finetuned-llama",
                None,
                input=1000,
                output=100,
                reported_cost=0.0014,
            )
        ],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_langfuse(case: Case) -> None:
    check(case)
