"""The live span-metrics aggregate: cumulative histograms and counters keyed by label set.

Like the contrib spanmetrics connector: updates happen under a lock, readers take a snapshot,
the clock is injected, and every metric has a cardinality budget. Over budget, observations fold
into one ``otel_metric_overflow="true"`` series and are counted. Series idle longer than
``idle_timeout`` expire (the remote-write exporter sends stale markers for them).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmpulse.call import LLMCall
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import _contract as c

LabelSet = tuple[tuple[str, str], ...]
OVERFLOW: LabelSet = (("otel_metric_overflow", "true"),)


@dataclass(slots=True)
class HistogramState:
    """Per-bucket (not cumulative) counts; the last bucket is +Inf."""

    counts: list[int]
    total: float = 0.0
    count: int = 0
    updated: float = 0.0

    def observe(self, bounds: Sequence[float], value: float) -> None:
        self.counts[bisect.bisect_left(bounds, value)] += 1
        self.total += value
        self.count += 1


@dataclass(slots=True)
class CounterState:
    value: float = 0.0
    updated: float = 0.0


@dataclass(slots=True)
class MetricState:
    definition: c.MetricDef
    limit: int
    series: dict[LabelSet, Any] = field(default_factory=dict)

    def get(self, labels: LabelSet, now: float, on_overflow: Callable[[str], None]) -> Any:
        state = self.series.get(labels)
        if state is None:
            if len(self.series) >= self.limit and labels != OVERFLOW:
                on_overflow(self.definition.name)
                return self.get(OVERFLOW, now, on_overflow)
            if self.definition.kind == "histogram":
                state = HistogramState(counts=[0] * (len(self.definition.buckets) + 1))
            else:
                state = CounterState()
            self.series[labels] = state
        state.updated = now
        return state


@dataclass(frozen=True, slots=True)
class SeriesSnapshot:
    """One series as exporters see it: cumulative values at snapshot time."""

    metric: c.MetricDef
    labels: LabelSet
    value: float = 0.0
    bucket_counts: tuple[int, ...] = ()
    total: float = 0.0
    count: int = 0


class SpanMetrics:
    """Aggregates canonical calls into the GenAI metrics of the contract.

    >>> from prometheus_client import CollectorRegistry
    >>> metrics = SpanMetrics(SelfMetrics(CollectorRegistry()))
    >>> metrics.record([LLMCall(dialect="semconv", operation="chat", input_tokens=3, duration_s=0.2)])
    >>> metrics.series_count()
    3
    """

    def __init__(
        self,
        selfmetrics: SelfMetrics,
        *,
        cardinality_limit: int = 10_000,
        idle_timeout_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._self = selfmetrics
        self._clock = clock
        self._idle_timeout = idle_timeout_s
        self._lock = threading.Lock()
        self._metrics = {d.name: MetricState(d, cardinality_limit) for d in c.ALL}
        #: listeners get the calls of each batch before it is applied (the state journal)
        self.journal: Callable[[Sequence[LLMCall]], None] | None = None

    def _overflow(self, metric: str) -> None:
        self._self.cardinality_overflow.labels(metric=c.exposed_name(self._metrics[metric].definition)).inc()

    def record(self, calls: Sequence[LLMCall], *, journal: bool = True) -> None:
        if not calls:
            return
        now = self._clock()
        with self._lock:
            # Journaled under the lock so that a checkpoint (snapshot + WAL rotation, also under
            # the lock) never sees a batch that is in the WAL but not yet in the aggregate.
            if journal and self.journal is not None:
                self.journal(calls)
            for call in calls:
                self._record_one(call, now)

    def _record_one(self, call: LLMCall, now: float) -> None:
        base = base_labels(call)
        m = self._metrics
        of = self._overflow

        if call.duration_s is not None:
            labels = base + ((("error_type", call.error_class),) if call.error_class else ())
            m[c.DURATION.name].get(labels, now, of).observe(c.DURATION.buckets, call.duration_s)

        usage = (
            ("input", call.input_tokens),
            ("output", call.output_tokens),
            ("cache_read", call.cache_read_tokens),
            ("cache_write", call.cache_write_tokens),
            ("reasoning", call.reasoning_tokens),
        )
        for token_type, amount in usage:
            if amount is None:
                continue
            labels = (*base, ("gen_ai_token_type", token_type))
            if token_type in ("input", "output"):
                m[c.TOKEN_USAGE.name].get(labels, now, of).observe(c.TOKEN_USAGE.buckets, float(amount))
            m[c.TOKENS.name].get(labels, now, of).value += amount

        if call.streaming and call.ttft_s is not None:
            m[c.TTFT.name].get(base, now, of).observe(c.TTFT.buckets, call.ttft_s)
            if call.duration_s is not None and call.output_tokens is not None and call.output_tokens > 1:
                per_chunk = max(call.duration_s - call.ttft_s, 0.0) / (call.output_tokens - 1)
                m[c.TIME_PER_CHUNK.name].get(base, now, of).observe(c.TIME_PER_CHUNK.buckets, per_chunk)

        if call.cost_usd is not None:
            m[c.COST.name].get(base, now, of).value += call.cost_usd
        elif call.input_tokens is not None or call.output_tokens is not None:
            m[c.UNPRICED.name].get(base, now, of).value += 1

    def series_count(self) -> int:
        with self._lock:
            return sum(len(state.series) for state in self._metrics.values())

    def snapshot(self, *, under_lock: Callable[[], None] | None = None) -> list[SeriesSnapshot]:
        """Every series' cumulative values, consistent across metrics (taken under the lock).

        ``under_lock`` runs while the lock is held: the state store rotates its WAL there, so the
        snapshot holds exactly the batches journaled before the rotation.
        """
        out: list[SeriesSnapshot] = []
        with self._lock:
            if under_lock is not None:
                under_lock()
            for state in self._metrics.values():
                d = state.definition
                self._self.active_series.labels(metric=c.exposed_name(d)).set(len(state.series))
                out.extend(_snap(d, labels, s) for labels, s in state.series.items())
        return out

    def expire(self) -> list[SeriesSnapshot]:
        """Drop series idle longer than the timeout; returns them (for stale markers)."""
        if self._idle_timeout <= 0:
            return []
        cutoff = self._clock() - self._idle_timeout
        gone: list[SeriesSnapshot] = []
        with self._lock:
            for state in self._metrics.values():
                idle = [labels for labels, s in state.series.items() if s.updated < cutoff]
                for labels in idle:
                    s = state.series.pop(labels)
                    # final values too: remote write sends them beside the stale marker
                    gone.append(_snap(state.definition, labels, s))
                if idle:
                    self._self.expired_series.labels(metric=c.exposed_name(state.definition)).inc(len(idle))
        return gone

    def restore(self, snapshots: Iterable[SeriesSnapshot]) -> None:
        """Load cumulative values (from a persisted snapshot) so counters continue, never reset."""
        now = self._clock()
        with self._lock:
            for snap in snapshots:
                state = self._metrics[snap.metric.name]
                if snap.metric.kind == "histogram":
                    state.series[snap.labels] = HistogramState(
                        counts=list(snap.bucket_counts), total=snap.total, count=snap.count, updated=now
                    )
                else:
                    state.series[snap.labels] = CounterState(value=snap.value, updated=now)


def _snap(d: c.MetricDef, labels: LabelSet, s: Any) -> SeriesSnapshot:
    if d.kind == "histogram":
        return SeriesSnapshot(d, labels, bucket_counts=tuple(s.counts), total=s.total, count=s.count)
    return SeriesSnapshot(d, labels, value=s.value)


def base_labels(call: LLMCall) -> LabelSet:
    """The contract's labels for a call; unknown values are omitted, never invented."""
    pairs: list[tuple[str, str]] = []
    for name, value in (
        ("gen_ai_operation_name", call.operation),
        ("gen_ai_provider_name", call.provider),
        ("gen_ai_request_model", call.request_model),
        ("gen_ai_response_model", call.response_model),
        ("service_name", call.service_name),
    ):
        if value:
            pairs.append((name, value))
    for name, value in sorted(call.dimensions.items()):
        if value:
            pairs.append((name, value))
    return tuple(pairs)
