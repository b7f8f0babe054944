"""Access-log records of each mesh/gateway dialect → canonical calls, enriched and redacted in place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from prometheus_client import CollectorRegistry

from llmpulse.accesslogs import AccessLogReader
from llmpulse.call import LLMCall
from llmpulse.config import validate
from llmpulse.enrich import DimensionReader, PriceTable
from llmpulse.otlp import attrs_to_dict, set_attributes, to_py
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.server import Gateway
from tests.accesslogs import samples as s
from tests.support.gateway import endpoints


def record(body: Any = None, attributes: dict[str, Any] | None = None) -> LogRecord:
    lr = LogRecord(time_unix_nano=1_795_000_000_000_000_000)
    if isinstance(body, str):
        lr.body.string_value = body
    elif isinstance(body, dict):
        holder = LogRecord()
        set_attributes(holder.attributes, {"b": body})
        lr.body.CopyFrom(holder.attributes[0].value)
    if attributes:
        set_attributes(lr.attributes, attributes)
    return lr


class Reader:
    """An ``AccessLogReader`` with its own registry, as the pipeline builds it."""

    def __init__(self, **config: Any) -> None:
        self.config = validate(config)
        self.registry = CollectorRegistry()
        self.reader = AccessLogReader(
            self.config,
            SelfMetrics(self.registry),
            PriceTable.load(),
            DimensionReader(self.config.metrics.dimensions),
        )

    def process(self, lr: LogRecord, resource: dict[str, Any] | None = None) -> LLMCall | None:
        return self.reader.process(lr, "", resource or {"service.name": "checkout"})

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def written(lr: LogRecord) -> dict[str, Any]:
    return attrs_to_dict(lr.attributes)


# -- ASM -----------------------------------------------------------------------------------------
def test_asm_sidecar_json_line_from_a_pod_log_file() -> None:
    reader = Reader()
    line = "2026-11-20T09:15:03.650Z stdout F " + json.dumps(s.asm("r-1"))
    lr = record(line)
    call = reader.process(lr)
    assert call is not None
    assert (call.dialect, call.operation, call.provider) == ("asm", "chat", "dashscope")
    assert (call.request_model, call.input_tokens, call.output_tokens) == ("qwen-plus", 31, 17)
    assert call.duration_s == pytest.approx(1.532)
    assert call.cost_usd == pytest.approx(31 * 0.40e-6 + 17 * 1.20e-6)
    attrs = written(lr)
    assert attrs["gen_ai.usage.input_tokens"] == 31 and attrs["llmpulse.dialect"] == "asm"
    assert attrs["llmpulse.counted"] is True and attrs["gen_ai.provider.name"] == "dashscope"
    assert reader.value("llmpulse_calls_recognised_total", dialect="asm") == 1


def test_asm_filter_state_dash_means_unknown_and_a_request_without_model_is_not_a_call() -> None:
    reader = Reader()
    failed = reader.process(record(s.asm("r-2", prompt="-", completion="-", response_code=429)))
    assert failed is not None
    assert (failed.input_tokens, failed.output_tokens) == (None, None)
    assert (failed.error_class, failed.error_raw) == ("rate_limit", "429")
    assert reader.process(record(s.istio_json("r-3", path="/healthz", request_model="-"))) is None


def test_same_request_id_twice_is_counted_once() -> None:
    reader = Reader()
    assert reader.process(record(s.asm("dup-1"))) is not None
    again = record(s.asm("dup-1"))
    assert reader.process(again) is None
    assert written(again)["llmpulse.counted"] is False
    assert written(again)["llmpulse.duplicate_of"] == "dup-1"
    assert reader.value("llmpulse_calls_deduplicated_total", reason="request_id") == 1


# -- Higress -------------------------------------------------------------------------------------
def test_higress_ai_log_string_tokens_ms_durations_and_redaction() -> None:
    reader = Reader()
    lr = record(json.dumps(s.higress("h-1")))
    call = reader.process(lr)
    assert call is not None
    assert (call.dialect, call.provider, call.request_model) == ("higress", "openai", "gpt-4o-mini")
    assert (call.input_tokens, call.output_tokens, call.streaming) == (10, 69, True)
    assert call.ttft_s == pytest.approx(0.309) and call.duration_s == pytest.approx(1.955)
    body = json.loads(lr.body.string_value)
    ai_log = json.loads(body["ai_log"])
    assert "question" not in ai_log and "answer" not in ai_log  # content dropped by default
    assert ai_log["input_token"] == "10"  # the rest of ai_log is kept


def test_higress_anthropic_input_is_made_cache_inclusive() -> None:
    reader = Reader()
    log = s.higress(
        "h-2",
        model="claude-sonnet-4-5",
        input_token="20",
        output_token="5",
        cached_tokens="1000",
        response_type="normal",
    )
    log.update(authority="api.anthropic.com", path="/v1/messages")
    call = reader.process(record(log))
    assert call is not None
    assert (call.provider, call.input_tokens, call.cache_read_tokens) == ("anthropic", 1020, 1000)
    assert call.streaming is False and call.ttft_s is None


def test_truncate_mode_keeps_the_start_of_content() -> None:
    reader = Reader(enrich={"redaction": {"content": "truncate", "truncate_chars": 5}})
    lr = record(s.higress("h-3"))  # kvlist body
    assert reader.process(lr) is not None
    ai_log = json.loads(to_py(lr.body)["ai_log"])
    assert ai_log["question"] == "What …" and ai_log["answer"] == "Paris…"


# -- Envoy AI Gateway ----------------------------------------------------------------------------
def test_envoy_ai_gateway_documented_example_record() -> None:
    reader = Reader()
    call = reader.process(record(json.dumps(s.aigw_doc_example())))
    assert call is not None
    assert (call.dialect, call.operation, call.request_model) == ("envoy_ai_gateway", "chat", "gpt-4o-mini")
    assert (call.input_tokens, call.output_tokens) == (15, 7)
    # genai_backend_name is a route resource, not a provider; the host is a router: unknown
    assert call.provider is None
    assert call.server_address == "api.router.tetrate.ai"


def test_envoy_ai_gateway_semconv_spelling_ignores_backend_name_as_provider() -> None:
    reader = Reader()
    lr = record(attributes=s.aigw_semconv("aig-1", status="429", input_tokens="-", output_tokens="-"))
    call = reader.process(lr)
    assert call is not None
    assert (call.provider, call.request_model, call.http_status) == ("anthropic", "claude-sonnet-4-5", 429)
    assert call.error_class == "rate_limit"
    attrs = written(lr)
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["llmpulse.original.gen_ai.provider.name"] == "default/anthropic/route/claude/rule/0/ref/0"


# -- Envoy OTel access logs ----------------------------------------------------------------------
def test_envoy_otel_access_log_text_body_and_string_labels() -> None:
    reader = Reader()
    body, labels = s.envoy_als(
        "als-1",
        "/v1/chat/completions",
        "api.openai.com",
        200,
        2310,
        {"request_model": "gpt-4o-mini", "request_prompt_tokens": "1200", "request_completion_tokens": "300"},
    )
    call = reader.process(record(body, labels))
    assert call is not None
    assert (call.dialect, call.provider, call.operation) == ("envoy_als", "openai", "chat")
    assert (call.input_tokens, call.output_tokens) == (1200, 300)
    assert call.duration_s == pytest.approx(2.31)


def test_envoy_response_flags_are_error_evidence() -> None:
    reader = Reader()
    body, labels = s.envoy_als(
        "als-2",
        "/v1/chat/completions",
        "api.openai.com",
        504,
        60001,
        {"request_model": "gpt-4o", "request_prompt_tokens": "-", "request_completion_tokens": "-"},
        flags="UT",
        details="upstream_response_timeout",
    )
    call = reader.process(record(body, labels))
    assert call is not None and (call.error_class, call.error_raw) == ("timeout", "UT")
    body, labels = s.envoy_als(
        "als-3",
        "/v1/messages",
        "api.anthropic.com",
        503,
        12,
        {"model": "claude-sonnet-4-5"},
        flags="UF",
        details="upstream_reset_before_response_started{connection_failure}",
    )
    call = reader.process(record(body, labels))
    assert call is not None and call.error_class == "connection_error"


def test_count_tokens_and_non_llm_lines_are_not_calls() -> None:
    reader = Reader()
    body, labels = s.envoy_als(
        "als-4", "/v1/messages/count_tokens", "api.anthropic.com", 200, 80, {"model": "claude"}
    )
    assert reader.process(record(body, labels)) is None
    body, labels = s.envoy_als("als-5", "/healthz", "checkout", 200, 1, {"request_model": "-"})
    assert reader.process(record(body, labels)) is None
    assert reader.process(record("GET /index.html 200")) is None
    assert reader.process(record({"msg": "user logged in", "model": 3})) is None


# -- provider bodies in gateway logs ---------------------------------------------------------------
def test_apisix_style_log_with_response_body_is_read_and_the_bodies_dropped() -> None:
    reader = Reader()
    log = {
        "request": {
            "url": "https://api.openai.com/v1/chat/completions",
            "method": "POST",
            "headers": {
                "authorization": "Bearer sk-live-abcdefghijklmnop",
                "content-type": "application/json",
            },
            "body": json.dumps(
                {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
            ),
        },
        "response": {"status": 200, "body": s.OPENAI_CHAT_STREAM},
        "latency": 812.5,
        "upstream": "api.openai.com:443",
    }
    lr = record(json.dumps(log))
    call = reader.process(lr)
    assert call is not None
    assert (call.dialect, call.provider, call.request_model) == ("provider_body", "openai", "gpt-4o-mini")
    assert (call.response_model, call.input_tokens, call.output_tokens) == ("gpt-4o-mini-2024-07-18", 31, 17)
    assert call.streaming is True and call.duration_s == pytest.approx(0.8125)
    kept = json.loads(lr.body.string_value)
    assert "body" not in kept["request"] and "body" not in kept["response"]
    assert kept["request"]["headers"]["authorization"] == "[REDACTED]"
    assert kept["response"]["status"] == 200


@pytest.mark.parametrize(
    ("fields", "error_class"),
    [
        ({"response_code": 429, "response_body": json.dumps(s.OPENAI_INSUFFICIENT_QUOTA)}, "quota_exceeded"),
        (
            {"response_code": 400, "response_body": json.dumps(s.DASHSCOPE_COMPAT_INSPECTION)},
            "content_filter",
        ),
        ({"response_code": 200, "response_body": s.DASHSCOPE_INSPECTION_STREAM}, "content_filter"),
        ({"response_code": 429, "response_body": json.dumps(s.ANTHROPIC_RATE_LIMIT)}, "rate_limit"),
    ],
    ids=["openai-quota", "dashscope-inspection", "dashscope-stream-inspection", "anthropic-rate-limit"],
)
def test_error_bodies_in_asm_logs_set_the_class(fields: dict[str, Any], error_class: str) -> None:
    reader = Reader()
    lr = record(s.asm("e-1", prompt="-", completion="-", **fields))
    call = reader.process(lr)
    assert call is not None and call.error_class == error_class
    assert written(lr)["llmpulse.error.class"] == error_class
    assert "response_body" not in to_py(lr.body)


def test_semconv_event_records_are_never_counted() -> None:
    reader = Reader()
    lr = record(
        attributes={
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 3,
            "x-envoy-origin-path": "/v1/chat/completions",
        }
    )
    lr.event_name = "gen_ai.client.inference.operation.details"
    assert reader.process(lr) is None
    assert reader.value("llmpulse_calls_recognised_total", dialect="envoy_ai_gateway") == 0


@pytest.mark.parametrize(
    "case", ["openlit/chat_stream", "openlit/chat", "openlit/anthropic_messages_stream", "otel-genai-v2/chat"]
)
def test_fixture_span_and_its_event_record_count_one_call(
    case: str, gateway: Gateway, fixtures_dir: Path
) -> None:
    """The span is the call; the library's event record of it (with or without span context:
    OpenLIT's stream events carry none) adds nothing."""
    channel = grpc.insecure_channel(endpoints(gateway.config)["grpc"])
    for signal, service in (("traces", "trace.v1.TraceService"), ("logs", "logs.v1.LogsService")):
        body = (fixtures_dir / f"{case}.{signal}.pb").read_bytes()
        channel.unary_unary(f"/opentelemetry.proto.collector.{service}/Export")(body, timeout=10)
    channel.close()
    count = sum(
        m.value
        for family in gateway.registry.collect()
        if family.name == "gen_ai_client_operation_duration_seconds"
        for m in family.samples
        if m.name.endswith("_count")
    )
    assert count == 1
