"""Every canonical error class, from each form the evidence takes (reference §13, §14.12–13).

Error typing is heterogeneous: HTTP status alone, ``error.type`` as a provider code, an exception
class name or an HTTP status string, exception events (type and message), span status text, and
finish reasons on HTTP 200 (content filters). Each case is one semconv span built with the real
SDK; the class must reach the ``error_type`` label of the duration histogram and
``llmpulse.error.class`` on the span.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from tests.dialects._harness import Call, Case, S, check, exc

SCOPE = "opentelemetry.util.genai.handler"


def _case(
    case_id: str,
    expected: str | None,
    *,
    attrs: Mapping[str, object] | None = None,
    exceptions: Sequence[BaseException] = (),
    status: str | None = "",
    provider: str = "openai",
    model: str = "gpt-4o",
    op: str = "chat",
) -> Case:
    base = {
        "gen_ai.operation.name": op,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        **(attrs or {}),
    }
    return Case(
        case_id,
        [
            S(
                "call",
                f"{op} {model}",
                base,  # type: ignore[arg-type]
                scope=SCOPE,
                duration_s=0.25,
                error=status,
                exceptions=exceptions,
            )
        ],
        [Call("call", "semconv", op, provider, model, None, error_class=expected)],
    )


OPENAI_BODY = "Error code: {code} - {{'error': {{'message': {msg!r}, 'type': {type!r}, 'code': {err!r}}}}}"


def _openai(code: int, msg: str, type_: str, err: str | None) -> str:
    return OPENAI_BODY.format(code=code, msg=msg, type=type_, err=err)


CASES = [
    # -- rate_limit ----------------------------------------------------------------------------
    _case("http-429-only", "rate_limit", attrs={"http.response.status_code": 429}),
    _case("error-type-status-string-429", "rate_limit", attrs={"error.type": "429"}),
    _case(
        "openai-rate-limit-exceeded",
        "rate_limit",
        attrs={"error.type": "openai.RateLimitError"},
        exceptions=[
            exc(
                "openai.RateLimitError", _openai(429, "Rate limit reached", "requests", "rate_limit_exceeded")
            )
        ],
    ),
    _case(
        "anthropic-rate-limit-error-code",
        "rate_limit",
        attrs={"error.type": "rate_limit_error"},
        provider="anthropic",
        model="claude-sonnet-4-5",
    ),
    # -- quota_exceeded (also 429, not retryable) ------------------------------------------------
    _case(
        "openai-insufficient-quota-429",
        "quota_exceeded",
        attrs={"error.type": "openai.RateLimitError", "http.response.status_code": 429},
        exceptions=[
            exc(
                "openai.RateLimitError",
                _openai(429, "You exceeded your current quota", "insufficient_quota", "insufficient_quota"),
            )
        ],
    ),
    _case(
        "anthropic-billing-error",
        "quota_exceeded",
        attrs={"error.type": "billing_error", "http.response.status_code": 400},
        provider="anthropic",
        model="claude-sonnet-4-5",
    ),
    _case(
        "dashscope-arrearage",
        "quota_exceeded",
        attrs={"error.type": "Arrearage", "http.response.status_code": 400},
        provider="dashscope",
        model="qwen-plus",
    ),
    # -- content_filter ----------------------------------------------------------------------------
    _case(
        "openai-finish-content-filter-200",
        "content_filter",
        attrs={"gen_ai.response.finish_reasons": ["content_filter"], "http.response.status_code": 200},
        status=None,
    ),
    _case(
        "anthropic-refusal-200",
        "content_filter",
        attrs={"gen_ai.response.finish_reasons": ["refusal"]},
        status=None,
        provider="anthropic",
        model="claude-sonnet-4-5",
    ),
    *[
        _case(
            f"gemini-finish-{reason}",
            "content_filter",
            attrs={"gen_ai.response.finish_reasons": [reason]},
            status=None,
            provider="gcp.gemini",
            model="gemini-2.5-flash",
            op="generate_content",
        )
        for reason in (
            "SAFETY",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
            "RECITATION",
            "IMAGE_SAFETY",
            "IMAGE_PROHIBITED_CONTENT",
            "IMAGE_RECITATION",
        )
    ],
    _case(
        "azure-400-code-content-filter",
        "content_filter",
        attrs={"http.response.status_code": 400, "error.type": "openai.BadRequestError"},
        exceptions=[
            exc(
                "openai.BadRequestError",
                _openai(400, "The response was filtered due to the prompt", "None", "content_filter"),
            )
        ],
        provider="azure.ai.openai",
    ),
    _case(
        "azure-responsible-ai-policy-violation",
        "content_filter",
        attrs={"error.type": "ResponsibleAIPolicyViolation", "http.response.status_code": 400},
        provider="azure.ai.openai",
    ),
    _case(
        "dashscope-data-inspection-failed",
        "content_filter",
        attrs={"error.type": "DataInspectionFailed", "http.response.status_code": 400},
        exceptions=[
            exc("dashscope.RequestFailure", "Input or output data may contain inappropriate content.")
        ],
        provider="dashscope",
        model="qwen-max",
    ),
    _case(
        "dashscope-compatible-data-inspection-failed",
        "content_filter",
        attrs={"error.type": "data_inspection_failed", "http.response.status_code": 400},
        provider="dashscope",
        model="qwen-max",
    ),
    # -- context_length_exceeded -------------------------------------------------------------------
    _case(
        "openai-context-length-exceeded",
        "context_length_exceeded",
        attrs={"error.type": "openai.BadRequestError", "http.response.status_code": 400},
        exceptions=[
            exc(
                "openai.BadRequestError",
                _openai(
                    400,
                    "This model's maximum context length is 128000 tokens.",
                    "invalid_request_error",
                    "context_length_exceeded",
                ),
            )
        ],
    ),
    _case(
        "anthropic-prompt-too-long",
        "context_length_exceeded",
        attrs={"error.type": "invalid_request_error", "http.response.status_code": 400},
        exceptions=[exc("anthropic.BadRequestError", "prompt is too long: 210000 tokens > 200000 maximum")],
        provider="anthropic",
        model="claude-sonnet-4-5",
    ),
    _case(
        "anthropic-stop-model-context-window-exceeded",
        "context_length_exceeded",
        attrs={"gen_ai.response.finish_reasons": ["model_context_window_exceeded"]},
        status=None,
        provider="anthropic",
        model="claude-sonnet-4-5",
    ),
    # -- auth ---------------------------------------------------------------------------------------
    _case("http-401", "auth", attrs={"http.response.status_code": 401}),
    _case(
        "openai-authentication-error",
        "auth",
        attrs={"error.type": "openai.AuthenticationError"},
        exceptions=[
            exc(
                "openai.AuthenticationError",
                _openai(401, "Incorrect API key provided", "x", "invalid_api_key"),
            )
        ],
    ),
    _case(
        "anthropic-permission-error-403",
        "auth",
        attrs={"error.type": "permission_error", "http.response.status_code": 403},
        provider="anthropic",
        model="claude-sonnet-4-5",
    ),
    # -- invalid_request ----------------------------------------------------------------------------
    _case(
        "openai-bad-request",
        "invalid_request",
        attrs={"error.type": "openai.BadRequestError"},
        exceptions=[
            exc(
                "openai.BadRequestError",
                _openai(400, "Invalid 'temperature': above maximum value.", "invalid_request_error", None),
            )
        ],
    ),
    _case(
        "anthropic-not-found-404",
        "invalid_request",
        attrs={"error.type": "not_found_error", "http.response.status_code": 404},
        provider="anthropic",
        model="claude-9",
    ),
    _case("http-422", "invalid_request", attrs={"http.response.status_code": 422}),
    # -- timeout ------------------------------------------------------------------------------------
    _case(
        "openai-api-timeout",
        "timeout",
        attrs={"error.type": "openai.APITimeoutError"},
        exceptions=[exc("openai.APITimeoutError", "Request timed out.")],
    ),
    _case("http-504", "timeout", attrs={"http.response.status_code": 504}),
    # -- server_error -------------------------------------------------------------------------------
    _case(
        "openai-internal-server-error",
        "server_error",
        attrs={"error.type": "openai.InternalServerError", "http.response.status_code": 500},
    ),
    _case("error-type-status-string-503", "server_error", attrs={"error.type": "503"}),
    _case(
        "anthropic-overloaded-529",
        "server_error",
        attrs={"error.type": "overloaded_error", "http.response.status_code": 529},
        provider="anthropic",
        model="claude-sonnet-4-5",
    ),
    # -- connection_error ---------------------------------------------------------------------------
    _case(
        "openai-api-connection-error",
        "connection_error",
        attrs={"error.type": "openai.APIConnectionError"},
        exceptions=[exc("openai.APIConnectionError", "Connection error.")],
    ),
    _case(
        "httpx-connect-error",
        "connection_error",
        exceptions=[exc("httpx.ConnectError", "[Errno 111] Connection refused")],
    ),
    # -- _OTHER -------------------------------------------------------------------------------------
    _case("status-error-unknown-exception", "_OTHER", exceptions=[exc("ValueError", "boom")]),
    _case("envoy-ai-gateway-other", "_OTHER", attrs={"error.type": "_OTHER"}, status=None),
    # -- not errors ---------------------------------------------------------------------------------
    _case(
        "finish-length-is-not-an-error",
        None,
        attrs={"gen_ai.response.finish_reasons": ["length"], "http.response.status_code": 200},
        status=None,
    ),
    _case(
        "gemini-max-tokens-is-not-an-error",
        None,
        attrs={"gen_ai.response.finish_reasons": ["MAX_TOKENS"]},
        status=None,
        provider="gcp.gemini",
        model="gemini-2.5-flash",
        op="generate_content",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_error_class(case: Case) -> None:
    check(case)
