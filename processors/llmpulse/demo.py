"""``llmpulse demo-traffic``: realistic LLM spans through the real OpenTelemetry SDK, so a newcomer
sees the metrics move. Several providers, models, services and tenants; streaming with TTFT; rate
limits, a quota error and content filtering; spans in three dialects (semconv, OpenInference,
OpenLLMetry).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


@dataclass(frozen=True)
class Scenario:
    provider: str
    model: str
    response_model: str
    input_tokens: int
    output_tokens: int
    cached: int = 0
    reasoning: int = 0
    stream: bool = False
    ttft_s: float = 0.0
    duration_s: float = 0.8
    error: str | None = None
    status: int | None = None
    finish: str = "stop"
    operation: str = "chat"
    dialect: str = "semconv"


SCENARIOS = (
    Scenario("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 420, 180, cached=256, duration_s=0.9),
    Scenario(
        "openai",
        "gpt-4o",
        "gpt-4o-2024-08-06",
        2100,
        350,
        cached=1920,
        stream=True,
        ttft_s=0.35,
        duration_s=4.2,
    ),
    Scenario(
        "openai",
        "o3-mini",
        "o3-mini-2025-01-31",
        1337,
        402,
        cached=1024,
        reasoning=384,
        duration_s=6.5,
        dialect="openllmetry",
    ),
    Scenario(
        "anthropic",
        "claude-3-5-sonnet-latest",
        "claude-3-5-sonnet-20241022",
        2600,
        240,
        cached=2048,
        stream=True,
        ttft_s=0.6,
        duration_s=5.1,
    ),
    Scenario(
        "gcp.gemini",
        "gemini-2.5-flash",
        "gemini-2.5-flash",
        900,
        210,
        duration_s=1.7,
        dialect="openinference",
    ),
    Scenario("dashscope", "qwen-plus", "qwen-plus", 700, 260, stream=True, ttft_s=0.45, duration_s=3.0),
    Scenario("deepseek", "deepseek-chat", "deepseek-chat", 1500, 500, cached=1024, duration_s=7.5),
    Scenario(
        "openai",
        "text-embedding-3-small",
        "text-embedding-3-small",
        64,
        0,
        duration_s=0.05,
        operation="embeddings",
    ),
    Scenario("openai", "gpt-4o-mini", "", 0, 0, error="RateLimitError", status=429, duration_s=0.03),
    Scenario(
        "anthropic",
        "claude-3-5-sonnet-latest",
        "",
        0,
        0,
        error="rate_limit_error",
        status=429,
        duration_s=0.04,
    ),
    Scenario("openai", "gpt-4o-mini", "", 0, 0, error="insufficient_quota", status=429, duration_s=0.03),
    Scenario("dashscope", "qwen-plus", "", 0, 0, error="data_inspection_failed", status=400, duration_s=0.2),
    Scenario(
        "openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 22, 0, finish="content_filter", duration_s=0.4
    ),
)
SERVICES = (("checkout", "acme"), ("support-bot", "globex"), ("search", "acme"))


def _attributes(s: Scenario, tenant: str) -> dict[str, Any]:
    if s.dialect == "openinference":
        attrs: dict[str, Any] = {
            "openinference.span.kind": "LLM" if s.operation == "chat" else "EMBEDDING",
            "llm.provider": "google",
            "llm.system": "vertexai",
            "llm.request.model_name": s.model,
            "llm.model_name": s.response_model,
            "llm.token_count.prompt": s.input_tokens,
            "llm.token_count.completion": s.output_tokens,
            "llm.finish_reason": s.finish,
            "tenant.id": tenant,
        }
        return attrs
    prefix = {"openllmetry": "gen_ai.usage.cache_read_input_tokens"}.get(
        s.dialect, "gen_ai.usage.cache_read.input_tokens"
    )
    attrs = {
        "gen_ai.operation.name": s.operation,
        "gen_ai.provider.name" if s.dialect == "semconv" else "gen_ai.system": s.provider,
        "gen_ai.request.model": s.model,
        "tenant.id": tenant,
    }
    if s.dialect == "openllmetry":
        attrs["gen_ai.is_streaming"] = s.stream
    else:
        attrs["gen_ai.request.stream"] = s.stream
    if s.error is None:
        attrs.update(
            {
                "gen_ai.response.model": s.response_model,
                "gen_ai.usage.input_tokens": s.input_tokens,
                "gen_ai.usage.output_tokens": s.output_tokens,
                "gen_ai.response.finish_reasons": [s.finish],
            }
        )
        if s.operation == "embeddings":
            del attrs["gen_ai.usage.output_tokens"]
        if s.cached:
            attrs[prefix] = s.cached
        if s.reasoning:
            attrs["gen_ai.usage.reasoning_tokens"] = s.reasoning
        if s.stream:
            attrs["gen_ai.response.time_to_first_chunk"] = s.ttft_s
    else:
        attrs["error.type"] = s.error
        attrs["http.response.status_code"] = s.status or 500
    return attrs


def send_demo_traffic(
    endpoint: str,
    *,
    calls: int = 60,
    seconds: float = 0.0,
    insecure: bool = True,
    token: str | None = None,
    seed: int = 7,
) -> int:
    """Send ``calls`` LLM spans (spread over ``seconds``) and flush; returns how many were sent."""
    rng = random.Random(seed)
    headers = {"authorization": f"Bearer {token}"} if token else None
    providers = []
    tracers = []
    for service, _tenant in SERVICES:
        provider = TracerProvider(
            resource=Resource.create({"service.name": service, "service.namespace": "demo"})
        )
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=insecure, headers=headers))
        )
        providers.append(provider)
        tracers.append(provider.get_tracer("llmpulse.demo", "1"))
    pause = seconds / calls if calls and seconds > 0 else 0.0
    for i in range(calls):
        index = rng.randrange(len(SERVICES))
        tracer, (_service, tenant) = tracers[index], SERVICES[index]
        scenario = SCENARIOS[i % len(SCENARIOS)]
        end_ns = time.time_ns()
        duration = scenario.duration_s * rng.uniform(0.8, 1.2)
        start_ns = end_ns - int(duration * 1e9)
        name = f"{scenario.operation} {scenario.model}"
        span = tracer.start_span(
            name, kind=SpanKind.CLIENT, start_time=start_ns, attributes=_attributes(scenario, tenant)
        )  # type: ignore[arg-type]
        if scenario.error is not None:
            span.set_status(Status(StatusCode.ERROR, f"Error code: {scenario.status} - {scenario.error}"))
        span.end(end_time=end_ns)
        if pause:
            time.sleep(pause)
    for provider in providers:
        provider.force_flush()
        provider.shutdown()
    return calls
