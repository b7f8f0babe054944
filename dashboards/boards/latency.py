"""Latency and time to first token: percentiles, distributions, and per-token speed."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from .. import panels as p
from .. import queries as q
from ..config import CONFIG
from ..variables import genai_variables
from ._base import dashboard, p95_ttft_stat, section

FILE = "llmpulse-latency.json"
T = CONFIG.thresholds
MODEL = [q.MODEL]
PROVIDER = [q.PROVIDER]
KEY = [q.PROVIDER, q.MODEL]


def _percentiles(metric: str, by: list[str] | None = None) -> list[p.Target]:
    return [p.Target(q.quantile(x, metric, by or []), f"p{round(x * 100)}") for x in (0.5, 0.95, 0.99)]


def build() -> Dashboard:
    d = dashboard(
        FILE,
        "LLM latency and time to first token",
        "How long LLM calls take, how long streaming users wait for the first token, and how fast "
        "tokens arrive after it; by model and provider.",
        genai_variables(),
    )
    d = section(
        d,
        "Over the selected time range",
        [
            p.stat(
                "p50 duration",
                "Median call duration.",
                q.quantile(0.5, q.DURATION, window=q.RANGE),
                p.SECONDS,
                decimals=2,
            ),
            p.stat(
                "p95 duration",
                "95th percentile of call duration.",
                q.quantile(0.95, q.DURATION, window=q.RANGE),
                p.SECONDS,
                steps=T.duration_p95_s,
                decimals=2,
            ),
            p.stat(
                "p99 duration",
                "99th percentile of call duration.",
                q.quantile(0.99, q.DURATION, window=q.RANGE),
                p.SECONDS,
                decimals=2,
            ),
            p95_ttft_stat(),
            p.stat(
                "p95 time per output token",
                "95th percentile of (duration - TTFT) / (output tokens - 1) over streaming calls: "
                "how fast text arrives once it started.",
                q.quantile(0.95, q.TIME_PER_CHUNK, window=q.RANGE),
                p.SECONDS,
                decimals=3,
            ),
            p.stat(
                "Mean duration",
                "Average call duration.",
                q.mean(q.DURATION, window=q.RANGE),
                p.SECONDS,
                decimals=2,
            ),
        ],
    )

    d = section(
        d,
        "Call duration",
        [
            p.timeseries(
                "Duration percentiles",
                "p50, p95 and p99 of call duration, interpolated within the semconv duration buckets.",
                _percentiles(q.DURATION),
                p.SECONDS,
                steps=T.duration_p95_s,
                width=8,
            ),
            p.timeseries(
                "p95 duration by model",
                "95th percentile of call duration per requested model.",
                [p.Target(q.quantile(0.95, q.DURATION, MODEL), "{{gen_ai_request_model}}")],
                p.SECONDS,
                width=8,
            ),
            p.timeseries(
                "p95 duration by provider",
                "95th percentile of call duration per provider.",
                [p.Target(q.quantile(0.95, q.DURATION, PROVIDER), "{{gen_ai_provider_name}}")],
                p.SECONDS,
                width=8,
            ),
            p.heatmap(
                "Duration distribution",
                "Calls per second in each duration bucket; bands show where most calls land.",
                q.buckets(q.DURATION),
                p.SECONDS,
            ),
            p.timeseries(
                "Mean duration by model",
                "Average call duration per model; far above p50 means a long tail.",
                [p.Target(q.mean(q.DURATION, MODEL), "{{gen_ai_request_model}}")],
                p.SECONDS,
            ),
        ],
    )

    d = section(
        d,
        "Time to first token (streaming)",
        [
            p.timeseries(
                "TTFT percentiles",
                "p50, p95 and p99 of time to the first streamed chunk.",
                _percentiles(q.TTFT),
                p.SECONDS,
                steps=T.ttft_p95_s,
                width=8,
            ),
            p.timeseries(
                "p95 TTFT by model",
                "95th percentile of time to first token per requested model.",
                [p.Target(q.quantile(0.95, q.TTFT, MODEL), "{{gen_ai_request_model}}")],
                p.SECONDS,
                width=8,
            ),
            p.timeseries(
                "p95 TTFT by provider",
                "95th percentile of time to first token per provider.",
                [p.Target(q.quantile(0.95, q.TTFT, PROVIDER), "{{gen_ai_provider_name}}")],
                p.SECONDS,
                width=8,
            ),
            p.heatmap(
                "TTFT distribution",
                "Streaming calls per second in each time-to-first-token bucket.",
                q.buckets(q.TTFT),
                p.SECONDS,
            ),
            p.timeseries(
                "Time per output token by model",
                "p50 and p95 of (duration - TTFT) / (output tokens - 1) per model, streaming calls.",
                [
                    p.Target(q.quantile(0.5, q.TIME_PER_CHUNK, MODEL), "{{gen_ai_request_model}} p50"),
                    p.Target(q.quantile(0.95, q.TIME_PER_CHUNK, MODEL), "{{gen_ai_request_model}} p95"),
                ],
                p.SECONDS,
            ),
        ],
    )

    d = d.with_row(Row("By model over the selected time range"))
    d = d.with_panel(
        p.table(
            "Latency by model",
            "Percentiles per provider and requested model over the time range, slowest p95 first.",
            KEY,
            [
                p.Column("Requests", q.calls(KEY), p.COUNT, 0),
                p.Column("p50 duration", q.quantile(0.5, q.DURATION, KEY, q.RANGE), p.SECONDS, 2),
                p.Column("p95 duration", q.quantile(0.95, q.DURATION, KEY, q.RANGE), p.SECONDS, 2),
                p.Column("p99 duration", q.quantile(0.99, q.DURATION, KEY, q.RANGE), p.SECONDS, 2),
                p.Column("p95 TTFT", q.quantile(0.95, q.TTFT, KEY, q.RANGE), p.SECONDS, 2),
                p.Column("p95 time/token", q.quantile(0.95, q.TIME_PER_CHUNK, KEY, q.RANGE), p.SECONDS, 3),
            ],
            sort_by="p95 duration",
        )
    )
    return d
