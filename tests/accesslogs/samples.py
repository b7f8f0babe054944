"""Real-shaped access logs and provider payloads, built from the shapes the sources document.

Each ``Sample`` is one LLM call as a mesh or gateway logs it (``body`` and ``attributes`` of an
OTLP log record) and what llmpulse must make of it (``expect``: canonical fields, metric labels).
Sources (``/shared/reference/genai-dialects.md``): §11a Higress ``ai_log`` (README example: token
values as strings, ms durations), §11b ASM llmproxy filter state (strings) in Istio's JSON access
log, §11c Envoy AI Gateway ``accesslogs.md`` (both documented spellings; the doc's example
record), §11d Envoy OTel access logger (Istio text body, every label a string, ``-`` when
missing), §13 provider payloads (OpenAI, Anthropic, Gemini, DashScope; streams; error bodies).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ISTIO_TEXT = (
    '[2026-11-20T09:15:02.118Z] "{method} {path} HTTP/1.1" {status} {flags} {details} - "-" '
    '812 {sent} {duration} {upstream_time} "-" "{agent}" "{request_id}" "{authority}" "52.1.2.3:443" '
    "outbound|443||{authority} 10.0.3.7:51812 52.1.2.3:443 10.0.3.7:40312 {authority} -\n"
)


@dataclass(frozen=True)
class Sample:
    name: str
    body: Any
    attributes: dict[str, Any] = field(default_factory=dict)
    #: canonical LLMCall fields llmpulse must produce (``None`` = must be unknown)
    expect: dict[str, Any] = field(default_factory=dict)


def istio_json(request_id: str, **fields: Any) -> dict[str, Any]:
    """Istio's JSON access-log keys (telemetry_logging.go), as a sidecar writes them to stdout."""
    record: dict[str, Any] = {
        "start_time": "2026-11-20T09:15:02.118Z",
        "route_name": "default",
        "method": "POST",
        "path": "/compatible-mode/v1/chat/completions",
        "protocol": "HTTP/1.1",
        "response_code": 200,
        "response_flags": "-",
        "response_code_details": "via_upstream",
        "connection_termination_details": None,
        "upstream_transport_failure_reason": None,
        "bytes_received": 812,
        "bytes_sent": 1430,
        "duration": 1532,
        "upstream_service_time": "1529",
        "x_forwarded_for": None,
        "user_agent": "OpenAI/Python 1.99.1",
        "request_id": request_id,
        "authority": "dashscope.aliyuncs.com",
        "upstream_host": "47.246.1.2:443",
        "upstream_cluster": "outbound|443||dashscope.aliyuncs.com",
        "upstream_local_address": "10.0.3.7:51812",
        "downstream_local_address": "47.246.1.2:443",
        "downstream_remote_address": "10.0.3.7:40312",
        "requested_server_name": None,
    }
    record.update(fields)
    return record


def asm(
    request_id: str,
    model: str = "qwen-plus",
    prompt: str = "31",
    completion: str = "17",
    **fields: Any,
) -> dict[str, Any]:
    """An ASM sidecar log with the llmproxy filter state (``%FILTER_STATE(...:PLAIN)%`` strings)."""
    return istio_json(
        request_id,
        request_model=model,
        request_prompt_tokens=prompt,
        request_completion_tokens=completion,
        **fields,
    )


def higress(request_id: str, **ai_log: Any) -> dict[str, Any]:
    """A Higress gateway log: Envoy's keys plus the ai-statistics ``ai_log`` JSON string."""
    log = {
        "model": "gpt-4o-mini",
        "input_token": "10",
        "output_token": "69",
        "total_token": "79",
        "llm_first_token_duration": "309",
        "llm_service_duration": "1955",
        "response_type": "stream",
        "chat_id": "chatcmpl-9f2",
        "question": "What is the capital of France?",
        "answer": "Paris is the capital of France.",
    }
    log.update(ai_log)
    return istio_json(
        request_id,
        path="/v1/chat/completions",
        authority="api.openai.com",
        upstream_cluster="outbound|443||api.openai.com",
        duration=1961,
        ai_log=json.dumps(log),
    )


