"""Every PromQL expression the dashboards run, built on the DESIGN.md metric contract.

Kept apart from panels so one test can run each of them against a real Prometheus, and so a
metric rename is a one-line change here. Conventions:

* GenAI series are summed ``by`` the labels a panel shows, which also folds away the
  ``llmpulse_instance`` label each replica adds (DESIGN.md), so replicas add up.
* Trend panels (``RATE``) read the ``alerts/`` recording rules (``llm:<metric>:rate5m``, replicas
  already summed away) where one records that rate, so Grafana does not recompute it from raw
  buckets on every refresh; other trends use ``rate(...[$__rate_interval])``.
* ``RANGE`` windows make the stat panels and tables mean "over the dashboard's time range"
  (what was spent, how many calls failed), computed from the raw counters: no recording rule
  can hold an increase over an arbitrary range.
* Ratios keep a 0 instead of "No data" where nothing failed, so a healthy model still shows up.
"""

from __future__ import annotations

from collections.abc import Sequence

from .config import CONFIG, Config
from .variables import genai_selector

RATE = "$__rate_interval"
RANGE = "$__range"

DURATION = "gen_ai_client_operation_duration_seconds"
TTFT = "gen_ai_client_operation_time_to_first_chunk_seconds"
TIME_PER_CHUNK = "gen_ai_client_operation_time_per_output_chunk_seconds"
TOKEN_USAGE = "gen_ai_client_token_usage"
TOKENS = "gen_ai_client_tokens_total"
COST = "gen_ai_client_cost_usd_total"
UNPRICED = "gen_ai_client_unpriced_operations_total"
CALLS = DURATION + "_count"

#: Token types whose sum is "tokens used": cache_* are inside input, reasoning inside output.
BILLED_TOKEN_TYPES = "input|output"


def recorded_rates(config: Config = CONFIG) -> dict[str, str]:
    """Raw series -> the recording rule in alerts/ holding its per-second rate (``sum without``
    the replica label, every other label kept, so dashboard filters still apply)."""
    w = config.rules_window
    return {
        CALLS: f"llm:{CALLS}:rate{w}",
        TOKENS: f"llm:gen_ai_client_tokens:rate{w}",
        COST: f"llm:gen_ai_client_cost_usd:rate{w}",
        UNPRICED: f"llm:gen_ai_client_unpriced_operations:rate{w}",
        DURATION + "_bucket": f"llm:{DURATION}_bucket:rate{w}",
        TTFT + "_bucket": f"llm:{TTFT}_bucket:rate{w}",
    }


MODEL = "gen_ai_request_model"
PROVIDER = "gen_ai_provider_name"
SERVICE = "service_name"
ERROR = "error_type"


def sel(*matchers: str, config: Config = CONFIG) -> str:
    """``{...}`` with the dashboard filters plus ``matchers``."""
    return "{" + ", ".join([genai_selector(config), *matchers]) + "}"


def sum_by(by: Sequence[str], expr: str) -> str:
    """``sum by (...) (expr)``, or a plain ``sum`` when ``by`` is empty."""
    return f"sum by ({', '.join(by)}) ({expr})" if by else f"sum({expr})"


def _zero_if_absent(expr: str, like: str) -> str:
    """``expr``, or 0 for each group of ``like`` where ``expr`` has no series (no errors yet).

    Ungrouped sums have no labels, so ``or 0 * like`` works for them too.
    """
    return f"({expr} or 0 * {like})"


# --- calls -------------------------------------------------------------------------------------


def _agg(fn: str, metric: str, by: Sequence[str], window: str, *matchers: str, recorded: bool = True) -> str:
    """``sum by (by) (fn(metric{filters, matchers}[window]))``, or the recorded rate for trends.

    ``recorded=False`` keeps the raw series, for ratios whose other side has no recording rule
    (both sides must share one window).
    """
    rule = recorded_rates().get(metric) if recorded and fn == "rate" and window == RATE else None
    if rule is not None:
        return sum_by(by, f"{rule}{sel(*matchers)}")
    return sum_by(by, f"{fn}({metric}{sel(*matchers)}[{window}])")


def calls_per_minute(by: Sequence[str] = (), window: str = RATE, *matchers: str) -> str:
    """Average calls per minute over ``window`` (RPM)."""
    return f"{_agg('rate', CALLS, by, window, *matchers)} * 60"


def calls(by: Sequence[str] = (), window: str = RANGE, *matchers: str) -> str:
    """Number of calls in ``window``."""
    return _agg("increase", CALLS, by, window, *matchers)


