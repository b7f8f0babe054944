"""Provider payloads a gateway logged: usage, model, finish reasons, errors (reference §13)."""

from __future__ import annotations

import json

import pytest

from llmpulse.accesslogs import parse_request, parse_response
from llmpulse.enrich import classify
from tests.accesslogs import samples as s


def test_openai_chat_completion_usage_with_cache_and_reasoning() -> None:
    facts = parse_response(json.dumps(s.OPENAI_CHAT))
    assert facts is not None
    assert (facts.operation, facts.provider, facts.response_model) == ("chat", None, "gpt-4o-mini-2024-07-18")
    assert (facts.input_tokens, facts.output_tokens) == (1200, 300)
    assert (facts.cache_read_tokens, facts.reasoning_tokens) == (1024, 128)
    assert facts.finish_reasons == ["stop"]
    assert facts.streaming is None and not facts.failed


def test_openai_responses_usage() -> None:
    facts = parse_response(s.OPENAI_RESPONSES)  # a map body (kvlist) works like JSON text
    assert facts is not None
    assert (facts.input_tokens, facts.output_tokens, facts.cache_read_tokens) == (328, 52, 256)
    assert facts.response_model == "gpt-4.1-2025-04-14"
    assert facts.finish_reasons == ["stop"]


def test_openai_stream_takes_usage_from_the_final_chunk() -> None:
    facts = parse_response(s.OPENAI_CHAT_STREAM)
    assert facts is not None
    assert facts.streaming is True
    assert (facts.input_tokens, facts.output_tokens) == (31, 17)
    assert facts.finish_reasons == ["stop"]


def test_anthropic_stream_cumulative_delta_usage_is_not_summed_and_input_includes_cache() -> None:
    facts = parse_response(s.ANTHROPIC_STREAM)
    assert facts is not None
    assert facts.provider == "anthropic" and facts.response_model == "claude-sonnet-4-5-20250929"
    assert facts.output_tokens == 42  # last cumulative value, not 1 + 15 + 42
    assert facts.input_tokens == 25 + 100 + 1000  # semconv: input includes cache reads and writes
    assert (facts.cache_read_tokens, facts.cache_write_tokens) == (1000, 100)
    assert facts.finish_reasons == ["end_turn"]
    assert facts.streaming is True


def test_anthropic_message_body() -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "model": "claude-3-5-sonnet-20241022",
        "stop_reason": "refusal",
        "usage": {"input_tokens": 12, "cache_read_input_tokens": 0, "output_tokens": 3},
    }
    facts = parse_response(json.dumps(body))
    assert facts is not None
    assert (facts.input_tokens, facts.output_tokens) == (12, 3)
    assert classify(False, 200, [], facts.finish_reasons) == "content_filter"


def test_gemini_thoughts_are_added_to_output_when_the_total_says_they_are_apart() -> None:
    facts = parse_response(s.GEMINI)
    assert facts is not None
    assert (facts.provider, facts.operation, facts.response_model) == (
        "gcp.gemini",
        "generate_content",
        "gemini-2.5-flash",
    )
    # total 360 = prompt 120 + candidates 40 + thoughts 200: thoughts are not in candidates
    assert (facts.input_tokens, facts.output_tokens, facts.reasoning_tokens) == (120, 240, 200)
    assert facts.cache_read_tokens == 64


def test_gemini_thoughts_already_inside_candidates_are_not_added_twice() -> None:
    body = json.loads(json.dumps(s.GEMINI))
    body["usageMetadata"].update(candidatesTokenCount=240, totalTokenCount=360)
    facts = parse_response(body)
    assert facts is not None
    assert (facts.output_tokens, facts.reasoning_tokens) == (240, 200)


def test_gemini_blocked_prompt_is_a_content_filter() -> None:
    facts = parse_response(s.GEMINI_BLOCKED)
    assert facts is not None
    assert facts.finish_reasons == ["PROHIBITED_CONTENT"]
    assert classify(False, 200, [], facts.finish_reasons) == "content_filter"


def test_dashscope_native_stream_is_cumulative() -> None:
    facts = parse_response(s.DASHSCOPE_STREAM)
    assert facts is not None
    assert (facts.provider, facts.input_tokens, facts.output_tokens) == ("dashscope", 23, 6)
    assert facts.finish_reasons == ["stop"]  # DashScope's "null" until the end is not a reason
    assert facts.http_status == 200


@pytest.mark.parametrize(
    ("body", "status", "error_class", "raw"),
    [
        (s.OPENAI_INSUFFICIENT_QUOTA, 429, "quota_exceeded", "insufficient_quota"),
        (s.OPENAI_RATE_LIMIT, 429, "rate_limit", "rate_limit_exceeded"),
        (s.ANTHROPIC_RATE_LIMIT, 429, "rate_limit", "rate_limit_error"),
        (s.DASHSCOPE_COMPAT_INSPECTION, 400, "content_filter", "data_inspection_failed"),
        (
            {
                "error": {
                    "code": 429,
                    "message": "You exceeded your current quota.",
                    "status": "RESOURCE_EXHAUSTED",
                }
            },
            429,
            "quota_exceeded",
            "RESOURCE_EXHAUSTED",
        ),
    ],
    ids=["openai-quota", "openai-rate-limit", "anthropic-rate-limit", "dashscope-inspection", "gemini-quota"],
)
def test_error_bodies_classify(body: dict[str, object], status: int, error_class: str, raw: str) -> None:
    facts = parse_response(json.dumps(body))
    assert facts is not None and facts.failed
    assert facts.error_raw == raw
    assert classify(True, status, facts.error_texts, []) == error_class


def test_dashscope_stream_error_event_carries_status_and_code() -> None:
    facts = parse_response(s.DASHSCOPE_INSPECTION_STREAM)
    assert facts is not None
    assert (facts.http_status, facts.error_raw) == (400, "DataInspectionFailed")
    assert classify(True, facts.http_status, facts.error_texts, []) == "content_filter"


def test_request_bodies_give_model_and_stream() -> None:
    facts = parse_request('{"model": "qwen-plus", "stream": true, "messages": []}')
    assert facts is not None and (facts.request_model, facts.streaming) == ("qwen-plus", True)
    native = parse_request({"model": "qwen-max", "input": {}, "parameters": {"incremental_output": True}})
    assert native is not None and (native.request_model, native.streaming) == ("qwen-max", True)
    assert parse_request("not json") is None


@pytest.mark.parametrize("junk", ["", "plain text", "{not json", "data: {broken\n\n", "[1, 2]", 42, None])
def test_junk_is_not_a_payload(junk: object) -> None:
    assert parse_response(junk) is None
