"""A known batch of LLM calls, sent as real OTLP spans, and what every panel should then show.

The calls cover what the dashboards break down: two providers, priced and unpriced models,
two services in two tenants/namespaces, streaming (TTFT) and not, cached input, and the three
error classes the safety panels single out. :class:`Truth` derives the expected numbers from
the list alone (and from the shipped price table), never from llmpulse's code.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmpulse.top import histogram_quantile
from tests.support.promstack import http_post

ROOT = Path(__file__).resolve().parents[2]
PRICES = ROOT / "processors" / "llmpulse" / "enrich" / "prices.yaml"

#: Resource attributes per service; llmpulse's default dimensions read tenant.id and the namespace.
SERVICES: dict[str, dict[str, str]] = {
    "chat-api": {"tenant.id": "acme", "k8s.namespace.name": "prod"},
    "batch-worker": {"tenant.id": "globex", "k8s.namespace.name": "jobs"},
}


@dataclass(frozen=True)
class Call:
    """One LLM call as an app's instrumentation reports it (OpenTelemetry GenAI semconv v1.41)."""

    service: str
    provider: str
    model: str
    response_model: str | None
    duration_s: float
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read: int = 0
    ttft_s: float | None = None  # set = streamed
    error: str | None = None  # the canonical class llmpulse must derive

    def attributes(self) -> dict[str, Any]:
        a: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": self.provider,
            "gen_ai.request.model": self.model,
        }
        if self.response_model:
            a["gen_ai.response.model"] = self.response_model
        if self.input_tokens is not None:
            a["gen_ai.usage.input_tokens"] = self.input_tokens
            a["gen_ai.usage.output_tokens"] = self.output_tokens
        if self.cache_read:
            a["gen_ai.usage.cache_read.input_tokens"] = self.cache_read
        if self.ttft_s is not None:
            a["gen_ai.request.stream"] = True
            a["gen_ai.response.time_to_first_chunk"] = self.ttft_s
        if self.error == "rate_limit":
            a["error.type"] = "RateLimitError"
            a["http.response.status_code"] = 429
        elif self.error == "quota_exceeded":
            a["error.type"] = "insufficient_quota"
            a["http.response.status_code"] = 429
        elif self.error == "content_filter":  # HTTP 200, the provider cut the answer
            a["gen_ai.response.finish_reasons"] = ["content_filter"]
        else:
            a["gen_ai.response.finish_reasons"] = ["stop"]
        return a

    @property
    def failed_status(self) -> Status | None:
        if self.error == "rate_limit":
            return Status(StatusCode.ERROR, "Error code: 429 - Rate limit reached for gpt-4o-mini")
        if self.error == "quota_exceeded":
            return Status(StatusCode.ERROR, "Error code: 429 - You exceeded your current quota")
        return None


PROTOBUF = "application/x-protobuf"
MINI, HAIKU, FINETUNE = "gpt-4o-mini", "claude-3-5-haiku", "acme-finetune-v1"

# Durations and TTFTs sit strictly inside buckets, so no result hinges on float equality at a bound.
CALLS: tuple[Call, ...] = (
    Call("chat-api", "openai", MINI, "gpt-4o-mini-2024-07-18", 0.9, 1200, 300, cache_read=400, ttft_s=0.25),
    Call("chat-api", "openai", MINI, "gpt-4o-mini-2024-07-18", 0.5, 800, 150, ttft_s=0.12),
    Call("chat-api", "openai", MINI, "gpt-4o-mini-2024-07-18", 1.7, 2000, 500),
    Call("batch-worker", "openai", MINI, "gpt-4o-mini-2024-07-18", 0.3, 500, 100),
    Call("chat-api", "openai", MINI, None, 0.05, error="rate_limit"),
    Call("batch-worker", "openai", MINI, None, 0.045, error="quota_exceeded"),
    Call("chat-api", "openai", MINI, "gpt-4o-mini-2024-07-18", 0.6, 300, 10, error="content_filter"),
    Call(
        "chat-api",
        "anthropic",
        HAIKU,
        "claude-3-5-haiku-20241022",
        2.2,
        1500,
        250,
        cache_read=600,
        ttft_s=0.4,
    ),
    Call("batch-worker", "anthropic", HAIKU, "claude-3-5-haiku-20241022", 1.1, 900, 120),
    Call("batch-worker", "openai", FINETUNE, FINETUNE, 0.2, 100, 20),
)


