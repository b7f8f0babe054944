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


class _Bound:
    """The series one call label set feeds, found once (``SpanMetrics._record_one``)."""

    __slots__ = ("base", "durations", "states")

    def __init__(self, base: LabelSet) -> None:
        self.base = base
        #: duration histograms by error class ("" on success)
        self.durations: dict[str, Any] = {}
        #: the other series by slot (``_USAGE_SLOTS``, ``_TOKENS_SLOTS`` or the metric name)
        self.states: dict[str, Any] = {}


_DURATION, _TOKEN_USAGE, _TOKENS = c.DURATION.name, c.TOKEN_USAGE.name, c.TOKENS.name
_TTFT, _PER_CHUNK, _COST, _UNPRICED = c.TTFT.name, c.TIME_PER_CHUNK.name, c.COST.name, c.UNPRICED.name
_DURATION_BUCKETS, _TOKEN_USAGE_BUCKETS = c.DURATION.buckets, c.TOKEN_USAGE.buckets
_TTFT_BUCKETS, _PER_CHUNK_BUCKETS = c.TTFT.buckets, c.TIME_PER_CHUNK.buckets
_USAGE_SLOTS = {t: f"{_TOKEN_USAGE}/{t}" for t in ("input", "output")}
_TOKENS_SLOTS = {t: f"{_TOKENS}/{t}" for t in ("input", "output", "cache_read", "cache_write", "reasoning")}
_TOKEN_LABELS: dict[str, LabelSet] = {t: (("gen_ai_token_type", t),) for t in _TOKENS_SLOTS}


def _error(error_class: str) -> LabelSet:
    return (("error_type", error_class),) if error_class else ()


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
        #: each call's label set, resolved once to the series it feeds: looking a series up hashes
        #: its whole label tuple (nested pairs, no cached hash), ~6 times per call. Dropped whenever
        #: a series is removed or replaced, so a remembered series is always the live one.
        self._bound: dict[tuple[Any, ...], _Bound] = {}
        self._bound_limit = max(4 * cardinality_limit, 1024)
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
        dims = call.dimensions
        key: tuple[Any, ...] = (
            call.operation,
            call.provider,
            call.request_model,
            call.response_model,
            call.service_name,
        )
        if dims:
            key += tuple(dims.items())
        bound = self._bound.get(key)
        if bound is None:
            if len(self._bound) >= self._bound_limit:
                self._bound.clear()
            bound = self._bound[key] = _Bound(base_labels(call))
        base = bound.base
        states = bound.states
        get = self._get

        if call.duration_s is not None:
            error_class = call.error_class or ""
            by_class = bound.durations
            state = by_class.get(error_class) or get(
                by_class, error_class, _DURATION, base, _error(error_class), now
            )
            state.updated = now
            state.observe(_DURATION_BUCKETS, call.duration_s)

        for token_type, amount in (
            ("input", call.input_tokens),
            ("output", call.output_tokens),
            ("cache_read", call.cache_read_tokens),
            ("cache_write", call.cache_write_tokens),
            ("reasoning", call.reasoning_tokens),
        ):
            if amount is None:
                continue
            if token_type in ("input", "output"):
                slot = _USAGE_SLOTS[token_type]
                state = states.get(slot) or get(
                    states, slot, _TOKEN_USAGE, base, _TOKEN_LABELS[token_type], now
                )
                state.updated = now
                state.observe(_TOKEN_USAGE_BUCKETS, float(amount))
            slot = _TOKENS_SLOTS[token_type]
            state = states.get(slot) or get(states, slot, _TOKENS, base, _TOKEN_LABELS[token_type], now)
            state.updated = now
            state.value += amount

        if call.streaming and call.ttft_s is not None:
            state = states.get(_TTFT) or get(states, _TTFT, _TTFT, base, (), now)
            state.updated = now
            state.observe(_TTFT_BUCKETS, call.ttft_s)
            if call.duration_s is not None and call.output_tokens is not None and call.output_tokens > 1:
                per_chunk = max(call.duration_s - call.ttft_s, 0.0) / (call.output_tokens - 1)
                state = states.get(_PER_CHUNK) or get(states, _PER_CHUNK, _PER_CHUNK, base, (), now)
                state.updated = now
                state.observe(_PER_CHUNK_BUCKETS, per_chunk)

        if call.cost_usd is not None:
            state = states.get(_COST) or get(states, _COST, _COST, base, (), now)
            state.updated = now
            state.value += call.cost_usd
        elif call.input_tokens is not None or call.output_tokens is not None:
            state = states.get(_UNPRICED) or get(states, _UNPRICED, _UNPRICED, base, (), now)
            state.updated = now
            state.value += 1

    def _get(
        self, states: dict[str, Any], slot: str, metric: str, base: LabelSet, extra: LabelSet, now: float
    ) -> Any:
        """The series of ``metric`` for ``base + extra``, remembered in ``states`` when it is the
        series itself (an overflow stand-in is looked up again each time: each use is counted)."""
        state = self._metrics[metric]
        labels = base + extra
        found = state.get(labels, now, self._overflow)
        if state.series.get(labels) is found:
            states[slot] = found
        return found

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
                if idle:
                    self._bound.clear()
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
            self._bound.clear()
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
