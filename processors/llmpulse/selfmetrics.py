"""The pipeline's own metrics, declared once.

Every ``llmpulse_*`` series lives here so that alerts, dashboards and docs have one source. The
registry is injected (never the global one) so that each test and each worker gets its own.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

SIGNALS = ("traces", "logs", "metrics")


class SelfMetrics:
    """Counters and gauges describing what the pipeline received, refused, recognised and exported.

    >>> sm = SelfMetrics(CollectorRegistry())
    >>> sm.refused.labels(signal="traces", reason="malformed").inc()
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.received = Counter(
            "llmpulse_received_items",
            "Spans, log records or metric data points accepted by the receivers.",
            ["signal", "protocol"],
            registry=registry,
        )
        self.refused = Counter(
            "llmpulse_refused_items",
            "Items refused by the receivers, by reason (malformed, unauthenticated, too_large, "
            "unsupported_media_type, queue_full, memory_limit, invalid_record).",
            ["signal", "reason"],
            registry=registry,
        )
        self.refused_requests = Counter(
            "llmpulse_refused_requests",
            "Export requests refused as a whole, by reason.",
            ["signal", "protocol", "reason"],
            registry=registry,
        )
        self.calls_recognised = Counter(
            "llmpulse_calls_recognised",
            "LLM calls recognised in spans or log records, by the dialect they were written in.",
            ["dialect"],
            registry=registry,
        )
        self.calls_deduplicated = Counter(
            "llmpulse_calls_deduplicated",
            "LLM spans not counted because another span already describes the same call.",
            ["reason"],
            registry=registry,
        )
        self.cardinality_overflow = Counter(
            "llmpulse_cardinality_overflow",
            "Observations folded into the otel_metric_overflow series because a metric hit its "
            "cardinality budget.",
            ["metric"],
            registry=registry,
        )
        self.active_series = Gauge(
            "llmpulse_active_series",
            "Series currently held by the span-metrics aggregate.",
            ["metric"],
            registry=registry,
        )
        self.expired_series = Counter(
            "llmpulse_expired_series",
            "Series removed from the aggregate after being idle longer than series_idle_timeout.",
            ["metric"],
            registry=registry,
        )
        self.state_wal_bytes = Gauge(
            "llmpulse_state_wal_bytes",
            "Bytes in the span-metrics state write-ahead log under --data-dir.",
            registry=registry,
        )