def send(endpoint: str, calls: Iterable[Call]) -> None:
    """Export ``calls`` as CLIENT spans over OTLP/gRPC and return once every Export has returned."""
    by_service: dict[str, list[Call]] = {}
    for c in calls:
        by_service.setdefault(c.service, []).append(c)
    for service, group in by_service.items():
        provider = TracerProvider(resource=Resource.create({"service.name": service, **SERVICES[service]}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
        tracer = provider.get_tracer("llmpulse-dashboard-tests")
        end = time.time_ns()
        for c in group:
            span = tracer.start_span(
                f"chat {c.model}",
                kind=SpanKind.CLIENT,
                start_time=end - round(c.duration_s * 1e9),
                attributes=c.attributes(),
            )
            if c.failed_status is not None:
                span.set_status(c.failed_status)
            span.end(end_time=end)
        assert provider.force_flush(30_000), f"spans of {service} were not exported"
        provider.shutdown()


def send_refused(http_base: str) -> None:
    """What the pipeline dashboard's refusal panels count: one request llmpulse cannot decode
    (refused_requests, reason malformed) and one span with a 3-byte trace id (refused_items,
    reason invalid_record)."""
    status, _ = http_post(http_base + "/v1/traces", b"\x0a\xff\xff not protobuf", PROTOBUF)
    assert status == 400, status
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"abc", b"12345678", "broken"
    status, body = http_post(http_base + "/v1/traces", req.SerializeToString(), PROTOBUF)
    assert status == 200, (status, body)  # partial success: the request is fine, the span is not


# --- ground truth ------------------------------------------------------------------------------


def _prices() -> dict[str, dict[str, float]]:
    models: dict[str, dict[str, float]] = yaml.safe_load(PRICES.read_text())["models"]
    return models


def cost_usd(c: Call) -> float | None:
    """Cost by the formula in prices.yaml's header: USD per 1M tokens, cache_read billed at its own
    price, reasoning at output's. The dated response models (gpt-4o-mini-2024-07-18) fall under the
    request model's key by the table's longest-prefix rule, so the request model's entry applies."""
    entry = _prices().get(c.model)
    if entry is None or c.input_tokens is None or c.output_tokens is None:
        return None
    cache_read_price = entry.get("cache_read", entry["input"])
    usd = (
        (c.input_tokens - c.cache_read) * entry["input"]
        + c.cache_read * cache_read_price
        + c.output_tokens * entry["output"]
    )
    return usd / 1e6


def cumulative(values: Iterable[float], bounds: Sequence[float]) -> list[tuple[float, float]]:
    """Cumulative ``(le, count)`` buckets of ``values`` over ``bounds`` (+Inf appended)."""
    vs = list(values)
    return [(b, float(sum(1 for v in vs if v <= b))) for b in (*bounds, math.inf)]


@dataclass(frozen=True)
class Truth:
    """Expected totals over a subset of :data:`CALLS` (all, one model, one service…)."""

    calls: tuple[Call, ...]

    def where(self, pred: Callable[[Call], bool]) -> Truth:
        return Truth(tuple(c for c in self.calls if pred(c)))

    @property
    def count(self) -> int:
        return len(self.calls)

    @property
    def failed(self) -> int:
        return sum(1 for c in self.calls if c.error)

    def failed_of(self, error: str) -> int:
        return sum(1 for c in self.calls if c.error == error)

    def tokens(self, kind: str = "billed") -> int:
        priced = [c for c in self.calls if c.input_tokens is not None]
        if kind == "input":
            return sum(c.input_tokens or 0 for c in priced)
        if kind == "output":
            return sum(c.output_tokens or 0 for c in priced)
        if kind == "cache_read":
            return sum(c.cache_read for c in priced)
        return self.tokens("input") + self.tokens("output")

    @property
    def with_usage(self) -> int:
        return sum(1 for c in self.calls if c.input_tokens is not None)

    @property
    def cost(self) -> float:
        return sum(x for c in self.calls if (x := cost_usd(c)) is not None)

    @property
    def unpriced(self) -> int:
        return sum(1 for c in self.calls if c.input_tokens is not None and cost_usd(c) is None)

    def quantile(self, q: float, what: str, bounds: Sequence[float]) -> float:
        """What ``histogram_quantile`` must give for these calls' durations / TTFTs / time per token."""
        if what == "duration":
            values = [c.duration_s for c in self.calls]
        elif what == "ttft":
            values = [c.ttft_s for c in self.calls if c.ttft_s is not None]
        else:  # time per output chunk: (duration - TTFT) / (output tokens - 1), streamed calls
            values = [
                (c.duration_s - c.ttft_s) / (c.output_tokens - 1)
                for c in self.calls
                if c.ttft_s is not None and c.output_tokens is not None and c.output_tokens > 1
            ]
        return histogram_quantile(q, cumulative(values, bounds))

    @property
    def mean_duration(self) -> float:
        return sum(c.duration_s for c in self.calls) / self.count


ALL = Truth(CALLS)
