"""Tokens and cost: where the tokens and the money go, by model, service and tenant."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from .. import panels as p
from .. import queries as q
from ..config import CONFIG, Steps
from ..variables import genai_variables
from ._base import dashboard, section

FILE = "llmpulse-tokens-cost.json"
T = CONFIG.thresholds
MODEL = [q.MODEL]
SERVICE = [q.SERVICE]
TENANT = [CONFIG.tenant_label]
MODEL_TYPE = [q.MODEL, "gen_ai_token_type"]
BY_MODEL_KEY = [q.PROVIDER, q.MODEL]
SERVICE_TENANT = [q.SERVICE, CONFIG.tenant_label]


def build() -> Dashboard:
    d = dashboard(
        FILE,
        "LLM tokens and cost",
        "Token usage and spend by model, service and tenant; prompt-cache use; calls with no price.",
        genai_variables(),
    )
    d = section(
        d,
        "Over the selected time range",
        [
            p.stat(
                "Spend",
                "USD spent over the time range, from llmpulse's price table.",
                q.spend(),
                p.USD,
                decimals=2,
            ),
            p.stat(
                "Input tokens",
                "Input tokens over the time range, cached ones included (semconv: input is inclusive).",
                q.tokens(types="input"),
                p.TOKENS,
            ),
            p.stat(
                "Output tokens",
                "Output tokens over the time range, reasoning tokens included.",
                q.tokens(types="output"),
                p.TOKENS,
            ),
            p.stat(
                "Cached share of input",
                "Share of input tokens served from the provider's prompt cache (billed cheaper).",
                q.cached_share(window=q.RANGE),
                p.PERCENT,
                decimals=1,
            ),
            p.stat(
                "Tokens per request",
                "Mean input + output tokens per call whose usage was reported.",
                q.billed_tokens_per_call(window=q.RANGE),
                p.TOKENS,
                decimals=0,
            ),
            p.stat(
                "Unpriced calls",
                "Calls whose model has no price in the price table. Above 0, spend is a lower bound: "
                "add the model to the price table.",
                q.unpriced_calls(),
                p.COUNT,
                steps=Steps(T.any_count),
                decimals=0,
            ),
        ],
    )

    d = section(
        d,
        "Spend",
        [
            p.timeseries(
                "Spend per hour by model",
                "USD per hour at the current pace, per requested model.",
                [p.Target(q.spend_per_hour(MODEL), "{{gen_ai_request_model}}")],
                p.USD_PER_HOUR,
                stacked=True,
                width=8,
            ),
            p.timeseries(
                "Spend per hour by service",
                "USD per hour per calling service (OpenTelemetry service.name).",
                [p.Target(q.spend_per_hour(SERVICE), "{{service_name}}")],
                p.USD_PER_HOUR,
                stacked=True,
                width=8,
            ),
            p.timeseries(
                "Spend per hour by tenant",
                "USD per hour per tenant; empty unless a tenant dimension is configured in llmpulse.",
                [p.Target(q.spend_per_hour(TENANT), "{{" + CONFIG.tenant_label + "}}")],
                p.USD_PER_HOUR,
                stacked=True,
                width=8,
            ),
        ],
    )

    d = section(
        d,
        "Tokens",
        [
            p.timeseries(
                "Tokens per minute by model and type",
                "Input and output tokens per minute, per requested model.",
                [p.Target(q.tokens_per_minute(MODEL_TYPE), "{{gen_ai_request_model}} {{gen_ai_token_type}}")],
                p.TOKENS_PER_MINUTE,
                width=8,
            ),
            p.timeseries(
                "Tokens per minute by service",
                "Input + output tokens per minute per calling service.",
                [p.Target(q.tokens_per_minute(SERVICE), "{{service_name}}")],
                p.TOKENS_PER_MINUTE,
                width=8,
            ),
            p.timeseries(
                "Tokens per minute by tenant",
                "Input + output tokens per minute per tenant (if a tenant dimension is configured).",
                [p.Target(q.tokens_per_minute(TENANT), "{{" + CONFIG.tenant_label + "}}")],
                p.TOKENS_PER_MINUTE,
                width=8,
            ),
            p.timeseries(
                "Cached share of input by model",
                "Share of input tokens read from the prompt cache, per model. Low values on long, "
                "repeated prompts mean the cache is missed.",
                [p.Target(q.cached_share(MODEL), "{{gen_ai_request_model}}")],
                p.PERCENT,
                width=8,
            ),
            p.timeseries(
                "Tokens per request by model",
                "Mean input and output tokens per call, per model (calls with reported usage).",
                [
                    p.Target(q.tokens_per_call("input", MODEL), "{{gen_ai_request_model}} input"),
                    p.Target(q.tokens_per_call("output", MODEL), "{{gen_ai_request_model}} output"),
                ],
                p.TOKENS,
                width=8,
            ),
            p.timeseries(
                "p95 input tokens per request by model",
                "95th percentile of prompt size per model, from the semconv token-usage histogram.",
                [p.Target(q.tokens_per_call_quantile(0.95, "input", MODEL), "{{gen_ai_request_model}}")],
                p.TOKENS,
                width=8,
            ),
        ],
    )

    d = d.with_row(Row("Breakdown over the selected time range"))
    d = d.with_panel(
        p.timeseries(
            "Unpriced calls per minute by model",
            "Calls per minute whose model has no price; each line names a model to add to the price table.",
            [p.Target(q.unpriced_calls_per_minute(MODEL), "{{gen_ai_request_model}}")],
            p.CALLS_PER_MINUTE,
            width=24,
            height=6,
        )
    )
    d = d.with_panel(
        p.table(
            "Cost by model",
            "Per provider and requested model over the time range, most expensive first.",
            BY_MODEL_KEY,
            [
                p.Column("Spend", q.spend(BY_MODEL_KEY), p.USD, 4),
                p.Column("Requests", q.calls(BY_MODEL_KEY), p.COUNT, 0),
                p.Column("Input tokens", q.tokens(BY_MODEL_KEY, types="input"), p.TOKENS, 0),
                p.Column("Output tokens", q.tokens(BY_MODEL_KEY, types="output"), p.TOKENS, 0),
                p.Column("Cache-read tokens", q.tokens(BY_MODEL_KEY, types="cache_read"), p.TOKENS, 0),
                p.Column("Unpriced calls", q.unpriced_calls(BY_MODEL_KEY), p.COUNT, 0),
            ],
            sort_by="Spend",
            width=14,
        )
    )
    d = d.with_panel(
        p.table(
            "Cost by service and tenant",
            "Spend and tokens per calling service and tenant over the time range.",
            SERVICE_TENANT,
            [
                p.Column("Spend", q.spend(SERVICE_TENANT), p.USD, 4),
                p.Column("Tokens", q.tokens(SERVICE_TENANT), p.TOKENS, 0),
                p.Column("Requests", q.calls(SERVICE_TENANT), p.COUNT, 0),
            ],
            sort_by="Spend",
            width=10,
        )
    )
    return d
