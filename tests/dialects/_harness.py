"""Build spans with the real OpenTelemetry SDK, run them through a real ``Pipeline`` and check the
canonical call they become, from the outside: Prometheus samples, self-metrics and the span
attributes written back.

A case is data: span trees (``S``), the calls expected to be counted (``Call``), the spans expected
to be marked duplicates, and the content keys that must be redacted. The SDK encodes the finished
spans with its own OTLP encoder (``encode_spans``), exactly what an app's exporter sends; spans
tagged with a later ``batch`` go in a later export request.

Expected costs are computed here from ``enrich/prices.yaml`` with the formula of ``enrich/_cost.py``
(and the lookup rule of the YAML header), never copied from the code under test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import yaml
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry

from llmpulse.config import load_config
from llmpulse.otlp import attrs_to_dict
from llmpulse.pipeline import Pipeline
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics, SpanMetricsCollector
from tests.support.gateway import CaptureExporter

SERVICE = "dialect-app"
#: 2026-05-29T… UTC: every span starts at ``T0 + start_s``.
T0_NS = 1_780_000_000 * 10**9
CLIENT = SpanKind.CLIENT
INTERNAL = SpanKind.INTERNAL
SERVER = SpanKind.SERVER

AttrValue = str | bool | int | float | Sequence[str] | Sequence[int] | Sequence[float] | Sequence[bool]


def exc(qualified: str, message: str) -> BaseException:
    """A real exception whose SDK-recorded ``exception.type`` is ``qualified`` (``openai.RateLimitError``)."""
    module, _, name = qualified.rpartition(".")
    cls: type[Exception] = type(name, (Exception,), {"__module__": module or "builtins"})
    return cls(message)


def iso_at(offset_s: float) -> str:
    """An ISO-8601 timestamp ``offset_s`` after ``T0`` (Langfuse ``completion_start_time``)."""
    return datetime.fromtimestamp(T0_NS / 1e9 + offset_s, tz=UTC).isoformat()


@dataclass(frozen=True)
class Ev:
    """A span event ``at_s`` seconds after its span started."""

    name: str
    at_s: float
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)


@dataclass(frozen=True)
class S:
    """One span to build: its instrumentation scope, kind, timing, attributes, events and status."""

    key: str
    name: str
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)
    scope: str = "app"
    kind: SpanKind = CLIENT
    start_s: float = 0.0
    duration_s: float = 1.0
    events: Sequence[Ev] = ()
    #: span status ERROR with this description ("" = ERROR without description)
    error: str | None = None
    #: exceptions recorded with ``record_exception`` (at the end of the span)
    exceptions: Sequence[BaseException] = ()
    children: Sequence[S] = ()
    #: export request this span travels in (0 = the first)
    batch: int = 0
    #: ``service.name`` of the resource that emits the span (default: the case's service)
    service: str | None = None


@dataclass(frozen=True)
class Call:
    """A call that must be counted exactly once, as the metrics and the span show it."""

    span: str
    dialect: str
    operation: str | None
    provider: str | None
    request_model: str | None
    response_model: str | None
    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None
    streaming: bool | None = None
    ttft_s: float | None = None
    error_class: str | None = None
    finish_reasons: tuple[str, ...] | None = None
    #: the duration the call reports when it is not the span's own duration (vLLM ``e2e``)
    duration_s: float | None = None
    #: a cost the library reported, used only when the model has no price
    reported_cost: float | None = None
    #: the ``service_name`` label when it is not the case's service
    service: str | None = None


@dataclass(frozen=True)
class Case:
    id: str
    spans: Sequence[S]
    calls: Sequence[Call]
    #: duplicate span key → (span key it duplicates, dedup reason)
    duplicates: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: keys that must be gone from every span (content is redacted by default)
    redacted: Sequence[str] = ()
    #: span events that must be gone (content-only events)
    redacted_events: Sequence[str] = ()
    service: str = SERVICE


# -- expected cost, from the YAML --------------------------------------------------------------
@cache
def _price_rows() -> dict[str, dict[str, float]]:
    text = resources.files("llmpulse.enrich").joinpath("prices.yaml").read_text()
    models: dict[str, dict[str, float]] = yaml.safe_load(text)["models"]
    return {key.lower(): {k: float(v) for k, v in row.items()} for key, row in models.items()}


def price_row(model: str | None) -> dict[str, float] | None:
    """The YAML row for ``model``: exact id, else the longest key followed by ``-``/``:``/``@``/``.``."""
    if not model:
        return None
    name = model.lower()
    rows = _price_rows()
    if name in rows:
        return rows[name]
    for key in sorted(rows, key=len, reverse=True):
        if name.startswith(key) and name[len(key)] in "-:@.":
            return rows[key]
    return None


def expected_cost(call: Call) -> float | None:
    """``_cost.py``'s formula on the YAML prices (USD per 1M tokens); ``None`` when unpriced."""
    if call.input is None and call.output is None:
        return None
    row = price_row(call.response_model) or price_row(call.request_model)
    if row is None:
        return call.reported_cost
    inp, out = call.input or 0, call.output or 0
    cache_read = min(call.cache_read or 0, inp)
    cache_write = min(call.cache_write or 0, inp - cache_read)
    reasoning = min(call.reasoning or 0, out)
    per_token = {
        "input": row["input"],
        "cache_read": row.get("cache_read", row["input"]),
        "cache_write": row.get("cache_write", row["input"]),
        "output": row["output"],
        "reasoning": row.get("reasoning", row["output"]),
    }
    usd_per_1m = (
        (inp - cache_read - cache_write) * per_token["input"]
        + cache_read * per_token["cache_read"]
        + cache_write * per_token["cache_write"]
        + (out - reasoning) * per_token["output"]
        + reasoning * per_token["reasoning"]
    )
    return usd_per_1m / 1e6


