"""The metric contract of DESIGN.md: names, label names and buckets, declared once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: GenAI semconv v1.41 bucket boundaries.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
#: Duration buckets up to 10.24 s, extended to 60 s: a slow first token is what TTFT alerts watch.
TTFT_BUCKETS = (*DURATION_BUCKETS[:-3], 15.0, 20.0, 30.0, 45.0, 60.0)
TOKEN_BUCKETS = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)
TIME_PER_CHUNK_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
)

BASE_LABELS = (
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "gen_ai_response_model",
    "service_name",
)

Kind = Literal["histogram", "counter"]


@dataclass(frozen=True, slots=True)
class MetricDef:
    name: str
    kind: Kind
    help: str
    buckets: tuple[float, ...] = ()
    unit: str = ""


DURATION = MetricDef(
    "gen_ai_client_operation_duration",
    "histogram",
    "Duration of LLM calls; error_type is set on failures (canonical class).",
    DURATION_BUCKETS,
    "seconds",
)
TOKEN_USAGE = MetricDef(
    "gen_ai_client_token_usage",
    "histogram",
    "Tokens per LLM call by gen_ai_token_type (input includes cache), when usage is known.",
    tuple(float(b) for b in TOKEN_BUCKETS),
)
TTFT = MetricDef(
    "gen_ai_client_operation_time_to_first_chunk",
    "histogram",
    "Time to the first chunk of streamed LLM calls.",
    TTFT_BUCKETS,
    "seconds",
)
TIME_PER_CHUNK = MetricDef(
    "gen_ai_client_operation_time_per_output_chunk",
    "histogram",
    "Per streamed call: (duration - time to first chunk) / (output tokens - 1).",
    TIME_PER_CHUNK_BUCKETS,
    "seconds",
)
TOKENS = MetricDef(
    "gen_ai_client_tokens",
    "counter",
    "Exact token totals by gen_ai_token_type; cache_read/cache_write are part of input, reasoning of output.",
)
COST = MetricDef("gen_ai_client_cost_usd", "counter", "Cost of LLM calls in USD from the price table.")
UNPRICED = MetricDef(
    "gen_ai_client_unpriced_operations",
    "counter",
    "LLM calls with known usage whose model has no price (never counted as a silent 0).",
)

ALL = (DURATION, TOKEN_USAGE, TTFT, TIME_PER_CHUNK, TOKENS, COST, UNPRICED)


def exposed_name(metric: MetricDef) -> str:
    """The name Prometheus stores (``_seconds`` unit suffix, ``_total`` for counters)."""
    name = metric.name + (f"_{metric.unit}" if metric.unit else "")
    return name + "_total" if metric.kind == "counter" else name
