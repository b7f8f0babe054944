"""The numbers ``llmpulse top`` shows, computed from two ``/metrics`` snapshots; no I/O here.

Kept pure so tests can compare each number with Prometheus and with what was sent. The rules
are the ones PromQL applies to the same series, so both modes of ``top`` and the dashboards
agree:

* a counter's increase is ``after - before``; a drop means a restart, so the increase is
  ``after`` (PromQL's counter-reset rule);
* a series missing from the first snapshot started between the two (llmpulse creates series on
  their first observation), so it counts from 0;
* p95 is ``histogram_quantile`` over the bucket increases, with the same interpolation
  (:func:`histogram_quantile`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: One sample of the text exposition: metric name (with ``_bucket``/``_total``…) and sorted labels.
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
Snapshot = Mapping[SeriesKey, float]

CALLS = "gen_ai_client_operation_duration_seconds_count"
DURATION_BUCKET = "gen_ai_client_operation_duration_seconds_bucket"
TTFT_BUCKET = "gen_ai_client_operation_time_to_first_chunk_seconds_bucket"
TOKENS = "gen_ai_client_tokens_total"
COST = "gen_ai_client_cost_usd_total"

MODEL_LABEL = "gen_ai_request_model"
ERROR_LABEL = "error_type"
TOKEN_TYPE_LABEL = "gen_ai_token_type"
#: input + output is "tokens used"; cache_* are inside input and reasoning inside output.
BILLED_TOKEN_TYPES = frozenset({"input", "output"})
#: Shown for series without a requested model (e.g. the cardinality-overflow series).
NO_MODEL = "(none)"
#: The row that sums every model.
ALL_MODELS = "all models"


def key(name: str, labels: Mapping[str, str]) -> SeriesKey:
    """The :data:`SeriesKey` of a sample."""
    return name, tuple(sorted(labels.items()))


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float:
    """φ-quantile from cumulative ``(upper_bound, count)`` buckets, as PromQL computes it.

    Port of ``bucketQuantile`` (prometheus/promql/quantile.go, v2.x): linear interpolation inside
    the bucket holding the rank, the lowest bucket starting at 0, the ``+Inf`` bucket answered
    with the highest finite bound, NaN without observations or without a ``+Inf`` bucket.

    >>> histogram_quantile(0.5, [(1.0, 0), (2.0, 10), (math.inf, 10)])
    1.5
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    merged: dict[float, float] = defaultdict(float)
    for upper, count in buckets:
        merged[upper] += count  # coalesceBuckets: same bound from several series adds up
    bounds = sorted(merged)
    if not bounds or not math.isinf(bounds[-1]) or bounds[-1] < 0:
        return math.nan
    counts = [merged[b] for b in bounds]
    highest = -math.inf
    for i, c in enumerate(counts):  # ensureMonotonic: rates of cumulative buckets can jitter
        if c > highest:
            highest = c
        elif c < highest:
            counts[i] = highest
    if len(bounds) < 2:
        return math.nan
    observations = counts[-1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = next((i for i in range(len(bounds) - 1) if counts[i] >= rank), len(bounds) - 1)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start = 0.0
    end = bounds[b]
    count = counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    if count == 0:  # only 0/0 can happen here (rank 0 in an empty lowest bucket): NaN, as in Go
        return math.nan
    return start + (end - start) * (rank / count)


def increases(before: Snapshot, after: Snapshot) -> dict[SeriesKey, float]:
    """Counter increase of every series in ``after`` since ``before`` (see module docstring)."""
    out: dict[SeriesKey, float] = {}
    for k, v in after.items():
        prev = before.get(k, 0.0)
        out[k] = v - prev if v >= prev else v
    return out


@dataclass
class Totals:
    """What happened to one model (or all of them) in a window: counts, not yet rates."""

    calls: float = 0.0
    failed: float = 0.0
    tokens: float = 0.0
    cost_usd: float = 0.0
    duration_buckets: dict[float, float] = field(default_factory=lambda: defaultdict(float))
    ttft_buckets: dict[float, float] = field(default_factory=lambda: defaultdict(float))


@dataclass(frozen=True)
class ModelStats:
    """One row of ``llmpulse top``. ``None`` means "no calls to judge" (PromQL's NaN)."""

    model: str
    rpm: float
    tpm: float
    p95_duration_s: float | None
    p95_ttft_s: float | None
    failure_ratio: float | None
    spend_usd_per_hour: float


def totals_by_model(deltas: Mapping[SeriesKey, float]) -> tuple[dict[str, Totals], Totals]:
    """Fold per-series increases into per-model totals and the all-models total."""
    per: dict[str, Totals] = defaultdict(Totals)
    everything = Totals()
    for (name, label_items), v in deltas.items():
        if name not in _USED:
            continue
        labels = dict(label_items)
        model = labels.get(MODEL_LABEL) or NO_MODEL
        for t in (per[model], everything):
            _add(t, name, labels, v)
    return dict(per), everything


_USED = frozenset({CALLS, DURATION_BUCKET, TTFT_BUCKET, TOKENS, COST})


def _add(t: Totals, name: str, labels: Mapping[str, str], v: float) -> None:
    if name == CALLS:
        t.calls += v
        if labels.get(ERROR_LABEL):
            t.failed += v
    elif name == TOKENS:
        if labels.get(TOKEN_TYPE_LABEL) in BILLED_TOKEN_TYPES:
            t.tokens += v
    elif name == COST:
        t.cost_usd += v
    elif name in (DURATION_BUCKET, TTFT_BUCKET):
        target = t.duration_buckets if name == DURATION_BUCKET else t.ttft_buckets
        target[float(labels["le"])] += v


def stats(model: str, t: Totals, elapsed_s: float) -> ModelStats:
    """Rates over ``elapsed_s`` seconds, p95s and failure ratio from one model's totals."""
    if elapsed_s <= 0:
        raise ValueError(f"elapsed time must be positive, got {elapsed_s}")
    return ModelStats(
        model=model,
        rpm=t.calls / elapsed_s * 60,
        tpm=t.tokens / elapsed_s * 60,
        p95_duration_s=_finite(histogram_quantile(0.95, t.duration_buckets.items())),
        p95_ttft_s=_finite(histogram_quantile(0.95, t.ttft_buckets.items())),
        failure_ratio=t.failed / t.calls if t.calls > 0 else None,
        spend_usd_per_hour=t.cost_usd / elapsed_s * 3600,
    )


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else x


def sort_rows(rows: Iterable[ModelStats]) -> list[ModelStats]:
    """Busiest model first, then by name, so the table does not jump around between refreshes."""
    return sorted(rows, key=lambda r: (-r.rpm, r.model))


def compute(before: Snapshot, after: Snapshot, elapsed_s: float) -> tuple[list[ModelStats], ModelStats]:
    """Per-model rows (sorted) and the all-models row for the window between two snapshots."""
    per, everything = totals_by_model(increases(before, after))
    rows = sort_rows(stats(m, t, elapsed_s) for m, t in per.items())
    return rows, stats(ALL_MODELS, everything, elapsed_s)
