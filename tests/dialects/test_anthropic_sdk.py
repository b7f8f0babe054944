"""The Anthropic Python SDK's own spans (scope ``com.anthropic.sdk.python``) beside an
instrumentor's span of the same call (reference §14.10; captured in shared/fixtures).

The SDK span uses the latest semconv names (inclusive input, ``cache_write``,
``time_to_first_chunk``, ``anthropic.message.stop_reason``). With an instrumentor installed the
same call is described twice: by a sibling span in another trace (OpenLLMetry), or by a parent
span in the same trace (OpenInference). Either way it is counted once, also when the two spans
arrive in separate export requests: within a request the SDK span is kept and the instrumentor's
fills its gaps; across requests the first one counted stays counted.
"""

from __future__ import annotations

import json

import pytest

from tests.dialects._harness import CLIENT, INTERNAL, Call, Case, S, check

SDK = "com.anthropic.sdk.python"
REQUESTED = "claude-3-5-sonnet-latest"
RETURNED = "claude-3-5-sonnet-20241022"


def _sdk(key: str = "sdk", *, stop: str = "end_turn", **span: object) -> S:
    return S(
        key,
        "anthropic.messages.create",
        {
            "server.address": "api.anthropic.com",
            "server.port": 443,
            "gen_ai.provider.name": "anthropic",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": REQUESTED,
            "gen_ai.request.max_tokens": 256,
            "gen_ai.request.stream": True,
            "http.request.method": "POST",
            "http.response.status_code": 200,
            "gen_ai.response.time_to_first_chunk": 0.1685,
            "gen_ai.response.id": "msg_bb6d7db23cde47ac8f7fb91a",
            "gen_ai.response.model": RETURNED,
            "gen_ai.usage.cache_write.input_tokens": 512,
            "gen_ai.usage.cache_read.input_tokens": 2048,
            "gen_ai.usage.output_tokens": 10,
            "gen_ai.usage.input_tokens": 2601,
            "anthropic.message.stop_reason": stop,
        },
        scope=SDK,
        kind=CLIENT,
        **span,  # type: ignore[arg-type]
    )


def _openllmetry(key: str = "instr", **span: object) -> S:
    return S(
        key,
        "anthropic.chat",
        {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": REQUESTED,
            "gen_ai.is_streaming": True,
            "gen_ai.response.model": RETURNED,
            "gen_ai.usage.input_tokens": 2601,
            "gen_ai.usage.output_tokens": 10,
            "gen_ai.usage.cache_read.input_tokens": 2048,
            "gen_ai.usage.cache_creation.input_tokens": 512,
            "gen_ai.input.messages": '[{"role": "user", "parts": []}]',
        },
        scope="opentelemetry.instrumentation.anthropic",
        kind=CLIENT,
        **span,  # type: ignore[arg-type]
    )


def _openinference(key: str = "instr", children: tuple[S, ...] = (), **span: object) -> S:
    return S(
        key,
        "messages.create",
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "anthropic",
            "llm.system": "anthropic",
            "llm.model_name": RETURNED,
            "llm.request.model_name": REQUESTED,
            "llm.invocation_parameters": json.dumps({"max_tokens": 256, "stream": True}),
            "llm.token_count.prompt": 2601,
            "llm.token_count.completion": 10,
            "llm.token_count.prompt_details.cache_read": 2048,
            "llm.token_count.prompt_details.cache_write": 512,
            "llm.input_messages.0.message.content": "Write a two-line poem.",
            "input.value": '{"model": "claude-3-5-sonnet-latest"}',
        },
        scope="openinference.instrumentation.anthropic",
        kind=INTERNAL,
        children=children,
        **span,  # type: ignore[arg-type]
    )


def _counted(key: str, dialect: str, **extra: object) -> Call:
    fields: dict[str, object] = {
        "input": 2601,
        "output": 10,
        "cache_read": 2048,
        "cache_write": 512,
        "streaming": True,
        "ttft_s": 0.1685,
    }
    fields.update(extra)
    return Call(key, dialect, "chat", "anthropic", REQUESTED, RETURNED, **fields)  # type: ignore[arg-type]


SDK_CALL = _counted("sdk", "anthropic_sdk", finish_reasons=("end_turn",))
CONTENT = ("gen_ai.input.messages", "llm.input_messages", "input.value")

