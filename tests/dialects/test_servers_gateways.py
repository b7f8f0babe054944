"""Model servers and AI gateways that trace a call themselves: vLLM (§11e) and Higress (§11a).

vLLM's request span is the server's view of the call: deprecated ``prompt_tokens``/
``completion_tokens``, ``gen_ai.latency.*`` in seconds (the reference marks the unit UNCONFIRMED,
"likely seconds"; vLLM's per-step model-forward times are milliseconds and are not read), no
request model and no operation (``text_completion`` is implied). It is counted on its own, but
under an app's client span of the same trace the client's view is kept and the server span only
fills its gaps (here the server-side first-token time).
Higress ``ai-statistics`` spans ("for ARMS") carry ``gen_ai.span.kind=LLM`` and
``gen_ai.model_name``; token values may arrive as strings.
"""

from __future__ import annotations

import pytest

from tests.dialects._harness import CLIENT, SERVER, Call, Case, S, check

VLLM = "vllm.llm_engine"
VLLM_SERVICE = "vllm-server"
MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def _vllm(key: str, **span: object) -> S:
    return S(
        key,
        "llm_request",
        {
            "gen_ai.response.model": MODEL,
            "gen_ai.request.id": "cmpl-42",
            "gen_ai.request.max_tokens": 256,
            "gen_ai.request.temperature": 0.0,
            "gen_ai.request.top_p": 1.0,
            "gen_ai.request.n": 1,
            "gen_ai.usage.prompt_tokens": 512,
            "gen_ai.usage.completion_tokens": 128,
            "gen_ai.usage.num_sequences": 1,
            "gen_ai.latency.time_in_queue": 0.01,
            "gen_ai.latency.time_to_first_token": 0.12,
            "gen_ai.latency.e2e": 1.9,
            "gen_ai.latency.time_in_scheduler": 0.002,
            "gen_ai.latency.time_in_model_forward": 850.0,
            "gen_ai.latency.time_in_model_execute": 900.0,
        },
        scope=VLLM,
        kind=SERVER,
        service=VLLM_SERVICE,
        **span,  # type: ignore[arg-type]
    )


CASES = [
    Case(
        "vllm-server-span-alone",
        [_vllm("vllm", duration_s=1.95)],
        [
            Call(
                "vllm",
                "vllm",
                "text_completion",
                "vllm",
                None,
                MODEL,
                input=512,
                output=128,
                ttft_s=0.12,
                duration_s=1.9,
                service=VLLM_SERVICE,
            )
        ],
    ),
    Case(
        # the app's OpenLLMetry client span → vLLM's server span (trace context propagated)
        "vllm-under-app-client-span",
        [
            S(
                "client",
                "openai.chat",
                {
                    "gen_ai.provider.name": "openai",
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": MODEL,
                    "gen_ai.response.model": MODEL,
                    "gen_ai.usage.input_tokens": 512,
                    "gen_ai.usage.output_tokens": 128,
                    "gen_ai.is_streaming": True,
                    "gen_ai.openai.api_base": "http://vllm.internal:8000/v1/",
                },
                scope="opentelemetry.instrumentation.openai.v1",
                kind=CLIENT,
                duration_s=2.1,
                children=[_vllm("vllm", start_s=0.05, duration_s=1.95)],
            )
        ],
        [
            Call(
                "client",
                "openllmetry",
                "chat",
                "openai",
                MODEL,
                MODEL,
                input=512,
                output=128,
                streaming=True,
                ttft_s=0.12,
            )
        ],
        duplicates={"vllm": ("client", "nested")},
    ),
    *[
        Case(
            # each service exports on its own: app (client span → httpx span) and vLLM server
            f"vllm-and-app-client-in-separate-requests-{order}",
            [
                S(
                    "client",
                    "openai.chat",
                    {
                        "gen_ai.provider.name": "openai",
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": MODEL,
                        "gen_ai.response.model": MODEL,
                        "gen_ai.usage.input_tokens": 512,
                        "gen_ai.usage.output_tokens": 128,
                        "gen_ai.is_streaming": False,
                    },
                    scope="opentelemetry.instrumentation.openai.v1",
                    kind=CLIENT,
                    duration_s=2.1,
                    batch=app_batch,
                    children=[
                        S(
                            "http",
                            "POST",
                            {"http.request.method": "POST", "url.full": "http://vllm.internal:8000/v1/chat"},
                            scope="opentelemetry.instrumentation.httpx",
                            kind=CLIENT,
                            start_s=0.02,
                            duration_s=2.05,
                            batch=app_batch,
                            children=[_vllm("vllm", start_s=0.05, duration_s=1.95, batch=1 - app_batch)],
                        )
                    ],
                )
            ],
            [first],
            duplicates={second_key: (first.span, "nested")},
        )
        for order, app_batch, first, second_key in (
            (
                "server-first",
                1,
                Call(
                    "vllm",
                    "vllm",
                    "text_completion",
                    "vllm",
                    None,
                    MODEL,
                    input=512,
                    output=128,
                    ttft_s=0.12,
                    duration_s=1.9,
                    service=VLLM_SERVICE,
                ),
                "client",
            ),
            (
                "app-first",
                0,
                Call(
                    "client",
                    "openllmetry",
                    "chat",
                    "openai",
                    MODEL,
                    MODEL,
                    input=512,
                    output=128,
                    streaming=False,
                ),
                "vllm",
            ),
        )
    ],
    Case(
        "higress-span",
        [
            S(
                "gw",
                "ai-statistics",
                {
                    "gen_ai.span.kind": "LLM",
                    "gen_ai.model_name": "qwen-max-2025-01-25",
                    "gen_ai.request.model": "qwen-max",
                    "gen_ai.usage.input_tokens": 120,
                    "gen_ai.usage.output_tokens": 45,
                    "gen_ai.usage.total_tokens": 165,
                },
                scope="higress",
                kind=SERVER,
                service="higress-gateway",
            )
        ],
        [
            Call(
                "gw",
                "higress",
                "chat",
                None,
                "qwen-max",
                "qwen-max-2025-01-25",
                input=120,
                output=45,
                service="higress-gateway",
            )
        ],
    ),
    Case(
        "higress-span-string-tokens",
        [
            S(
                "gw",
                "ai-statistics",
                {
                    "gen_ai.span.kind": "LLM",
                    "gen_ai.model_name": "qwen-plus",
                    "gen_ai.request.model": "qwen-plus",
                    "gen_ai.usage.input_tokens": "10",
                    "gen_ai.usage.output_tokens": "3",
                    "gen_ai.usage.total_tokens": "13",
                },
                scope="higress",
                kind=SERVER,
            )
        ],
        [Call("gw", "higress", "chat", None, "qwen-plus", "qwen-plus", input=10, output=3)],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_servers_gateways(case: Case) -> None:
    check(case)