# -- building and running ----------------------------------------------------------------------
@dataclass
class Result:
    registry: CollectorRegistry
    requests: list[ExportTraceServiceRequest]
    spans: dict[str, PbSpan]

    def sample(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        return self.registry.get_sample_value(name, dict(labels or {}))

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        return [
            (dict(s.labels), s.value)
            for family in self.registry.collect()
            for s in family.samples
            if s.name == name
        ]

    def total(self, name: str, **match: str) -> float:
        return sum(v for labels, v in self.samples(name) if all(labels.get(k) == x for k, x in match.items()))

    def attrs(self, key: str) -> dict[str, Any]:
        return attrs_to_dict(self.spans[key].attributes)


def _walk(specs: Sequence[S]) -> Iterator[S]:
    for spec in specs:
        yield spec
        yield from _walk(spec.children)


def _start(
    providers: Callable[[str | None], TracerProvider],
    spec: S,
    parent: trace.Span | None,
    out: dict[str, tuple[S, trace.Span]],
) -> None:
    tracer = providers(spec.service).get_tracer(spec.scope, "1.0.0")
    context = trace.set_span_in_context(parent) if parent is not None else None
    start_ns = T0_NS + round(spec.start_s * 1e9)
    span = tracer.start_span(
        spec.name, context=context, kind=spec.kind, attributes=dict(spec.attrs), start_time=start_ns
    )
    for event in spec.events:
        span.add_event(event.name, dict(event.attrs), timestamp=start_ns + round(event.at_s * 1e9))
    out[spec.key] = (spec, span)
    for child in spec.children:
        _start(providers, child, span, out)


def run(case: Case) -> Result:
    """Build the case's spans with the SDK, export them as OTLP requests through a real pipeline."""
    exporter = InMemorySpanExporter()
    by_service: dict[str, TracerProvider] = {}

    def providers(service: str | None) -> TracerProvider:
        name = service or case.service
        if name not in by_service:
            by_service[name] = TracerProvider(resource=Resource.create({"service.name": name}))
            by_service[name].add_span_processor(SimpleSpanProcessor(exporter))
        return by_service[name]

    started: dict[str, tuple[S, trace.Span]] = {}
    for root in case.spans:
        _start(providers, root, None, started)
    # children end before their parents, as in a real app
    for key in reversed(list(started)):
        spec, span = started[key]
        end_ns = T0_NS + round((spec.start_s + spec.duration_s) * 1e9)
        for error in spec.exceptions:
            span.record_exception(error, timestamp=end_ns)
        if spec.error is not None:
            span.set_status(Status(StatusCode.ERROR, spec.error or None))
        span.end(end_time=end_ns)
    finished: list[ReadableSpan] = list(exporter.get_finished_spans())
    for provider in by_service.values():
        provider.shutdown()

    batch_of = {spec.key: spec.batch for spec in _walk(case.spans)}
    span_key = {started[k][1].get_span_context().span_id: k for k in started}
    requests = []
    for batch in sorted(set(batch_of.values())):
        chosen = [s for s in finished if batch_of[span_key[s.context.span_id]] == batch]
        requests.append(encode_spans(chosen))

    config = load_config(None, environ={})
    registry = CollectorRegistry()
    selfmetrics = SelfMetrics(registry)
    spanmetrics = SpanMetrics(selfmetrics)
    registry.register(SpanMetricsCollector(spanmetrics))
    capture = CaptureExporter()
    pipeline = Pipeline(config, selfmetrics, spanmetrics, exporters=[capture])
    for request in requests:
        outcome = pipeline.consume("traces", request, protocol="grpc", size=request.ByteSize())
        assert outcome.rejected == 0, outcome.message

    # the requests as exported: with the C module, LLM spans are rewritten in their encoding
    requests = [exported for _signal, exported in capture.requests]  # type: ignore[misc]
    spans: dict[str, PbSpan] = {}
    for request in requests:
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for pb in ss.spans:
                    spans[span_key[int.from_bytes(pb.span_id, "big")]] = pb
    return Result(registry, requests, spans)


# -- checking ----------------------------------------------------------------------------------
def labels_of(call: Call, service: str = SERVICE) -> dict[str, str]:
    pairs = {
        "gen_ai_operation_name": call.operation,
        "gen_ai_provider_name": call.provider,
        "gen_ai_request_model": call.request_model,
        "gen_ai_response_model": call.response_model,
        "service_name": service,
    }
    return {k: v for k, v in pairs.items() if v}


def _approx(actual: float | None, expected: float, what: str) -> None:
    assert actual is not None, f"{what}: missing, expected {expected}"
    assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12), f"{what}: {actual} != {expected}"