def aigw_doc_example() -> dict[str, Any]:
    """The access-log record in Envoy AI Gateway's accesslogs.md, verbatim."""
    return {
        ":authority": "api.router.tetrate.ai",
        "bytes_received": 105,
        "bytes_sent": 432,
        "connection_termination_details": None,
        "downstream_local_address": "127.0.0.1:1975",
        "downstream_remote_address": "127.0.0.1:64484",
        "duration": 1526,
        "genai_backend_name": "default/tars/route/aigw-run/rule/0/ref/0",
        "genai_model_name": "gpt-4o-mini",
        "genai_model_name_override": None,
        "genai_tokens_input": 15,
        "genai_tokens_output": 7,
        "genai_tokens_total": 22,
        "method": "POST",
        "protocol": "HTTP/1.1",
        "requested_server_name": None,
        "response_code": 200,
        "response_code_details": "via_upstream",
        "response_flags": "-",
        "route_name": "httproute/default/aigw-run/rule/0/match/0/*",
        "start_time": "2025-08-30T16:51:37.894Z",
        "upstream_cluster": "httproute/default/aigw-run/rule/0",
        "upstream_host": "34.128.142.77:443",
        "upstream_local_address": "192.168.1.38:64485",
        "upstream_transport_failure_reason": None,
        "user-agent": "curl/8.7.1",
        "x-envoy-origin-path": "/v1/chat/completions",
        "x-envoy-upstream-service-time": "451",
        "x-forwarded-for": "192.168.1.38",
        "x-request-id": "83b63da3-45a9-4196-98b8-1a7f697d6d8d",
    }


def aigw_semconv(request_id: str, status: str, input_tokens: str, output_tokens: str) -> dict[str, Any]:
    """The ``gen_ai.*`` spelling (examples/accesslogs-envoy-proxy-llm.yaml); Envoy renders the
    metadata as strings in a text-typed JSON format."""
    return {
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.request.model_override": "-",
        "gen_ai.provider.name": "default/anthropic/route/claude/rule/0/ref/0",
        "gen_ai.usage.total_tokens": "-",
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        "start_time": "2026-11-20T09:15:02.118Z",
        "method": "POST",
        "x-envoy-origin-path": "/v1/messages",
        "protocol": "HTTP/1.1",
        "response_code": status,
        "response_flags": "-",
        "response_code_details": "via_upstream",
        "duration": "2210",
        "x-request-id": request_id,
        ":authority": "api.anthropic.com",
        "upstream_cluster": "httproute/default/claude/rule/0",
    }


def envoy_als(
    request_id: str,
    path: str,
    authority: str,
    status: int,
    duration_ms: int,
    labels: dict[str, str],
    flags: str = "-",
    details: str = "via_upstream",
) -> tuple[str, dict[str, str]]:
    """An Envoy OTel access-log record: Istio's text line as body, the operator's labels (strings,
    ``-`` for unset) as attributes."""
    body = ISTIO_TEXT.format(
        method="POST",
        path=path,
        status=status,
        flags=flags,
        details=details,
        sent=1430,
        duration=duration_ms,
        upstream_time=max(duration_ms - 3, 0),
        agent="python-httpx/0.28.1",
        request_id=request_id,
        authority=authority,
    )
    return body, labels


# -- provider payloads (§13) ----------------------------------------------------------------------
OPENAI_CHAT = {
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris."},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 128, "audio_tokens": 0},
    },
}

OPENAI_RESPONSES = {
    "id": "resp_67ccd2bed1ec8190b14f964abc054267",
    "object": "response",
    "status": "completed",
    "model": "gpt-4.1-2025-04-14",
    "output": [{"type": "message", "content": [{"type": "output_text", "text": "Hi"}]}],
    "error": None,
    "incomplete_details": None,
    "usage": {
        "input_tokens": 328,
        "input_tokens_details": {"cached_tokens": 256},
        "output_tokens": 52,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 380,
    },
}


