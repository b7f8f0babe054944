"""The same numbers from Prometheus with PromQL (the ``--prometheus-url`` mode).

The expressions are the dashboards' (dashboards/queries.py) with the filters left out, so the
terminal and Grafana agree; a test runs both against the same Prometheus. ``sum by`` folds the
``llmpulse_instance`` label away, so several llmpulse replicas add up.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from dataclasses import dataclass

from ._compute import (
    ALL_MODELS,
    MODEL_LABEL,
    NO_MODEL,
    ModelStats,
    sort_rows,
)
from ._http import FetchError, get

CALLS = "gen_ai_client_operation_duration_seconds_count"
DURATION = "gen_ai_client_operation_duration_seconds_bucket"
TTFT = "gen_ai_client_operation_time_to_first_chunk_seconds_bucket"
TOKENS = "gen_ai_client_tokens_total"
COST = "gen_ai_client_cost_usd_total"


@dataclass(frozen=True)
class PromQueries:
    """PromQL for each column, per model (``by``) or over all models (``by`` empty)."""

    window: str
    selector: str = ""
    by: tuple[str, ...] = (MODEL_LABEL,)

    def _sel(self, *matchers: str) -> str:
        return "{" + ", ".join(m for m in (self.selector, *matchers) if m) + "}"

    def _sum(self, expr: str, *extra_by: str) -> str:
        by = (*extra_by, *self.by)
        return f"sum by ({', '.join(by)}) ({expr})" if by else f"sum({expr})"

    def _rate(self, metric: str, *matchers: str) -> str:
        return f"rate({metric}{self._sel(*matchers)}[{self.window}])"

    def columns(self) -> dict[str, str]:
        calls = self._sum(self._rate(CALLS))
        failed = self._sum(self._rate(CALLS, 'error_type=~".+"'))
        tokens = self._sum(self._rate(TOKENS, 'gen_ai_token_type=~"input|output"'))
        return {
            "rpm": f"{calls} * 60",
            "tpm": f"{tokens} * 60",
            "p95_duration_s": f"histogram_quantile(0.95, {self._sum(self._rate(DURATION), 'le')})",
            "p95_ttft_s": f"histogram_quantile(0.95, {self._sum(self._rate(TTFT), 'le')})",
            "failure_ratio": f"({failed} or 0 * {calls}) / {calls}",
            "spend_usd_per_hour": f"{self._sum(self._rate(COST))} * 3600",
        }


def api_url(base: str, expr: str, at: str | None) -> str:
    """``/api/v1/query`` URL for an instant query at ``at`` (unix seconds or RFC 3339; None = now)."""
    if "://" not in base:
        base = "http://" + base
    params = {"query": expr}
    if at is not None:
        params["time"] = at
    return base.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode(params)


def instant(base: str, expr: str, at: str | None, timeout_s: float) -> dict[str, float]:
    """Run one instant query; model label value (or "") -> value."""
    body = get(api_url(base, expr, at), timeout_s, accept="application/json")
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise FetchError(f"{base} did not answer with Prometheus JSON: {body[:200]!r}") from e
    if doc.get("status") != "success":
        raise FetchError(f"query failed: {doc.get('error', doc)} in {expr}")
    out: dict[str, float] = {}
    for item in doc["data"]["result"]:
        out[item["metric"].get(MODEL_LABEL, "")] = float(item["value"][1])
    return out


def _value(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else x


def fetch(
    base: str, window: str, at: str | None = None, selector: str = "", timeout_s: float = 10.0
) -> tuple[list[ModelStats], ModelStats]:
    """Per-model rows (sorted) and the all-models row from Prometheus."""
    per_model = {
        col: instant(base, expr, at, timeout_s)
        for col, expr in PromQueries(window, selector).columns().items()
    }
    overall = {
        col: instant(base, expr, at, timeout_s).get("")
        for col, expr in PromQueries(window, selector, by=()).columns().items()
    }
    models = set(per_model["rpm"]) | set(per_model["tpm"]) | set(per_model["spend_usd_per_hour"])
    rows = [_row(m or NO_MODEL, {c: v.get(m) for c, v in per_model.items()}) for m in models]
    return sort_rows(rows), _row(ALL_MODELS, overall)


def _row(model: str, v: dict[str, float | None]) -> ModelStats:
    return ModelStats(
        model=model,
        rpm=_value(v.get("rpm")) or 0.0,
        tpm=_value(v.get("tpm")) or 0.0,
        p95_duration_s=_value(v.get("p95_duration_s")),
        p95_ttft_s=_value(v.get("p95_ttft_s")),
        failure_ratio=_value(v.get("failure_ratio")),
        spend_usd_per_hour=_value(v.get("spend_usd_per_hour")) or 0.0,
    )
