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
        # -- remote write, per target (processors/llmpulse/remotewrite/README.md) --
        self.rw_samples_sent = Counter(
            "llmpulse_remote_write_samples_sent",
            "Samples a remote-write target accepted (2xx).",
            ["target"],
            registry=registry,
        )
        self.rw_samples_retried = Counter(
            "llmpulse_remote_write_samples_retried",
            "Samples sent again after a 5xx, 429 or network error, or re-stamped after a too-old 400.",
            ["target"],
            registry=registry,
        )
        self.rw_samples_failed = Counter(
            "llmpulse_remote_write_samples_failed",
            "Samples in requests a target refused for good (4xx other than 429); never retried.",
            ["target"],
            registry=registry,
        )
        self.rw_samples_dropped = Counter(
            "llmpulse_remote_write_samples_dropped",
            "Samples removed from a queue unsent, by reason: rejected (4xx), thinned (queue over "
            "capacity), too_old (older than max_sample_age_s), queue_full (final values dropped).",
            ["target", "reason"],
            registry=registry,
        )
        self.rw_queue_samples = Gauge(
            "llmpulse_remote_write_queue_samples",
            "Samples queued on disk for a target.",
            ["target"],
            registry=registry,
        )
        self.rw_queue_bytes = Gauge(
            "llmpulse_remote_write_queue_bytes",
            "Bytes queued on disk for a target.",
            ["target"],
            registry=registry,
        )
        self.rw_queue_capacity_bytes = Gauge(
            "llmpulse_remote_write_queue_capacity_bytes",
            "Disk budget of a target's queue; over it, older snapshots are thinned.",
            ["target"],
            registry=registry,
        )
        self.rw_highest_sent_timestamp = Gauge(
            "llmpulse_remote_write_highest_sent_timestamp_seconds",
            "Newest sample timestamp a target accepted (Unix seconds).",
            ["target"],
            registry=registry,
        )
        self.rw_last_success = Gauge(
            "llmpulse_remote_write_last_success_timestamp_seconds",
            "When a target last accepted a request (Unix seconds).",
            ["target"],
            registry=registry,
        )
