"""The span-metrics aggregate: exact values, omitted unknowns, cardinality budget, idle expiry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from llmpulse.call import LLMCall
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics, SpanMetricsCollector


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _setup(**kwargs: object) -> tuple[SpanMetrics, CollectorRegistry, Clock]:
    registry = CollectorRegistry()
    clock = Clock()
    metrics = SpanMetrics(SelfMetrics(registry), clock=clock, **kwargs)  # type: ignore[arg-type]
    registry.register(SpanMetricsCollector(metrics))
    return metrics, registry, clock


def _call(model: str = "gpt-4o", **kw: object) -> LLMCall:
    base: dict[str, object] = dict(
        dialect="semconv",
        operation="chat",
        provider="openai",
        request_model=model,
        service_name="svc",
        duration_s=0.5,
    )
    base.update(kw)
    return LLMCall(**base)  # type: ignore[arg-type]


def test_streamed_call_fills_every_metric_exactly() -> None:
    metrics, registry, _ = _setup()
    call = _call(
        response_model="gpt-4o-2024-08-06",
        input_tokens=2085,
        output_tokens=12,
        cache_read_tokens=1920,
        reasoning_tokens=0,
        streaming=True,
        ttft_s=0.125,
        duration_s=0.345,
        cost_usd=0.0029325,
    )
    metrics.record([call])
    labels = {
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "openai",
        "gen_ai_request_model": "gpt-4o",
        "gen_ai_response_model": "gpt-4o-2024-08-06",
        "service_name": "svc",
    }
    get = registry.get_sample_value
    assert get("gen_ai_client_operation_duration_seconds_count", labels) == 1
    assert get("gen_ai_client_operation_duration_seconds_bucket", {**labels, "le": "0.32"}) == 0
    assert get("gen_ai_client_operation_duration_seconds_bucket", {**labels, "le": "0.64"}) == 1
    assert get("gen_ai_client_tokens_total", {**labels, "gen_ai_token_type": "input"}) == 2085
    assert get("gen_ai_client_tokens_total", {**labels, "gen_ai_token_type": "cache_read"}) == 1920
    assert get("gen_ai_client_tokens_total", {**labels, "gen_ai_token_type": "reasoning"}) == 0
    assert get("gen_ai_client_tokens_total", {**labels, "gen_ai_token_type": "cache_write"}) is None
    assert (
        get("gen_ai_client_token_usage_bucket", {**labels, "gen_ai_token_type": "input", "le": "4096.0"}) == 1
    )
    assert (
        get("gen_ai_client_token_usage_bucket", {**labels, "gen_ai_token_type": "input", "le": "1024.0"}) == 0
    )
    assert get("gen_ai_client_operation_time_to_first_chunk_seconds_sum", labels) == 0.125
    assert get("gen_ai_client_operation_time_per_output_chunk_seconds_sum", labels) == (0.345 - 0.125) / 11
    assert get("gen_ai_client_cost_usd_total", labels) == 0.0029325
    assert get("gen_ai_client_unpriced_operations_total", labels) is None


def test_failed_call_has_error_type_and_unknowns_are_omitted() -> None:
    metrics, registry, _ = _setup()
    metrics.record([_call(error_class="rate_limit", service_name=None)])
    samples = [
        s
        for f in registry.collect()
        for s in f.samples
        if s.name == "gen_ai_client_operation_duration_seconds_count"
    ]
    assert [dict(s.labels) for s in samples] == [
        {
            "gen_ai_operation_name": "chat",
            "gen_ai_provider_name": "openai",
            "gen_ai_request_model": "gpt-4o",
            "error_type": "rate_limit",
        }
    ]
    assert not [s for f in registry.collect() for s in f.samples if s.name.startswith("gen_ai_client_tokens")]


def test_unpriced_calls_are_counted_not_priced_at_zero() -> None:
    metrics, registry, _ = _setup()
    metrics.record([_call(model="my-finetune", input_tokens=10, output_tokens=5)])
    labels = {
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "openai",
        "gen_ai_request_model": "my-finetune",
        "service_name": "svc",
    }
    assert registry.get_sample_value("gen_ai_client_unpriced_operations_total", labels) == 1
    assert registry.get_sample_value("gen_ai_client_cost_usd_total", labels) is None


def test_cardinality_budget_folds_into_one_overflow_series() -> None:
    metrics, registry, _ = _setup(cardinality_limit=10)
    metrics.record([_call(model=f"model-{i}", input_tokens=1) for i in range(25)])
    durations = [
        s
        for f in registry.collect()
        for s in f.samples
        if s.name == "gen_ai_client_operation_duration_seconds_count"
    ]
    assert len(durations) == 11
    (overflow,) = [s for s in durations if s.labels.get("otel_metric_overflow") == "true"]
    assert overflow.value == 15
    assert dict(overflow.labels) == {"otel_metric_overflow": "true"}
    assert (
        registry.get_sample_value(
            "llmpulse_cardinality_overflow_total", {"metric": "gen_ai_client_operation_duration_seconds"}
        )
        == 15
    )


def test_idle_series_expire_and_are_returned_for_stale_markers() -> None:
    metrics, registry, clock = _setup(idle_timeout_s=60)
    metrics.record([_call(model="old", input_tokens=1)])
    clock.now += 45
    metrics.record([_call(model="fresh", input_tokens=1)])
    clock.now += 30
    gone = metrics.expire()
    assert {dict(s.labels)["gen_ai_request_model"] for s in gone} == {"old"}
    assert {s.metric.name for s in gone} == {
        "gen_ai_client_operation_duration",
        "gen_ai_client_token_usage",
        "gen_ai_client_tokens",
        "gen_ai_client_unpriced_operations",
    }
    models = {
        s.labels.get("gen_ai_request_model")
        for f in registry.collect()
        for s in f.samples
        if s.name.startswith("gen_ai_client")
    }
    assert models == {"fresh"}


def test_restore_continues_counters() -> None:
    metrics, _, _ = _setup()
    metrics.record([_call(input_tokens=7, output_tokens=3, cost_usd=0.5)])
    snapshot = metrics.snapshot()
    again, registry, _ = _setup()
    again.restore(snapshot)
    again.record([_call(input_tokens=7, output_tokens=3, cost_usd=0.5)])
    labels = {
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "openai",
        "gen_ai_request_model": "gpt-4o",
        "service_name": "svc",
    }
    assert (
        registry.get_sample_value("gen_ai_client_tokens_total", {**labels, "gen_ai_token_type": "input"})
        == 14
    )
    assert registry.get_sample_value("gen_ai_client_cost_usd_total", labels) == 1.0
    assert registry.get_sample_value("gen_ai_client_operation_duration_seconds_count", labels) == 2


def test_a_label_set_seen_before_expiry_or_restore_feeds_the_live_series() -> None:
    """Each label set's series are remembered between calls: expiry and restore must not leave a
    call updating a series that is no longer in the aggregate."""
    metrics, registry, clock = _setup(idle_timeout_s=60, cardinality_limit=10)
    labels = {
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "openai",
        "gen_ai_request_model": "gpt-4o",
        "service_name": "svc",
    }
    metrics.record([_call(input_tokens=5)])
    clock.now += 61
    assert len(metrics.expire()) == 4
    metrics.record([_call(input_tokens=7)])  # after expiry: a new series from zero
    tokens = {**labels, "gen_ai_token_type": "input"}
    assert registry.get_sample_value("gen_ai_client_tokens_total", tokens) == 7
    assert registry.get_sample_value("gen_ai_client_operation_duration_seconds_count", labels) == 1

    snapshot = metrics.snapshot()
    metrics.record([_call(input_tokens=1)])
    metrics.restore(snapshot)  # back to the snapshot, then counted on top of it
    metrics.record([_call(input_tokens=2)])
    assert registry.get_sample_value("gen_ai_client_tokens_total", tokens) == 9
    assert registry.get_sample_value("gen_ai_client_operation_duration_seconds_count", labels) == 2

    # over budget a label set folds into the overflow series each time, until expiry frees room
    metrics.record([_call(model=f"model-{i}") for i in range(9)])
    metrics.record([_call(model="late"), _call(model="late")])
    overflow_count = {"otel_metric_overflow": "true"}
    assert registry.get_sample_value("gen_ai_client_operation_duration_seconds_count", overflow_count) == 2
    clock.now += 61
    metrics.expire()
    metrics.record([_call(model="late")])
    late = {**labels, "gen_ai_request_model": "late"}
    assert registry.get_sample_value("gen_ai_client_operation_duration_seconds_count", late) == 1
    assert (
        registry.get_sample_value(
            "llmpulse_cardinality_overflow_total", {"metric": "gen_ai_client_operation_duration_seconds"}
        )
        == 2
    )