CASES = [
    Case(
        "sdk-span-alone",
        [_sdk(duration_s=0.29)],
        [SDK_CALL],
    ),
    Case(
        # OpenLLMetry's span of the same call sits in another trace: paired by resource, model, time
        "sibling-in-another-trace",
        [_sdk(duration_s=0.293), _openllmetry(start_s=-0.002, duration_s=0.297)],
        [SDK_CALL],
        duplicates={"instr": ("sdk", "sdk_sibling")},
        redacted=CONTENT,
    ),
    Case(
        # two concurrent calls of the same model, each described twice: two calls, paired by time
        "two-concurrent-calls-two-pairs",
        [
            _sdk("sdk1", duration_s=1.0),
            _openllmetry("instr1", start_s=-0.002, duration_s=1.004),
            _sdk("sdk2", start_s=0.3, duration_s=1.0),
            _openllmetry("instr2", start_s=0.298, duration_s=1.004),
        ],
        [
            _counted("sdk1", "anthropic_sdk", finish_reasons=("end_turn",)),
            _counted("sdk2", "anthropic_sdk", finish_reasons=("end_turn",)),
        ],
        duplicates={"instr1": ("sdk1", "sdk_sibling"), "instr2": ("sdk2", "sdk_sibling")},
        redacted=CONTENT,
    ),
    Case(
        # the same two concurrent pairs, instrumentor spans in the first request
        "two-concurrent-calls-split-requests",
        [
            _openllmetry("instr1", start_s=-0.002, duration_s=1.004),
            _openllmetry("instr2", start_s=0.298, duration_s=1.004),
            _sdk("sdk1", duration_s=1.0, batch=1),
            _sdk("sdk2", start_s=0.3, duration_s=1.0, batch=1),
        ],
        [
            _counted("instr1", "openllmetry", ttft_s=None),
            _counted("instr2", "openllmetry", ttft_s=None),
        ],
        duplicates={"sdk1": ("instr1", "sdk_sibling"), "sdk2": ("instr2", "sdk_sibling")},
        redacted=CONTENT,
    ),
    Case(
        "child-of-openinference-span",
        [_openinference(children=(_sdk(start_s=0.002, duration_s=0.29),), duration_s=0.3)],
        [SDK_CALL],
        duplicates={"instr": ("sdk", "nested")},
        redacted=CONTENT,
    ),
    Case(
        "sibling-first-request-then-sdk",
        [_openllmetry(start_s=-0.002, duration_s=0.297), _sdk(duration_s=0.293, batch=1)],
        # counted as the instrumentor saw it: no first-chunk time (no chunk events here)
        [_counted("instr", "openllmetry", ttft_s=None)],
        duplicates={"sdk": ("instr", "sdk_sibling")},
        redacted=CONTENT,
    ),
    Case(
        "sdk-first-request-then-sibling",
        [_sdk(duration_s=0.293), _openllmetry(start_s=-0.002, duration_s=0.297, batch=1)],
        [SDK_CALL],
        duplicates={"instr": ("sdk", "sdk_sibling")},
        redacted=CONTENT,
    ),
    Case(
        # the SDK child ends first and is exported first; its parent comes in the next request
        "child-first-request-then-openinference-parent",
        [_openinference(children=(_sdk(start_s=0.002, duration_s=0.29),), duration_s=0.3, batch=1)],
        [SDK_CALL],
        duplicates={"instr": ("sdk", "nested")},
        redacted=CONTENT,
    ),
    Case(
        "openinference-parent-first-request-then-sdk-child",
        [_openinference(children=(_sdk(start_s=0.002, duration_s=0.29, batch=1),), duration_s=0.3)],
        [_counted("instr", "openinference", ttft_s=None)],
        duplicates={"sdk": ("instr", "sdk_sibling")},
        redacted=CONTENT,
    ),
    Case(
        # Anthropic refuses with HTTP 200 and stop_reason "refusal"
        "refusal-is-content-filter",
        [_sdk(stop="refusal", duration_s=0.29)],
        [_counted("sdk", "anthropic_sdk", error_class="content_filter", finish_reasons=("refusal",))],
    ),
    Case(
        # the captured anthropic_rate_limit shape: SDK child (error.type, 429) under OpenInference
        "rate-limit-child-of-openinference",
        [
            S(
                "instr",
                "messages.create",
                {
                    "openinference.span.kind": "LLM",
                    "llm.provider": "anthropic",
                    "llm.system": "anthropic",
                    "llm.model_name": REQUESTED,
                    "llm.request.model_name": REQUESTED,
                    "llm.invocation_parameters": json.dumps({"max_tokens": 16}),
                },
                scope="openinference.instrumentation.anthropic",
                kind=INTERNAL,
                duration_s=0.03,
                error="Error code: 429 - {'type': 'error', 'error': {'type': 'rate_limit_error'}}",
                children=[
                    S(
                        "sdk",
                        "anthropic.messages.create",
                        {
                            "gen_ai.provider.name": "anthropic",
                            "gen_ai.operation.name": "chat",
                            "gen_ai.request.model": REQUESTED,
                            "gen_ai.request.max_tokens": 16,
                            "http.response.status_code": 429,
                            "error.type": "rate_limit_error",
                        },
                        scope=SDK,
                        kind=CLIENT,
                        start_s=0.002,
                        duration_s=0.026,
                        error="",
                    )
                ],
            )
        ],
        [
            Call(
                "sdk",
                "anthropic_sdk",
                "chat",
                "anthropic",
                REQUESTED,
                REQUESTED,
                error_class="rate_limit",
            )
        ],
        duplicates={"instr": ("sdk", "nested")},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_anthropic_sdk(case: Case) -> None:
    check(case)
