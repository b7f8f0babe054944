"""llmpulse pipeline health: is telemetry arriving, being refused, recognised, exported, dropped?"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from .. import panels as p
from .. import queries as q
from ..config import CONFIG, Steps
from ..variables import datasource_variable
from ._base import dashboard, section

FILE = "llmpulse-pipeline.json"
T = CONFIG.thresholds


def build() -> Dashboard:
    d = dashboard(
        FILE,
        "llmpulse pipeline health",
        "llmpulse's own metrics: what the receivers accepted and refused, which LLM calls were "
        "recognised, what the exporters sent or dropped, queues, WAL and cardinality budget.",
        [datasource_variable()],
    )
    d = section(
        d,
        "Over the selected time range",
        [
            p.stat(
                "Items received",
                "Spans, log records and metric points accepted by the OTLP receivers.",
                q.pipeline_increase(q.RECEIVED),
                p.COUNT,
                decimals=0,
            ),
            p.stat(
                "Items refused",
                "Items the receivers refused (malformed, too large, queue full, …). Senders usually "
                "retry refused data; a steady count means data is being lost.",
                q.pipeline_increase(q.REFUSED),
                p.COUNT,
                steps=Steps(T.any_count),
                decimals=0,
            ),
            p.stat(
                "LLM calls recognised",
                "LLM calls found in spans and log records, all dialects.",
                q.pipeline_increase(q.RECOGNISED),
                p.COUNT,
                decimals=0,
            ),
            p.stat(
                "Duplicate spans skipped",
                "LLM spans not counted because another span already describes the same call "
                "(framework span + SDK span).",
                q.pipeline_increase(q.DEDUPLICATED),
                p.COUNT,
                decimals=0,
            ),
            p.stat(
                "Cardinality overflow",
                "Observations folded into the otel_metric_overflow series because a metric hit its "
                "series budget: per-model numbers are incomplete while this grows.",
                q.pipeline_increase(q.OVERFLOW),
                p.COUNT,
                steps=Steps(T.any_count),
                decimals=0,
            ),
            p.stat(
                "Active series",
                "Series held by the span-metrics aggregate now (all metrics, all replicas).",
                q.pipeline_gauge(q.ACTIVE_SERIES),
                p.COUNT,
                decimals=0,
            ),
        ],
    )

    d = section(
        d,
        "Receive and recognise",
        [
            p.timeseries(
                "Items received per second",
                "Accepted items per second by signal and protocol (grpc, http).",
                [p.Target(q.pipeline_rate(q.RECEIVED, ["signal", "protocol"]), "{{signal}} {{protocol}}")],
                p.PER_SECOND,
                stacked=True,
                width=8,
            ),
            p.timeseries(
                "Items refused per second",
                "Refused items per second by signal and reason.",
                [p.Target(q.pipeline_rate(q.REFUSED, ["signal", "reason"]), "{{signal}} {{reason}}")],
                p.PER_SECOND,
                stacked=True,
                width=8,
            ),
            p.timeseries(
                "Requests refused per second",
                "Whole export requests refused per second by reason (authentication, size, media type, …).",
                [
                    p.Target(
                        q.pipeline_rate(q.REFUSED_REQUESTS, ["protocol", "reason"]), "{{protocol}} {{reason}}"
                    )
                ],
                p.PER_SECOND,
                stacked=True,
                width=8,
            ),
            p.timeseries(
                "LLM calls recognised per second by dialect",
                "Which instrumentation dialects the calls arrive in (semconv, OpenLLMetry, OpenInference, "
                "access logs, …).",
                [p.Target(q.pipeline_rate(q.RECOGNISED, ["dialect"]), "{{dialect}}")],
                p.PER_SECOND,
                stacked=True,
            ),
            p.timeseries(
                "Duplicate spans skipped per second",
                "LLM spans skipped as duplicates of a call already counted, by reason.",
                [p.Target(q.pipeline_rate(q.DEDUPLICATED, ["reason"]), "{{reason}}")],
                p.PER_SECOND,
            ),
        ],
    )

    d = section(
        d,
        "Export: remote write and OTLP forwarding",
        [
            p.stat(
                "Remote-write samples sent",
                "Samples the remote-write targets accepted over the time range.",
                q.pipeline_increase(q.RW_SENT),
                p.COUNT,
                decimals=0,
            ),
            p.stat(
                "Remote-write samples dropped",
                "Samples removed from a remote-write queue unsent (refused, thinned, too old, queue "
                "full): metrics that will never reach Prometheus.",
                q.pipeline_increase(q.RW_DROPPED),
                p.COUNT,
                steps=Steps(T.any_count),
                decimals=0,
            ),
            p.stat(
                "Remote-write delay",
                "Now minus the newest sample a target accepted, worst target: how stale Prometheus is.",
                f"max({q.remote_write_delay()})",
                p.SECONDS,
                steps=T.remote_write_delay_s,
                decimals=0,
            ),
            p.stat(
                "OTLP items forwarded",
                "Enriched spans and log records the OTLP forwarding targets accepted over the time range.",
                q.pipeline_increase(q.FWD_SENT),
                p.COUNT,
                decimals=0,
            ),
            p.stat(
                "OTLP items dropped",
                "Spans and log records removed from a forwarding queue unsent: lost for the log stores.",
                q.pipeline_increase(q.FWD_DROPPED),
                p.COUNT,
                steps=Steps(T.any_count),
                decimals=0,
            ),
            p.stat(
                "Fullest exporter queue",
                "Largest share of a disk queue's budget in use, remote write or forwarding; when full, "
                "new data is dropped.",
                f"max({q.queue_fill()})",
                p.PERCENT,
                steps=T.queue_fill,
                decimals=1,
            ),
            p.timeseries(
                "Remote-write samples per second",
                "Samples accepted, retried (5xx, 429, network) and refused for good (4xx), per target.",
                [
                    p.Target(q.pipeline_rate(q.RW_SENT, ["target"]), "{{target}} sent"),
                    p.Target(q.pipeline_rate(q.RW_RETRIED, ["target"]), "{{target}} retried"),
                    p.Target(q.pipeline_rate(q.RW_FAILED, ["target"]), "{{target}} failed"),
                ],
                p.PER_SECOND,
                width=8,
            ),
            p.timeseries(
                "Remote-write samples dropped per second",
                "Samples dropped unsent per target and reason (rejected, thinned, too_old, queue_full).",
                [p.Target(q.pipeline_rate(q.RW_DROPPED, ["target", "reason"]), "{{target}} {{reason}}")],
                p.PER_SECOND,
                width=8,
            ),
            p.timeseries(
                "Remote-write queue and delay",
                "Samples waiting on disk per target (left axis) and how far behind the newest accepted "
                "sample is (seconds, in the legend).",
                [
                    p.Target(q.pipeline_gauge(q.RW_QUEUE_SAMPLES, ["target"]), "{{target}} queued samples"),
                    p.Target(q.remote_write_delay(), "{{target}} delay (s)"),
                ],
                p.COUNT,
                width=8,
            ),
            p.timeseries(
                "OTLP items forwarded per second",
                "Spans and log records accepted and refused for good per forwarding target and signal.",
                [
                    p.Target(q.pipeline_rate(q.FWD_SENT, ["target", "signal"]), "{{target}} {{signal}} sent"),
                    p.Target(
                        q.pipeline_rate(q.FWD_FAILED, ["target", "signal"]), "{{target}} {{signal}} failed"
                    ),
                ],
                p.PER_SECOND,
                width=8,
            ),
            p.timeseries(
                "OTLP items dropped per second",
                "Items dropped unsent per forwarding target, signal and reason.",
                [
                    p.Target(
                        q.pipeline_rate(q.FWD_DROPPED, ["target", "signal", "reason"]),
                        "{{target}} {{signal}} {{reason}}",
                    )
                ],
                p.PER_SECOND,
                width=8,
            ),
            p.timeseries(
                "Exporter queue fill",
                "Share of each disk queue's budget in use; at 100 % new data is dropped.",
                [p.Target(q.queue_fill(), "{{exporter}} {{target}}")],
                p.PERCENT,
                steps=T.queue_fill,
                width=8,
            ),
        ],
    )
    d = section(
        d,
        "Series, cardinality and state",
        [
            p.timeseries(
                "Active series by metric",
                "Series held by the span-metrics aggregate, per metric.",
                [p.Target(q.pipeline_gauge(q.ACTIVE_SERIES, ["metric"]), "{{metric}}")],
                p.COUNT,
                width=8,
            ),
            p.timeseries(
                "Cardinality overflow per second by metric",
                "Observations per second folded into the overflow series because the metric is over "
                "its series budget; raise the budget or drop a dimension.",
                [
                    p.Target(q.pipeline_rate(q.OVERFLOW, ["metric"]), "{{metric}}"),
                ],
                p.PER_SECOND,
                width=8,
            ),
            p.timeseries(
                "Overflow series in Prometheus",
                'Series labelled otel_metric_overflow="true" per metric name: data that lost its labels.',
                [p.Target(q.overflow_series(), "{{__name__}}")],
                p.COUNT,
                width=8,
            ),
            p.timeseries(
                "Expired series per second by metric",
                "Series dropped from the aggregate after being idle past series_idle_timeout.",
                [p.Target(q.pipeline_rate(q.EXPIRED_SERIES, ["metric"]), "{{metric}}")],
                p.PER_SECOND,
            ),
            p.timeseries(
                "Span-metrics state WAL",
                "Bytes in the span-metrics state write-ahead log under --data-dir.",
                [p.Target(q.pipeline_gauge(q.STATE_WAL_BYTES), "WAL bytes")],
                p.BYTES,
            ),
        ],
    )
    return d
