"""LLM overview: the numbers a team checks first (traffic, tokens, failures, latency, spend)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from .. import panels as p
from .. import queries as q
from ..config import CONFIG
from ..variables import genai_variables
from ._base import dashboard, p95_ttft_stat, section

FILE = "llmpulse-overview.json"
T = CONFIG.thresholds
BY_MODEL = [q.MODEL]
TOP = [q.PROVIDER, q.MODEL]


def build() -> Dashboard:
    d = dashboard(
        FILE,
        "LLM overview",
        "Every LLM call llmpulse recognised: requests, tokens, failures, latency and spend.",
        genai_variables(),
    )
    d = section(
        d,
        "Over the selected time range",
        [
            p.stat(
                "Requests per minute",
                "Average LLM calls per minute over the time range (successful and failed).",
                q.calls_per_minute(window=q.RANGE),
                p.CALLS_PER_MINUTE,
                decimals=1,
            ),
            p.stat(
                "Tokens per minute",
                "Average input + output tokens per minute over the time range. Cached and reasoning "
                "tokens are already inside input and output.",
                q.tokens_per_minute(window=q.RANGE),
                p.TOKENS_PER_MINUTE,
                decimals=0,
            ),
            p.stat(
                "Failure rate",
                "Share of calls that ended with an error class (rate limit, quota, content filter, "
                "timeout, …). Content filtered with HTTP 200 counts as a failure.",
                q.failure_ratio(window=q.RANGE),
                p.PERCENT,
                steps=T.failure_ratio,
                decimals=2,
            ),
            p.stat(
                "p95 duration",
                "95th percentile of whole-call duration, interpolated within histogram buckets.",
                q.quantile(0.95, q.DURATION, window=q.RANGE),
                p.SECONDS,
                steps=T.duration_p95_s,
                decimals=2,
            ),
            p95_ttft_stat(),
            p.stat(
                "Spend",
                "USD spent over the time range, priced from llmpulse's price table. Calls with no "
                "price are not in it: see 'Unpriced calls' on the tokens and cost dashboard.",
                q.spend(),
                p.USD,
                decimals=2,
            ),
        ],
    )

    d = section(
        d,
        "Trends by model",
        [
            p.timeseries(
                "Requests per minute by model",
                "LLM calls per minute, per requested model.",
                [p.Target(q.calls_per_minute(BY_MODEL), "{{gen_ai_request_model}}")],
                p.CALLS_PER_MINUTE,
            ),
            p.timeseries(
                "Tokens per minute by model",
                "Input + output tokens per minute, per requested model.",
                [p.Target(q.tokens_per_minute(BY_MODEL), "{{gen_ai_request_model}}")],
                p.TOKENS_PER_MINUTE,
            ),
            p.timeseries(
                "Failure rate by model",
                "Share of calls per model that ended with an error class; dashed lines mark the "
                "warning and critical thresholds.",
                [p.Target(q.failure_ratio(BY_MODEL), "{{gen_ai_request_model}}")],
                p.PERCENT,
                steps=T.failure_ratio,
            ),
            p.timeseries(
                "p95 duration by model",
                "95th percentile of call duration per model.",
                [p.Target(q.quantile(0.95, q.DURATION, BY_MODEL), "{{gen_ai_request_model}}")],
                p.SECONDS,
                steps=T.duration_p95_s,
            ),
            p.timeseries(
                "p95 time to first token by model",
                "95th percentile of time to the first streamed chunk per model.",
                [p.Target(q.quantile(0.95, q.TTFT, BY_MODEL), "{{gen_ai_request_model}}")],
                p.SECONDS,
                steps=T.ttft_p95_s,
            ),
            p.timeseries(
                "Spend per hour by model",
                "USD per hour at the current pace, per model.",
                [p.Target(q.spend_per_hour(BY_MODEL), "{{gen_ai_request_model}}")],
                p.USD_PER_HOUR,
                stacked=True,
            ),
        ],
    )

    d = d.with_row(Row("Top models over the selected time range"))
    d = d.with_panel(
        p.table(
            "Top models",
            "Per provider and requested model over the time range, most expensive first.",
            TOP,
            [
                p.Column("Requests", q.calls(TOP), p.COUNT, 0),
                p.Column("Requests/min", q.calls_per_minute(TOP, q.RANGE), p.CALLS_PER_MINUTE, 2),
                p.Column("Tokens", q.tokens(TOP), p.TOKENS, 0),
                p.Column("Spend", q.spend(TOP), p.USD, 4),
                p.Column("Failure rate", q.failure_ratio(TOP, q.RANGE), p.PERCENT, 2),
                p.Column("p95 duration", q.quantile(0.95, q.DURATION, TOP, q.RANGE), p.SECONDS, 2),
                p.Column("p95 TTFT", q.quantile(0.95, q.TTFT, TOP, q.RANGE), p.SECONDS, 2),
            ],
            sort_by="Spend",
        )
    )
    return d
