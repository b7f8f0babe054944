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
        # -- OTLP forwarding (llmpulse.forward): one queue per target ---------------------------
        self.forward_sent = Counter(
            "llmpulse_forward_items_sent",
            "Spans, log records or metric data points a forward target accepted.",
            ["target", "signal"],
            registry=registry,
        )
        self.forward_failed = Counter(
            "llmpulse_forward_items_failed",
            "Items in export attempts that failed with a retryable error (they stay queued and are "
            "retried; one item may count once per failed attempt).",
            ["target", "signal"],
            registry=registry,
        )
        self.forward_dropped = Counter(
            "llmpulse_forward_items_dropped",
            "Items given up, by reason: permanent_error (the target refused them as invalid), "
            "rejected_by_target (partial success), retry_exhausted (forward.retry.max_elapsed_s), "
            "corrupt (unreadable queue record), disk_error (the queue could not be written).",
            ["target", "signal", "reason"],
            registry=registry,
        )
        self.forward_queue_bytes = Gauge(
            "llmpulse_forward_queue_bytes",
            "Bytes of unsent requests in a target's persistent queue.",
            ["target"],
            registry=registry,
        )
        self.forward_queue_capacity_bytes = Gauge(
            "llmpulse_forward_queue_capacity_bytes",
            "Capacity of a target's queue; when full, receivers ask clients to retry later.",
            ["target"],
            registry=registry,
        )
        self.forward_queue_requests = Gauge(
            "llmpulse_forward_queue_requests",
            "Export requests waiting in a target's persistent queue.",
            ["target"],
            registry=registry,
        )