def check(case: Case) -> Result:
    """Run ``case`` and assert every counted call, duplicate and redaction it declares."""
    result = run(case)
    specs = {spec.key: spec for spec in _walk(case.spans)}
    calls = list(case.calls)

    # exactly these calls were counted, by dialect; the duplicates by reason
    assert result.total("llmpulse_calls_recognised_total") == len(calls), result.samples(
        "llmpulse_calls_recognised_total"
    )
    by_dialect: dict[str, int] = {}
    for call in calls:
        by_dialect[call.dialect] = by_dialect.get(call.dialect, 0) + 1
    for dialect, count in by_dialect.items():
        assert result.sample("llmpulse_calls_recognised_total", {"dialect": dialect}) == count, dialect
    assert result.total("llmpulse_calls_deduplicated_total") == len(case.duplicates), result.samples(
        "llmpulse_calls_deduplicated_total"
    )
    reasons: dict[str, int] = {}
    for _kept, reason in case.duplicates.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in reasons.items():
        assert result.sample("llmpulse_calls_deduplicated_total", {"reason": reason}) == count, reason

    _check_durations(result, case, specs)
    base_groups: dict[tuple[tuple[str, str], ...], list[Call]] = {}
    for call in calls:
        labels = labels_of(call, call.service or case.service)
        base_groups.setdefault(tuple(sorted(labels.items())), []).append(call)
    for label_key, group in base_groups.items():
        _check_tokens(result, dict(label_key), group)
        durations = [_duration(c, specs) for c in group]
        _check_ttft(result, dict(label_key), list(zip(group, durations, strict=True)))
        _check_cost(result, dict(label_key), group)
    _check_no_stray_series(result, calls, case.service)

    for call in calls:
        _check_write_back(result, call, specs[call.span])
    _check_spans(result, case, specs)
    return result


