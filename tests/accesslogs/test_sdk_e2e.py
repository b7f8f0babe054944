"""Mesh and gateway access logs sent by the OpenTelemetry SDK (LoggerProvider + OTLP log exporter,
gRPC and HTTP) to a real gateway: the /metrics deltas are exactly the calls the logs describe, and
the forwarded records carry the write-back attributes and no content."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

import pytest

from llmpulse.otlp import attrs_to_dict, to_py
from llmpulse.server import Gateway
from tests.accesslogs import samples as s
from tests.accesslogs.conftest import Series, delta, scrape, sdk_logger
from tests.support.gateway import CaptureExporter

RESOURCE = {"service.name": "checkout", "k8s.namespace.name": "shop"}
KEY = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model")


def _emit_all(logger: Any) -> None:
    """One record per dialect and failure shape, as each source would send it."""
    # ASM sidecar file log shipped raw (JSON string body)
    logger.emit(body=json.dumps(s.asm("sdk-asm-1")))
    # ASM + a logged 429 quota body from OpenAI
    logger.emit(
        body=json.dumps(
            s.asm(
                "sdk-asm-2",
                model="gpt-4o-mini",
                prompt="-",
                completion="-",
                response_code=429,
                path="/v1/chat/completions",
                authority="api.openai.com",
                response_body=json.dumps(s.OPENAI_INSUFFICIENT_QUOTA),
            )
        )
    )
    # ASM + DashScope content moderation (400 data_inspection_failed)
    logger.emit(
        body=json.dumps(
            s.asm(
                "sdk-asm-3",
                prompt="-",
                completion="-",
                response_code=400,
                response_body=json.dumps(s.DASHSCOPE_COMPAT_INSPECTION),
            )
        )
    )
    # Higress, parsed by the agent into a map body
    logger.emit(body=s.higress("sdk-hig-1"))
    # Envoy AI Gateway: the documented example, and the gen_ai.* spelling as attributes
    logger.emit(body=s.aigw_doc_example())
    logger.emit(
        body="", attributes=s.aigw_semconv("sdk-aig-2", status="200", input_tokens="400", output_tokens="50")
    )
    # Envoy OTel access logger: Istio text line + string labels
    body, labels = s.envoy_als(
        "sdk-als-1",
        "/v1/chat/completions",
        "api.openai.com",
        200,
        2310,
        {"request_model": "gpt-4o-mini", "request_prompt_tokens": "1200", "request_completion_tokens": "300"},
    )
    logger.emit(body=body, attributes=labels)
    # a gateway that logs provider bodies: Anthropic stream through Envoy (labels + response body)
    body, labels = s.envoy_als(
        "sdk-als-2",
        "/v1/messages",
        "api.anthropic.com",
        200,
        4100,
        {"request_model": "claude-sonnet-4-5", "response_body": s.ANTHROPIC_STREAM},
    )
    logger.emit(body=body, attributes=labels)
    # not calls: a health check through the mesh, and an application log line
    logger.emit(body=json.dumps(s.istio_json("sdk-health", path="/healthz", request_model="-")))
    logger.emit(body="user 42 logged in", attributes={"model": "not-an-llm"})


#: (operation, provider, request model, response model, error_type) → (calls, input, output)
EXPECTED: dict[tuple[str, str, str, str, str], tuple[int, int, int]] = {
    ("chat", "dashscope", "qwen-plus", "", ""): (1, 31, 17),
    ("chat", "openai", "gpt-4o-mini", "", "quota_exceeded"): (1, 0, 0),
    ("chat", "dashscope", "qwen-plus", "", "content_filter"): (1, 0, 0),
    ("chat", "openai", "gpt-4o-mini", "", ""): (2, 10 + 1200, 69 + 300),
    ("chat", "", "gpt-4o-mini", "", ""): (1, 15, 7),
    ("chat", "anthropic", "claude-sonnet-4-5", "", ""): (1, 400, 50),
    ("chat", "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", ""): (1, 1125, 42),
}


def _by_call(series: Series, extra: str) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = defaultdict(float)
    for labels, value in series.items():
        d = dict(labels)
        if d.get("service_name") != "checkout":
            continue
        out[(*(d.get(k, "") for k in KEY), d.get(extra, ""))] += value
    return dict(out)


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_sdk_access_logs_become_exact_metrics(
    transport: str, gateway: Gateway, capture: CaptureExporter
) -> None:
    keep = (*KEY, "service_name", "error_type", "gen_ai_token_type", "k8s_namespace_name")
    durations_before = scrape(gateway, "gen_ai_client_operation_duration_seconds_count", keep)
    tokens_before = scrape(gateway, "gen_ai_client_tokens_total", keep)
    dialects_before = scrape(gateway, "llmpulse_calls_recognised_total", ("dialect",))

    with sdk_logger(gateway, transport, RESOURCE) as logger:
        _emit_all(logger)

    calls = _by_call(
        delta(scrape(gateway, "gen_ai_client_operation_duration_seconds_count", keep), durations_before),
        "error_type",
    )
    assert calls == {key: float(n) for key, (n, _, _) in EXPECTED.items()}

    tokens = _by_call(
        delta(scrape(gateway, "gen_ai_client_tokens_total", keep), tokens_before), "gen_ai_token_type"
    )
    expected_tokens: dict[tuple[str, ...], float] = defaultdict(float)
    for (op, provider, model, response_model, _error), (_n, inp, out) in EXPECTED.items():
        for token_type, amount in (("input", inp), ("output", out)):
            if amount:
                expected_tokens[(op, provider, model, response_model, token_type)] += amount
    expected_tokens[
        ("chat", "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "cache_read")
    ] = 1000
    expected_tokens[
        ("chat", "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "cache_write")
    ] = 100
    assert tokens == dict(expected_tokens)

    dialects = delta(scrape(gateway, "llmpulse_calls_recognised_total", ("dialect",)), dialects_before)
    assert dialects == {
        (("dialect", "asm"),): 3.0,
        (("dialect", "higress"),): 1.0,
        (("dialect", "envoy_ai_gateway"),): 2.0,
        (("dialect", "envoy_als"),): 2.0,
    }

    ttft = scrape(gateway, "gen_ai_client_operation_time_to_first_chunk_seconds_sum", KEY)
    assert ttft[tuple(zip(KEY, ("chat", "openai", "gpt-4o-mini"), strict=False))] == pytest.approx(0.309)

    namespaces = scrape(gateway, "gen_ai_client_operation_duration_seconds_count", ("k8s_namespace_name",))
    assert namespaces[(("k8s_namespace_name", "shop"),)] == 8  # the resource's namespace is a dimension

    # what would be forwarded: enriched records, content gone
    records = [
        lr
        for signal, request in capture.requests
        if signal == "logs"
        for rl in request.resource_logs
        for sl in rl.scope_logs
        for lr in sl.log_records
    ]
    assert len(records) == 10
    by_request: dict[str, tuple[dict[str, Any], Any]] = {}
    for lr in records:
        attrs = attrs_to_dict(lr.attributes)
        body = to_py(lr.body)
        if isinstance(body, str) and body.startswith("{"):
            body = json.loads(body)
        found = re.search(r"sdk-[a-z]+(?:-\d)?|83b63da3|not-an-llm", json.dumps([attrs, body]))
        assert found is not None, (attrs, body)
        by_request[found.group()] = (attrs, body)
    assert len(by_request) == 10
    quota_attrs, quota_body = by_request["sdk-asm-2"]
    assert quota_attrs["llmpulse.error.class"] == "quota_exceeded"
    assert quota_attrs["error.type"] == "insufficient_quota"
    assert "response_body" not in quota_body
    higress_attrs, higress_body = by_request["sdk-hig-1"]
    assert higress_attrs["gen_ai.response.time_to_first_chunk"] == pytest.approx(0.309)
    assert "question" not in json.loads(higress_body["ai_log"])
    anthropic_attrs = next(
        a for a, _b in by_request.values() if a.get("gen_ai.response.model", "").startswith("claude")
    )
    assert anthropic_attrs["gen_ai.usage.input_tokens"] == 1125
    assert anthropic_attrs["gen_ai.usage.cache_read.input_tokens"] == 1000
    assert "response_body" not in anthropic_attrs
    assert anthropic_attrs["llmpulse.cost.usd"] == pytest.approx(
        25 * 3e-6 + 1000 * 0.30e-6 + 100 * 3.75e-6 + 42 * 15e-6
    )