def failed_calls(by: Sequence[str] = (), window: str = RANGE, error_regex: str = ".+") -> str:
    """Calls in ``window`` whose canonical ``error_type`` matches ``error_regex`` (success has none).

    Without ``by`` this is a stat: 0, not "No data", when nothing failed.
    """
    expr = calls(by, window, f'{ERROR}=~"{error_regex}"')
    return expr if by else f"{expr} or vector(0)"


def failed_calls_per_minute(by: Sequence[str] = (ERROR,), error_regex: str = ".+") -> str:
    return calls_per_minute(by, RATE, f'{ERROR}=~"{error_regex}"')


def failure_ratio(by: Sequence[str] = (), window: str = RATE, error_regex: str = ".+") -> str:
    """Share of calls (0..1) with an ``error_type`` matching ``error_regex``."""
    total = _agg("rate", CALLS, by, window)
    failed = _agg("rate", CALLS, by, window, f'{ERROR}=~"{error_regex}"')
    return f"{_zero_if_absent(failed, total)} / {total}"


# --- latency -----------------------------------------------------------------------------------


def quantile(q: float, metric: str, by: Sequence[str] = (), window: str = RATE, *matchers: str) -> str:
    """``histogram_quantile`` over the buckets of a histogram, per ``by`` group."""
    inner = _agg("rate", metric + "_bucket", ["le", *by], window, *matchers)
    return f"histogram_quantile({q:g}, {inner})"


def mean(metric: str, by: Sequence[str] = (), window: str = RATE, *matchers: str) -> str:
    """Mean observation of a histogram: rate of ``_sum`` over rate of ``_count``, one window."""
    s = _agg("rate", metric + "_sum", by, window, *matchers, recorded=False)
    c = _agg("rate", metric + "_count", by, window, *matchers, recorded=False)
    return f"{s} / {c}"


def buckets(metric: str) -> str:
    """Per-bucket observation rate, for heatmaps (Grafana turns cumulative ``le`` into cells)."""
    return _agg("rate", metric + "_bucket", ["le"], RATE)


# --- tokens and cost ---------------------------------------------------------------------------


def _token_type(types: str) -> str:
    return f'gen_ai_token_type=~"{types}"'


def tokens(by: Sequence[str] = (), window: str = RANGE, types: str = BILLED_TOKEN_TYPES) -> str:
    """Tokens in ``window`` from the exact token counter (not the per-call histogram)."""
    return _agg("increase", TOKENS, by, window, _token_type(types))


def tokens_per_minute(by: Sequence[str] = (), window: str = RATE, types: str = BILLED_TOKEN_TYPES) -> str:
    """Average tokens per minute over ``window`` (TPM)."""
    return f"{_agg('rate', TOKENS, by, window, _token_type(types))} * 60"


def cached_share(by: Sequence[str] = (), window: str = RATE) -> str:
    """Share of input tokens read from the provider's prompt cache (cache_read is inside input)."""
    cached = _agg("rate", TOKENS, by, window, _token_type("cache_read"))
    total = _agg("rate", TOKENS, by, window, _token_type("input"))
    return f"{_zero_if_absent(cached, total)} / {total}"


def tokens_per_call(token_type: str, by: Sequence[str] = (), window: str = RATE) -> str:
    """Mean tokens of one type per call, over the calls whose usage was reported."""
    return mean(TOKEN_USAGE, by, window, f'gen_ai_token_type="{token_type}"')


def billed_tokens_per_call(by: Sequence[str] = (), window: str = RATE) -> str:
    """Mean input + output tokens per call with reported usage (every such call has an input count)."""
    s = _agg("rate", TOKEN_USAGE + "_sum", by, window, _token_type(BILLED_TOKEN_TYPES))
    c = _agg("rate", TOKEN_USAGE + "_count", by, window, _token_type("input"))
    return f"{s} / {c}"


def tokens_per_call_quantile(q: float, token_type: str, by: Sequence[str] = ()) -> str:
    return quantile(q, TOKEN_USAGE, by, RATE, f'gen_ai_token_type="{token_type}"')


def spend(by: Sequence[str] = (), window: str = RANGE) -> str:
    """USD spent in ``window``, priced by llmpulse's shipped price table."""
    return _agg("increase", COST, by, window)


def spend_per_hour(by: Sequence[str] = (), window: str = RATE) -> str:
    return f"{_agg('rate', COST, by, window)} * 3600"


