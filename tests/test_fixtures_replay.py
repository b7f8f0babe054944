"""Replay every captured payload in shared/fixtures over gRPC and OTLP/HTTP (protobuf and JSON)
and check the metric deltas against the ground truth the fake LLM server recorded.

Where an instrumentation library itself reports wrong or missing numbers, ``LIBRARY_GAPS``
names the library bug and the test asserts what llmpulse can recover instead.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from llmpulse.otlp import decode_protobuf, request_to_json
from llmpulse.server import Gateway
from tests.support.gateway import CaptureExporter, endpoints

SERVICE = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}

#: (profile, scenario) → {field: (value llmpulse can recover, the library bug that hides the truth)}
LIBRARY_GAPS: dict[tuple[str, str], dict[str, tuple[Any, str]]] = {
    ("openlit", "anthropic_messages_stream"): {
        "input": (41, "OpenLIT 1.44 reports Anthropic stream input without cache and no cache tokens"),
        "cache_read": (0, "OpenLIT 1.44 reports no cached tokens on Anthropic streams"),
        "cache_write": (0, "OpenLIT 1.44 reports no cache-write tokens on Anthropic streams"),
    },
    ("openlit", "chat_stream"): {
        "cache_read": (None, "OpenLIT 1.44 omits cached tokens on OpenAI streams"),
    },
    ("openlit", "chat_reasoning"): {
        "reasoning": (None, "OpenLIT 1.44 does not record reasoning tokens for OpenAI"),
    },
    ("openlit", "chat"): {"reasoning": (None, "OpenLIT 1.44 does not record reasoning tokens for OpenAI")},
    ("openlit", "content_filter"): {
        "reasoning": (None, "OpenLIT 1.44 does not record reasoning tokens for OpenAI"),
    },
    ("openllmetry", "chat_stream"): {
        "reasoning": (None, "OpenLLMetry 0.62 omits reasoning tokens on streamed OpenAI calls"),
    },
    ("openinference", "anthropic_rate_limit"): {
        "response_model": (
            "claude-3-5-sonnet-latest",
            "OpenInference sets llm.model_name to the requested model on a failed call",
        ),
    },
}
for _scenario in ("chat", "chat_reasoning", "chat_stream", "content_filter"):
    LIBRARY_GAPS.setdefault(("otel-genai-v2", _scenario), {}).update(
        {
            "cache_read": (None, "openai-v2 2.4b0 does not record cached tokens"),
            "reasoning": (None, "openai-v2 2.4b0 does not record reasoning tokens"),
        }
    )
LIBRARY_GAPS[("otel-genai-v2", "chat_stream")]["ttft"] = (
    None,
    "openai-v2 2.4b0 records neither gen_ai.request.stream nor a first-chunk time",
)

TOKEN_TYPES = ("input", "output", "cache_read", "cache_write", "reasoning")


def _trace_cases(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in manifest["files"] if f["signal"] == "traces"]


def _manifest() -> dict[str, Any]:
    from tests.conftest import FIXTURES

    return json.loads((FIXTURES / "manifest.json").read_text())  # type: ignore[no-any-return]


CASES = _trace_cases(_manifest())


def _send(transport: str, gw: Gateway, signal: str, body: bytes) -> None:
    ep = endpoints(gw.config)
    if transport == "grpc":
        with grpc.insecure_channel(ep["grpc"]) as channel:
            call = channel.unary_unary(SERVICE[signal])
            call(body, timeout=10)
        return
    request = decode_protobuf(signal, body)  # type: ignore[arg-type]
    if transport == "http-json":
        data, ctype = request_to_json(request), "application/json"
    else:
        data, ctype = body, "application/x-protobuf"
    response = httpx.post(
        f"{ep['http']}/v1/{signal}",
        content=gzip.compress(data),
        headers={"Content-Type": ctype, "Content-Encoding": "gzip"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def _sum(gw: Gateway, name: str, **match: str) -> float:
    total = 0.0
    for family in gw.registry.collect():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in match.items()):
                total += sample.value
    return total


def _labels(gw: Gateway, name: str) -> list[dict[str, str]]:
    return [
        dict(sample.labels)
        for family in gw.registry.collect()
        for sample in family.samples
        if sample.name == name and sample.value
    ]


def _expected(case: dict[str, Any]) -> dict[str, Any]:
    gt = case["ground_truth"]
    ok = gt["http_status"] == 200
    exp: dict[str, Any] = {
        "request_model": gt["model_requested"],
        "response_model": gt["model_returned"],
        "input": gt["input_tokens_including_cache"] if ok else None,
        "output": gt["completion_tokens"] if ok else None,
        "cache_read": gt["cached_tokens"] if ok else None,
        "cache_write": gt["cache_creation_input_tokens"] if ok else None,
        "reasoning": gt["reasoning_tokens"] if ok else None,
        "error": None if gt["error_type"] == "none" else gt["error_type"],
        "ttft": gt["streamed"] or None,
    }
    if gt["api"].startswith("openai.embeddings"):
        exp.update(output=None, cache_read=None, reasoning=None)
    if gt["api"].startswith("anthropic"):
        exp["reasoning"] = None
    profile, scenario = case["file"].split("/")[0], case["scenario"]
    for field, (value, _why) in LIBRARY_GAPS.get((profile, scenario), {}).items():
        exp[field] = value
    return exp


@pytest.mark.parametrize("transport", ["grpc", "http-protobuf", "http-json"])
@pytest.mark.parametrize("case", CASES, ids=[c["file"].removesuffix(".traces.pb") for c in CASES])
def test_replay_traces_matches_ground_truth(
    case: dict[str, Any], transport: str, gateway: Gateway, fixtures_dir: Path, capture: CaptureExporter
) -> None:
    _send(transport, gateway, "traces", (fixtures_dir / case["file"]).read_bytes())
    exp = _expected(case)

    # exactly one call, whatever the number of spans describing it
    assert _sum(gateway, "gen_ai_client_operation_duration_seconds_count") == 1
    (series,) = _labels(gateway, "gen_ai_client_operation_duration_seconds_count")
    assert series.get("gen_ai_request_model") == exp["request_model"]
    assert series.get("gen_ai_response_model") == exp["response_model"]
    assert series.get("error_type") == exp["error"]
    assert series["service_name"] == "capture-app"

    for token_type in TOKEN_TYPES:
        value = _sum(gateway, "gen_ai_client_tokens_total", gen_ai_token_type=token_type)
        series_present = any(
            s.get("gen_ai_token_type") == token_type for s in _labels(gateway, "gen_ai_client_tokens_total")
        )
        expected = exp[token_type]
        if expected is None or expected == 0:
            assert value == 0, token_type
        else:
            assert (value, series_present) == (expected, True), token_type

    ttft_count = _sum(gateway, "gen_ai_client_operation_time_to_first_chunk_seconds_count")
    assert ttft_count == (1 if exp["ttft"] else 0)
    if exp["ttft"]:
        # the server waited 120 ms for the first chunk; clients see a little more
        assert _sum(gateway, "gen_ai_client_operation_time_to_first_chunk_seconds_bucket", le="0.08") == 0
        assert _sum(gateway, "gen_ai_client_operation_time_to_first_chunk_seconds_bucket", le="0.32") == 1

    counted = [
        s
        for s in capture.spans()
        if any(kv.key == "llmpulse.counted" and kv.value.bool_value for kv in s.attributes)
    ]
    assert len(counted) == 1
    attrs = {kv.key for kv in counted[0].attributes}
    assert "gen_ai.input.messages" not in attrs and "input.value" not in attrs  # content redacted by default
    for span in capture.spans():
        for kv in span.attributes:
            assert not kv.key.startswith(("llm.input_messages.", "llm.output_messages.", "gen_ai.prompt.")), (
                kv.key
            )


@pytest.mark.parametrize(
    "case",
    [c for c in _manifest()["files"] if c["signal"] in ("logs", "metrics")],
    ids=lambda c: c["file"],
)
def test_replay_logs_and_metrics_are_accepted_and_not_counted_as_calls(
    case: dict[str, Any], gateway: Gateway, fixtures_dir: Path
) -> None:
    body = (fixtures_dir / case["file"]).read_bytes()
    _send("grpc", gateway, case["signal"], body)
    request = decode_protobuf(case["signal"], body)
    if case["signal"] == "logs":
        expected = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
    else:
        expected = sum(
            len(getattr(m, m.WhichOneof("data")).data_points)
            for rm in request.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        )
    assert expected > 0
    assert _sum(gateway, "llmpulse_received_items_total", signal=case["signal"]) == expected
    # semconv event records and the libraries' own metrics describe calls already seen as spans
    assert _sum(gateway, "gen_ai_client_operation_duration_seconds_count") == 0