def _duration(call: Call, specs: Mapping[str, S]) -> float:
    return call.duration_s if call.duration_s is not None else specs[call.span].duration_s


def _check_durations(result: Result, case: Case, specs: Mapping[str, S]) -> None:
    """One duration observation per call, under its labels (``error_type`` on failures)."""
    duration = "gen_ai_client_operation_duration_seconds"
    assert result.total(duration + "_count") == len(case.calls), result.samples(duration + "_count")
    groups: dict[tuple[tuple[str, str], ...], list[Call]] = {}
    for call in case.calls:
        labels = {**labels_of(call, call.service or case.service), **_error_label(call)}
        groups.setdefault(tuple(sorted(labels.items())), []).append(call)
    for label_key, group in groups.items():
        labels = dict(label_key)
        count = result.sample(duration + "_count", labels)
        assert count == len(group), (labels, result.samples(duration + "_count"))
        seconds = sum(_duration(c, specs) for c in group)
        _approx(result.sample(duration + "_sum", labels), seconds, f"duration sum {labels}")


def _check_spans(result: Result, case: Case, specs: Mapping[str, S]) -> None:
    """Duplicates point at the counted span; other spans are untouched; content is gone."""
    for dup, (kept, _reason) in case.duplicates.items():
        attrs = result.attrs(dup)
        assert attrs.get("llmpulse.counted") is False, (dup, attrs)
        assert attrs.get("llmpulse.duplicate_of") == result.spans[kept].span_id.hex(), (dup, attrs)
        assert "llmpulse.cost.usd" not in attrs
    counted_or_dup = {c.span for c in case.calls} | set(case.duplicates)
    for key in specs:
        attrs = result.attrs(key)
        if key not in counted_or_dup:
            assert "llmpulse.counted" not in attrs, f"{key} should not be an LLM call: {attrs}"
            assert "llmpulse.dialect" not in attrs, key
        for gone in case.redacted:
            assert not any(k == gone or k.startswith(gone + ".") for k in attrs), (key, gone)
        events = {e.name for e in result.spans[key].events}
        assert not events & set(case.redacted_events), (key, events)


def _error_label(call: Call) -> dict[str, str]:
    return {"error_type": call.error_class} if call.error_class else {}


_TOKEN_FIELDS = (
    ("input", "input"),
    ("output", "output"),
    ("cache_read", "cache_read"),
    ("cache_write", "cache_write"),
    ("reasoning", "reasoning"),
)


def _check_tokens(result: Result, labels: dict[str, str], group: list[Call]) -> None:
    for token_type, attr in _TOKEN_FIELDS:
        known = [getattr(c, attr) for c in group if getattr(c, attr) is not None]
        actual = result.sample("gen_ai_client_tokens_total", {**labels, "gen_ai_token_type": token_type})
        if not known:
            assert actual is None, f"{token_type} tokens should be unknown for {labels}, got {actual}"
            continue
        assert actual == sum(known), f"{token_type} tokens {labels}: {actual} != {sum(known)}"
        if token_type in ("input", "output"):
            usage = {**labels, "gen_ai_token_type": token_type}
            assert result.sample("gen_ai_client_token_usage_count", usage) == len(known)
            assert result.sample("gen_ai_client_token_usage_sum", usage) == sum(known)


def _check_ttft(result: Result, labels: dict[str, str], group: list[tuple[Call, float]]) -> None:
    """TTFT only for streamed calls with a first-chunk time; per-chunk time when > 1 output token."""
    ttft = "gen_ai_client_operation_time_to_first_chunk_seconds"
    per_chunk = "gen_ai_client_operation_time_per_output_chunk_seconds"
    streamed = [(c, d) for c, d in group if c.streaming and c.ttft_s is not None]
    if not streamed:
        assert result.sample(ttft + "_count", labels) is None, f"no TTFT expected for {labels}"
        assert result.sample(per_chunk + "_count", labels) is None
        return
    assert result.sample(ttft + "_count", labels) == len(streamed)
    _approx(
        result.sample(ttft + "_sum", labels), sum(c.ttft_s or 0.0 for c, _d in streamed), f"TTFT sum {labels}"
    )
    chunked = [
        max(d - (c.ttft_s or 0.0), 0.0) / (c.output - 1) for c, d in streamed if c.output and c.output > 1
    ]
    if not chunked:
        assert result.sample(per_chunk + "_count", labels) is None
        return
    assert result.sample(per_chunk + "_count", labels) == len(chunked)
    _approx(result.sample(per_chunk + "_sum", labels), sum(chunked), f"time per output chunk {labels}")


