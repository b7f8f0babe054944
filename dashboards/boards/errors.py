"""Errors and safety: which calls fail, why (canonical error class), and where providers push back."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from .. import panels as p
from .. import queries as q
from ..config import CONFIG
from ..variables import genai_variables
from ._base import dashboard, section

FILE = "llmpulse-errors-safety.json"
T = CONFIG.thresholds
MODEL = [q.MODEL]
PROVIDER = [q.PROVIDER]
KEY = [q.PROVIDER, q.MODEL, q.ERROR]


def build() -> Dashboard:
    d = dashboard(
        FILE,
        "LLM errors and safety",
        "Failed LLM calls by canonical error class: rate limits, quota, content moderation, context "
        "length, auth, timeouts, provider errors; by model and provider.",
        genai_variables(),
    )
    d = section(
        d,
        "Over the selected time range",
        [
            p.stat(
                "Failure rate",
                "Share of calls that ended with any error class.",
                q.failure_ratio(window=q.RANGE),
                p.PERCENT,
                steps=T.failure_ratio,
                decimals=2,
            ),
            p.stat(
                "Failed calls",
                "Calls that ended with any error class.",
                q.failed_calls(),
                p.COUNT,
                decimals=0,
            ),
            p.stat(
                "Rate limited",
                "Calls refused by the provider for rate limits (HTTP 429 rate_limit_exceeded and the "
                "like); retries may still have succeeded.",
                q.failed_calls(error_regex="rate_limit"),
                p.COUNT,
                decimals=0,
            ),
            p.stat(
                "Quota exceeded",
                "Calls refused because a quota, credit balance or spend limit ran out: not retryable.",
                q.failed_calls(error_regex="quota_exceeded"),
                p.COUNT,
                decimals=0,
            ),
            p.stat(
                "Content filtered",
                "Calls blocked or cut by content moderation, including HTTP 200 with finish reason "
                "content_filter, Anthropic refusal and Gemini SAFETY.",
                q.failed_calls(error_regex="content_filter"),
                p.COUNT,
                decimals=0,
            ),
            p.stat(
                "Rate-limited share",
                "Share of calls refused for rate limits; orange and red where LLMRateLimitStorm fires.",
                q.failure_ratio(window=q.RANGE, error_regex="rate_limit"),
                p.PERCENT,
                steps=T.rate_limited_ratio,
                decimals=2,
            ),
        ],
    )

    d = section(
        d,
        "Error classes",
        [
            p.timeseries(
                "Failed calls per minute by error class",
                "Failed calls per minute, stacked by canonical error class.",
                [p.Target(q.failed_calls_per_minute(), "{{error_type}}")],
                p.CALLS_PER_MINUTE,
                stacked=True,
            ),
            p.timeseries(
                "Failure rate by model",
                "Share of calls per model that ended with an error class.",
                [p.Target(q.failure_ratio(MODEL), "{{gen_ai_request_model}}")],
                p.PERCENT,
                steps=T.failure_ratio,
            ),
            p.timeseries(
                "Failure rate by provider",
                "Share of calls per provider that ended with an error class.",
                [p.Target(q.failure_ratio(PROVIDER), "{{gen_ai_provider_name}}")],
                p.PERCENT,
                steps=T.failure_ratio,
                width=8,
            ),
            p.timeseries(
                "Failed calls per minute by model and class",
                "Failed calls per minute per requested model and error class.",
                [
                    p.Target(
                        q.failed_calls_per_minute([q.MODEL, q.ERROR]),
                        "{{gen_ai_request_model}} {{error_type}}",
                    )
                ],
                p.CALLS_PER_MINUTE,
                width=16,
            ),
        ],
    )

    d = section(
        d,
        "Provider push-back and safety",
        [
            p.timeseries(
                "Rate limits per minute by model",
                "Calls refused for rate limits per minute, per model.",
                [p.Target(q.failed_calls_per_minute(MODEL, "rate_limit"), "{{gen_ai_request_model}}")],
                p.CALLS_PER_MINUTE,
                width=8,
            ),
            p.timeseries(
                "Quota exceeded per minute by model",
                "Calls refused because a quota or spend limit ran out, per minute and model.",
                [p.Target(q.failed_calls_per_minute(MODEL, "quota_exceeded"), "{{gen_ai_request_model}}")],
                p.CALLS_PER_MINUTE,
                width=8,
            ),
            p.timeseries(
                "Content moderation per minute by model",
                "Calls blocked or cut by content filters per minute, per model.",
                [p.Target(q.failed_calls_per_minute(MODEL, "content_filter"), "{{gen_ai_request_model}}")],
                p.CALLS_PER_MINUTE,
                width=8,
            ),
        ],
    )

    d = d.with_row(Row("By model over the selected time range"))
    d = d.with_panel(
        p.table(
            "Errors by model and class",
            "Failed calls per provider, requested model and error class over the time range.",
            KEY,
            [p.Column("Failed calls", q.failed_calls(KEY), p.COUNT, 0)],
            sort_by="Failed calls",
        )
    )
    return d
