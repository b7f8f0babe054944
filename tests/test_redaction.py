"""Content is dropped by default in every dialect's form; credentials are always scrubbed; the
API-key dimension is a hash, never the key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmpulse.otlp._anyvalue import to_py
from llmpulse.server import Gateway
from tests.support.gateway import CaptureExporter, endpoints, gateway_config, running_gateway

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
CONTENT = {
    "gen_ai.input.messages": '[{"role":"user","parts":[{"content":"my card is 4111"}]}]',
    "gen_ai.output.messages": '[{"role":"assistant","parts":[{"content":"ok"}]}]',
    "gen_ai.prompt.0.content": "legacy indexed prompt",
    "llm.input_messages.0.message.content": "openinference prompt",
    "input.value": '{"messages": ["hi"]}',
    "ai.prompt.messages": "[vercel]",
    "langfuse.observation.input": "langfuse prompt",
}


def _request() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "bot"
    span = rs.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "chat gpt-4o"
    span.start_time_unix_nano, span.end_time_unix_nano = 1, 500_000_001
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": "10",
        "http.request.header.authorization": "Bearer sk-live-abcdefghijklmnop",
        "openai.api_key": "sk-proj-0123456789abcdef",
        "note": "called with Bearer abcdefghijklmnopqrst",
        **CONTENT,
    }
    for key, value in attrs.items():
        a = span.attributes.add()
        a.key, a.value.string_value = key, value
    event = span.events.add()
    event.name = "gen_ai.user.message"
    e = event.attributes.add()
    e.key, e.value.string_value = "content", "hello"
    chunk = span.events.add()
    chunk.name = "gen_ai.content.completion.chunk"
    c = chunk.attributes.add()
    c.key, c.value.string_value = "gen_ai.completion.chunk", "partial text"
    return request


def _exported(
    config_path: Path, **redaction: object
) -> tuple[dict[str, str], list[tuple[str, dict[str, str]]], Gateway]:
    config = gateway_config(config_path, enrich={"redaction": redaction} if redaction else {})
    capture = CaptureExporter()
    with running_gateway(config, capture) as gw:
        with grpc.insecure_channel(endpoints(gw.config)["grpc"]) as channel:
            channel.unary_unary(TRACES)(_request().SerializeToString(), timeout=10)
        (span,) = capture.spans()
        attrs = {kv.key: kv.value.string_value for kv in span.attributes}
        events = [(e.name, {kv.key: kv.value.string_value for kv in e.attributes}) for e in span.events]
        return attrs, events, gw


def test_default_drops_content_and_scrubs_credentials(tmp_path: Path) -> None:
    attrs, events, gw = _exported(tmp_path)
    assert not set(CONTENT) & set(attrs)
    assert attrs["http.request.header.authorization"] == "[REDACTED]"
    assert attrs["openai.api_key"] == "[REDACTED]"
    assert attrs["note"] == "called with [REDACTED]"
    assert events == [("gen_ai.content.completion.chunk", {})]
    expected_hash = hashlib.sha256(b"sk-live-abcdefghijklmnop").hexdigest()[:16]
    labels = {
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "openai",
        "gen_ai_request_model": "gpt-4o",
        "service_name": "bot",
        "api_key": expected_hash,
        "gen_ai_token_type": "input",
    }
    assert gw.registry.get_sample_value("gen_ai_client_tokens_total", labels) == 10


def test_truncate_keeps_a_prefix_and_keep_keeps_content_but_never_credentials(tmp_path: Path) -> None:
    attrs, _, _ = _exported(tmp_path / "t", content="truncate", truncate_chars=8)
    assert attrs["input.value"] == '{"messag…'
    assert attrs["gen_ai.prompt.0.content"] == "legacy i…"
    assert attrs["openai.api_key"] == "[REDACTED]"
    attrs, events, _ = _exported(tmp_path / "k", content="keep")
    assert {k: attrs[k] for k in CONTENT} == CONTENT
    assert ("gen_ai.user.message", {"content": "hello"}) in events
    assert attrs["http.request.header.authorization"] == "[REDACTED]"


def test_raw_provider_copies_and_agent_conversations_are_dropped(tmp_path: Path) -> None:
    """LiteLLM's raw_gen_ai_request child copies the provider request as llm.<provider>.<param>;
    Pydantic AI agent spans carry the whole conversation. Neither may leave llmpulse."""
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    raw = scope.spans.add()
    raw.trace_id, raw.span_id, raw.name = b"\x03" * 16, b"\x04" * 8, "raw_gen_ai_request"
    agent = scope.spans.add()
    agent.trace_id, agent.span_id, agent.name = b"\x03" * 16, b"\x05" * 8, "agent run"
    for span, attrs in (
        (
            raw,
            {
                "llm.openai.messages": "[secret prompt]",
                "llm.openai.response": "{...}",
                "llm.openai.model": "gpt-4o",
            },
        ),
        (agent, {"pydantic_ai.all_messages": "[conversation]", "final_result": "answer", "agent_name": "a"}),
    ):
        for key, value in attrs.items():
            kv = span.attributes.add()
            kv.key, kv.value.string_value = key, value
    capture = CaptureExporter()
    with (
        running_gateway(gateway_config(tmp_path), capture) as gw,
        grpc.insecure_channel(endpoints(gw.config)["grpc"]) as channel,
    ):
        channel.unary_unary(TRACES)(request.SerializeToString(), timeout=10)
    exported = {s.name: {kv.key: kv.value for kv in s.attributes} for s in capture.spans()}
    assert set(exported["raw_gen_ai_request"]) == {"llm.openai.model", "llmpulse.content.redacted"}
    assert set(exported["agent run"]) == {"agent_name", "llmpulse.content.redacted"}


def test_event_attributes_are_redacted_when_nothing_else_in_the_span_is(tmp_path: Path) -> None:
    """A span whose attributes need no scrubbing is rewritten in its bytes, unless an event
    would change: the event keys' flags come from the same read of the span (``read_span``),
    so a credential or content key inside an event must still send the span to redaction."""
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x03" * 16, b"\x04" * 8, "chat gpt-4o"
    span.start_time_unix_nano, span.end_time_unix_nano = 1, 2
    for key, value in {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}.items():
        kv = span.attributes.add()
        kv.key, kv.value.string_value = key, value
    retry = span.events.add(name="retry")
    retry.attributes.add(key="openai.api_key").value.string_value = "plain-secret-0123456789"
    retry.attributes.add(key="attempt").value.int_value = 2
    log = span.events.add(name="log")
    log.attributes.add(key="gen_ai.prompt").value.string_value = "what is the weather"
    for content, expected in [
        ("drop", [("retry", {"openai.api_key": "[REDACTED]", "attempt": 2}), ("log", {})]),
        (
            "keep",
            [
                ("retry", {"openai.api_key": "[REDACTED]", "attempt": 2}),
                ("log", {"gen_ai.prompt": "what is the weather"}),
            ],
        ),
    ]:
        config = gateway_config(tmp_path / content, enrich={"redaction": {"content": content}})
        capture = CaptureExporter()
        with running_gateway(config, capture) as gw:
            with grpc.insecure_channel(endpoints(gw.config)["grpc"]) as channel:
                channel.unary_unary(TRACES)(request.SerializeToString(), timeout=10)
            (exported,) = capture.spans()
        events = [(e.name, {kv.key: to_py(kv.value) for kv in e.attributes}) for e in exported.events]
        assert events == expected, content