def unpriced_calls(by: Sequence[str] = (), window: str = RANGE) -> str:
    """Calls whose model had no price in ``window``: while above 0, spend is a lower bound."""
    expr = _agg("increase", UNPRICED, by, window)
    return expr if by else f"{expr} or vector(0)"


def unpriced_calls_per_minute(by: Sequence[str] = ()) -> str:
    return f"{_agg('rate', UNPRICED, by, RATE)} * 60"


# --- llmpulse pipeline (self-metrics, selfmetrics.py) ------------------------------------------

RECEIVED = "llmpulse_received_items_total"
REFUSED = "llmpulse_refused_items_total"
REFUSED_REQUESTS = "llmpulse_refused_requests_total"
RECOGNISED = "llmpulse_calls_recognised_total"
DEDUPLICATED = "llmpulse_calls_deduplicated_total"
OVERFLOW = "llmpulse_cardinality_overflow_total"
ACTIVE_SERIES = "llmpulse_active_series"
EXPIRED_SERIES = "llmpulse_expired_series_total"
STATE_WAL_BYTES = "llmpulse_state_wal_bytes"
# Exporters (names shared with the alerts/ pipeline-health rules).
RW_SENT = "llmpulse_remote_write_samples_sent_total"
RW_RETRIED = "llmpulse_remote_write_samples_retried_total"
RW_FAILED = "llmpulse_remote_write_samples_failed_total"
RW_DROPPED = "llmpulse_remote_write_samples_dropped_total"
RW_QUEUE_SAMPLES = "llmpulse_remote_write_queue_samples"
RW_QUEUE_BYTES = "llmpulse_remote_write_queue_bytes"
RW_QUEUE_CAPACITY = "llmpulse_remote_write_queue_capacity_bytes"
RW_HIGHEST_SENT = "llmpulse_remote_write_highest_sent_timestamp_seconds"
FWD_SENT = "llmpulse_forward_items_sent_total"
FWD_FAILED = "llmpulse_forward_items_failed_total"
FWD_DROPPED = "llmpulse_forward_items_dropped_total"
FWD_QUEUE_BYTES = "llmpulse_forward_queue_bytes"
FWD_QUEUE_CAPACITY = "llmpulse_forward_queue_capacity_bytes"


def psel(*matchers: str, config: Config = CONFIG) -> str:
    """``{...}`` for llmpulse's own series: the configured pipeline selector plus ``matchers``."""
    parts = [m for m in (config.pipeline_selector, *matchers) if m]
    return "{" + ", ".join(parts) + "}"


def pipeline_rate(metric: str, by: Sequence[str] = (), window: str = RATE, *matchers: str) -> str:
    """Items per second of a self-metric counter, summed over replicas."""
    return sum_by(by, f"rate({metric}{psel(*matchers)}[{window}])")


def pipeline_increase(metric: str, by: Sequence[str] = (), window: str = RANGE) -> str:
    """Items in ``window``; 0 rather than "No data" when the counter never moved (nothing refused)."""
    expr = sum_by(by, f"increase({metric}{psel()}[{window}])")
    return expr if by else f"{expr} or vector(0)"


def pipeline_gauge(metric: str, by: Sequence[str] = ()) -> str:
    """Current value of a self-metric gauge, summed over replicas."""
    return sum_by(by, f"{metric}{psel()}")


def overflow_series(config: Config = CONFIG) -> str:
    """Series in Prometheus folded into the overflow bucket, per metric name (DESIGN.md budget).

    Not narrowed by the dashboard filters: folded series have lost the labels they filter on.
    """
    matchers = ", ".join(m for m in (config.genai_selector, 'otel_metric_overflow="true"') if m)
    return "count by (__name__) ({" + matchers + "})"


def queue_fill() -> str:
    """Share (0..1) of each exporter queue's disk budget in use, fullest replica per target; the
    ``exporter`` label tells remote write from OTLP forwarding (their target names may clash)."""
    parts = []
    for exporter, used, capacity in (
        ("remote_write", RW_QUEUE_BYTES, RW_QUEUE_CAPACITY),
        ("forward", FWD_QUEUE_BYTES, FWD_QUEUE_CAPACITY),
    ):
        fill = f"max by (target) ({used}{psel()} / ({capacity}{psel()} > 0))"
        parts.append(f'label_replace({fill}, "exporter", "{exporter}", "", "")')
    return " or ".join(parts)


def remote_write_delay(by: Sequence[str] = ("target",)) -> str:
    """Seconds between now and the newest sample a target accepted: how far Prometheus lags."""
    return f"max by ({', '.join(by)}) (time() - {RW_HIGHEST_SENT}{psel()})"
