"""llmpulse pipeline health: is telemetry arriving, being refused, recognised, exported, dropped?"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from .. import panels as p
from .. import queries as q
from ..variables import datasource_variable
from ._base import dashboard, section

FILE = "llmpulse-pipeline.json"


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
                warning=1,
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
                warning=1,
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