def sse(*events: tuple[str | None, Any]) -> str:
    lines = []
    for event, data in events:
        if event:
            lines.append(f"event: {event}")
        lines.append("data: " + (data if isinstance(data, str) else json.dumps(data)))
        lines.append("")
    return "\n".join(lines) + "\n"


OPENAI_CHAT_STREAM = sse(
    (
        None,
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
            "usage": None,
        },
    ),
    (
        None,
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "delta": {"content": "Paris"}, "finish_reason": None}],
            "usage": None,
        },
    ),
    (
        None,
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": None,
        },
    ),
    (
        None,
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [],
            "usage": {
                "prompt_tokens": 31,
                "completion_tokens": 17,
                "total_tokens": 48,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        },
    ),
    (None, "[DONE]"),
)

#: message_start carries input and cache (input excludes cache); message_delta usage is
#: cumulative, so the second delta's 42 is the output, not 15 + 42.
ANTHROPIC_STREAM = sse(
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [],
                "stop_reason": None,
                "usage": {
                    "input_tokens": 25,
                    "cache_creation_input_tokens": 100,
                    "cache_read_input_tokens": 1000,
                    "output_tokens": 1,
                },
            },
        },
    ),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Paris"}},
    ),
    (
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": None}, "usage": {"output_tokens": 15}},
    ),
    (
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 42}},
    ),
    ("message_stop", {"type": "message_stop"}),
)

GEMINI = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "Paris"}]}, "finishReason": "STOP", "index": 0}
    ],
    "usageMetadata": {
        "promptTokenCount": 120,
        "candidatesTokenCount": 40,
        "thoughtsTokenCount": 200,
        "totalTokenCount": 360,
        "cachedContentTokenCount": 64,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "mU2eaL3oN6WfmNAP5KbJ0Qo",
}

GEMINI_BLOCKED = {
    "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
    "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
    "modelVersion": "gemini-2.0-flash",
}

#: DashScope native SSE (incremental_output=false): every chunk carries cumulative usage.
DASHSCOPE_STREAM = (
    "id:1\nevent:result\n:HTTP_STATUS/200\n"
    'data:{"output":{"choices":[{"message":{"content":"Pa","role":"assistant"},"finish_reason":"null"}]},'
    '"usage":{"total_tokens":25,"output_tokens":2,"input_tokens":23},"request_id":"5b6d1b2e"}\n\n'
    "id:2\nevent:result\n:HTTP_STATUS/200\n"
    'data:{"output":{"choices":[{"message":{"content":"Paris.","role":"assistant"},"finish_reason":"stop"}]},'
    '"usage":{"total_tokens":29,"output_tokens":6,"input_tokens":23},"request_id":"5b6d1b2e"}\n\n'
)

DASHSCOPE_INSPECTION_STREAM = (
    "id:1\nevent:error\n:HTTP_STATUS/400\n"
    'data:{"code":"DataInspectionFailed","message":"Output data may contain inappropriate content.",'
    '"request_id":"2d4e5f6a"}\n\n'
)

OPENAI_INSUFFICIENT_QUOTA = {
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}
OPENAI_RATE_LIMIT = {
    "error": {
        "message": "Rate limit reached for gpt-4o-mini on tokens per min (TPM): Limit 200000.",
        "type": "tokens",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}
ANTHROPIC_RATE_LIMIT = {
    "type": "error",
    "error": {"type": "rate_limit_error", "message": "Number of request tokens has exceeded your limit."},
    "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
}
DASHSCOPE_COMPAT_INSPECTION = {
    "error": {
        "message": "Input data may contain inappropriate content.",
        "type": "data_inspection_failed",
        "param": None,
        "code": "data_inspection_failed",
    },
    "id": "chatcmpl-4b9c",
    "request_id": "4b9c0a7e-3f1d",
}