def _check_cost(result: Result, labels: dict[str, str], group: list[Call]) -> None:
    costs = [expected_cost(c) for c in group]
    unpriced = sum(1 for c, cost in zip(group, costs, strict=True) if cost is None and _usage_known(c))
    priced = [cost for cost in costs if cost is not None]
    actual = result.sample("gen_ai_client_cost_usd_total", labels)
    if priced:
        _approx(actual, sum(priced), f"cost {labels}")
    else:
        assert actual is None, f"no cost expected for {labels}, got {actual}"
    assert result.sample("gen_ai_client_unpriced_operations_total", labels) == (unpriced or None)


def _usage_known(call: Call) -> bool:
    return call.input is not None or call.output is not None


def _check_no_stray_series(result: Result, calls: list[Call], service: str) -> None:
    allowed = [labels_of(c, c.service or service) for c in calls]
    for name in (
        "gen_ai_client_tokens_total",
        "gen_ai_client_cost_usd_total",
        "gen_ai_client_operation_time_to_first_chunk_seconds_count",
        "gen_ai_client_unpriced_operations_total",
    ):
        for labels, _value in result.samples(name):
            base = {k: v for k, v in labels.items() if k not in ("gen_ai_token_type", "le")}
            assert base in allowed, f"unexpected {name} series {labels}"


def _check_write_back(result: Result, call: Call, spec: S) -> None:
    attrs = result.attrs(call.span)
    expected: dict[str, Any] = {
        "gen_ai.operation.name": call.operation,
        "gen_ai.provider.name": call.provider,
        "gen_ai.request.model": call.request_model,
        "gen_ai.response.model": call.response_model,
        "gen_ai.usage.input_tokens": call.input,
        "gen_ai.usage.output_tokens": call.output,
        "gen_ai.usage.cache_read.input_tokens": call.cache_read,
        "gen_ai.usage.cache_creation.input_tokens": call.cache_write,
        "gen_ai.usage.reasoning.output_tokens": call.reasoning,
        "gen_ai.request.stream": call.streaming,
        "llmpulse.error.class": call.error_class,
        "llmpulse.dialect": call.dialect,
        "llmpulse.counted": True,
    }
    for key, value in expected.items():
        if value is None:
            # never invented: the key is absent unless the app itself sent it
            assert key not in attrs or key in spec.attrs, (call.span, key, attrs.get(key))
        else:
            assert attrs.get(key) == value, f"{call.span}: {key} = {attrs.get(key)!r}, expected {value!r}"
    if call.ttft_s is None:
        assert "gen_ai.response.time_to_first_chunk" not in attrs, f"{call.span}: TTFT invented"
    else:
        _approx(
            attrs.get("gen_ai.response.time_to_first_chunk"), call.ttft_s, f"{call.span} written-back TTFT"
        )
    if call.finish_reasons is not None:
        assert list(attrs.get("gen_ai.response.finish_reasons") or []) == list(call.finish_reasons)
    if call.error_class is None:
        assert "llmpulse.error.class" not in attrs
    else:
        assert attrs.get("error.type"), f"{call.span}: error.type missing on a failed call"
    cost = expected_cost(call)
    if cost is None:
        assert "llmpulse.cost.usd" not in attrs
        assert attrs.get("llmpulse.unpriced") is (True if _usage_known(call) else None)
    else:
        _approx(attrs.get("llmpulse.cost.usd"), cost, f"{call.span} written-back cost")
        assert attrs.get("llmpulse.price.version")
