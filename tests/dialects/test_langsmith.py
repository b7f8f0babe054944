"""LangSmith's OTel exporter (``OTEL_ENABLED=true``, ``_otel_exporter.py``; reference §6).

Only ``llm``/``embedding`` runs are calls: the exporter maps retriever runs to ``embeddings``,
which they are not, and chains to ``gen_ai.operation.name=chain``. ``gen_ai.system`` is guessed
from the model name and defaults to ``langchain`` (not a provider: omitted). Token details are
Python ``repr`` strings, finish reasons comma-joined, errors a plain ``Exception`` carrying the
provider's text. LangChain's ``input_tokens`` are inclusive of cache. LangSmith spans carry no
first-token time, so streamed runs have no TTFT observation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dialects._harness import INTERNAL, Call, Case, S, check, exc

SCOPE = "langsmith"
KIND = "langsmith.span.kind"
SESSION = {"langsmith.trace.session_id": "0d5f6a2e-project", "langsmith.trace.session_name": "default"}


def _run(key: str, name: str, kind: str, attrs: dict[str, Any], **span: object) -> S:
    return S(key, name, {KIND: kind, **SESSION, **attrs}, scope=SCOPE, kind=INTERNAL, **span)  # type: ignore[arg-type]


CASES = [
    Case(
        "llm-run-openai-repr-details-comma-finish",
        [
            _run(
                "llm",
                "ChatOpenAI",
                "llm",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 300,
                    "gen_ai.usage.total_tokens": 1500,
                    "gen_ai.usage.input_token_details": "{'audio': 0, 'cache_read': 1024}",
                    "gen_ai.usage.output_token_details": "{'audio': 0, 'reasoning': 128}",
                    "gen_ai.response.finish_reasons": "stop,length",
                    "langsmith.request.streaming": False,
                    "gen_ai.prompt": json.dumps({"messages": [[{"type": "human", "content": "hi"}]]}),
                    "gen_ai.completion": json.dumps({"generations": [[{"text": "hello"}]]}),
                },
            )
        ],
        [
            Call(
                "llm",
                "langsmith",
                "chat",
                "openai",
                "gpt-4o-mini",
                "gpt-4o-mini-2024-07-18",
                input=1200,
                output=300,
                cache_read=1024,
                reasoning=128,
                streaming=False,
                finish_reasons=("stop", "length"),
            )
        ],
        redacted=("gen_ai.prompt", "gen_ai.completion"),
    ),
    Case(
        "llm-run-anthropic-stream-cache-creation",
        [
            _run(
                "llm",
                "ChatAnthropic",
                "llm",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "anthropic",
                    "gen_ai.request.model": "claude-3-7-sonnet-latest",
                    "gen_ai.response.model": "claude-3-7-sonnet-20250219",
                    "gen_ai.usage.input_tokens": 2601,
                    "gen_ai.usage.output_tokens": 77,
                    "gen_ai.usage.input_token_details": "{'cache_read': 2048, 'cache_creation': 512}",
                    "gen_ai.response.finish_reasons": "end_turn",
                    "langsmith.request.streaming": True,
                },
                duration_s=2.2,
            )
        ],
        [
            Call(
                "llm",
                "langsmith",
                "chat",
                "anthropic",
                "claude-3-7-sonnet-latest",
                "claude-3-7-sonnet-20250219",
                input=2601,
                output=77,
                cache_read=2048,
                cache_write=512,
                streaming=True,
            )
        ],
    ),
    Case(
        # chain → retriever (mapped to "embeddings" by the exporter) + llm: only the llm run counts
        "chain-retriever-llm",
        [
            _run(
                "chain",
                "RunnableSequence",
                "chain",
                {"gen_ai.operation.name": "chain", "gen_ai.prompt": '{"question": "why"}'},
                duration_s=3.0,
                children=[
                    _run(
                        "retriever",
                        "VectorStoreRetriever",
                        "retriever",
                        {
                            "gen_ai.operation.name": "embeddings",
                            "gen_ai.system": "openai",
                            "gen_ai.request.model": "text-embedding-3-small",
                            "gen_ai.usage.input_tokens": 9,
                        },
                        start_s=0.1,
                        duration_s=0.4,
                    ),
                    _run(
                        "llm",
                        "ChatOpenAI",
                        "llm",
                        {
                            "gen_ai.operation.name": "chat",
                            "gen_ai.system": "openai",
                            "gen_ai.request.model": "gpt-4.1-mini",
                            "gen_ai.usage.input_tokens": 640,
                            "gen_ai.usage.output_tokens": 120,
                        },
                        start_s=0.6,
                        duration_s=2.2,
                    ),
                ],
            )
        ],
        [
            Call(
                "llm",
                "langsmith",
                "chat",
                "openai",
                "gpt-4.1-mini",
                None,
                input=640,
                output=120,
            )
        ],
        redacted=("gen_ai.prompt",),
    ),
    Case(
        "embedding-run",
        [
            _run(
                "emb",
                "OpenAIEmbeddings",
                "embedding",
                {
                    "gen_ai.operation.name": "embeddings",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "text-embedding-3-large",
                    "gen_ai.usage.input_tokens": 512,
                },
                duration_s=0.2,
            )
        ],
        [
            Call(
                "emb",
                "langsmith",
                "embeddings",
                "openai",
                "text-embedding-3-large",
                None,
                input=512,
            )
        ],
    ),
    Case(
        # the exporter's default provider "langchain" is not a provider: the label is omitted
        "default-provider-langchain-omitted",
        [
            _run(
                "llm",
                "MyLocalChatModel",
                "llm",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "langchain",
                    "gen_ai.request.model": "my-local-model",
                    "gen_ai.usage.input_tokens": 100,
                    "gen_ai.usage.output_tokens": 25,
                },
            )
        ],
        [
            Call(
                "llm",
                "langsmith",
                "chat",
                None,
                "my-local-model",
                None,
                input=100,
                output=25,
            )
        ],
    ),
    Case(
        # errors are record_exception(Exception(error_str)): the class is only in the message
        "llm-run-error-plain-exception",
        [
            _run(
                "llm",
                "ChatOpenAI",
                "llm",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o",
                },
                duration_s=0.3,
                error="",
                exceptions=[
                    exc(
                        "Exception",
                        "AuthenticationError(\"Error code: 401 - {'error': {'message': 'Incorrect API key "
                        "provided: sk-proj-****', 'type': 'invalid_request_error', "
                        "'code': 'invalid_api_key'}}\")",
                    )
                ],
            )
        ],
        [Call("llm", "langsmith", "chat", "openai", "gpt-4o", None, error_class="auth")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_langsmith(case: Case) -> None:
    check(case)
