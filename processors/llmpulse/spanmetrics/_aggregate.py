"""The live span-metrics aggregate: cumulative histograms and counters keyed by label set.

Like the contrib spanmetrics connector: updates happen under a lock, readers take a snapshot,
the clock is injected, and every metric has a cardinality budget. Over budget, observations fold
into one ``otel_metric_overflow="true"`` series and are counted. Series idle longer than
``idle_timeout`` expire (the remote-write exporter sends stale markers for them).
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmpulse.call import TOKEN_TYPES, LLMCall
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
        self.counts[bisect_left(bounds, value)] += 1
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
        """The series of ``labels``, created if the budget allows, else the overflow series
        (``on_overflow`` counts each observation folded into it)."""
        series = self.series
        state = series.get(labels)
        if state is None:
            if len(series) >= self.limit and labels != OVERFLOW:
                on_overflow(self.definition.name)
                labels = OVERFLOW
                state = series.get(OVERFLOW)
            if state is None:
                if self.definition.kind == "histogram":
                    state = HistogramState(counts=[0] * (len(self.definition.buckets) + 1))
                else:
                    state = CounterState()
                series[labels] = state
        state.updated = now
        return state


class _Bound:
    """The series one call label set feeds, found once (``SpanMetrics._record_calls``): one slot
    per series (None until first fed), an attribute read being cheaper than a dict lookup."""

    __slots__ = (
        "base",
        "cost",
        "durations",
        "per_chunk",
        "tokens_cache_read",
        "tokens_cache_write",
        "tokens_input",
        "tokens_output",
        "tokens_reasoning",
        "ttft",
        "unpriced",
        "usage_input",
        "usage_output",
    )

    def __init__(self, base: LabelSet) -> None:
        self.base = base
        #: duration histograms by error class ("" on success)
        self.durations: dict[str, HistogramState] = {}
        self.usage_input: HistogramState | None = None
        self.usage_output: HistogramState | None = None
        self.tokens_input: CounterState | None = None
        self.tokens_output: CounterState | None = None
        self.tokens_cache_read: CounterState | None = None
        self.tokens_cache_write: CounterState | None = None
        self.tokens_reasoning: CounterState | None = None
        self.ttft: HistogramState | None = None
        self.per_chunk: HistogramState | None = None
        self.cost: CounterState | None = None
        self.unpriced: CounterState | None = None


_DURATION, _TOKEN_USAGE, _TOKENS = c.DURATION.name, c.TOKEN_USAGE.name, c.TOKENS.name
_TTFT, _PER_CHUNK, _COST, _UNPRICED = c.TTFT.name, c.TIME_PER_CHUNK.name, c.COST.name, c.UNPRICED.name
_DURATION_BUCKETS, _TOKEN_USAGE_BUCKETS = c.DURATION.buckets, c.TOKEN_USAGE.buckets
_TTFT_BUCKETS, _PER_CHUNK_BUCKETS = c.TTFT.buckets, c.TIME_PER_CHUNK.buckets
_INPUT, _OUTPUT, _CACHE_READ, _CACHE_WRITE, _REASONING = ((("gen_ai_token_type", t),) for t in TOKEN_TYPES)


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
        #: ``llmpulse_cardinality_overflow_total``'s child per metric, made at its first overflow
        self._overflow_counters: dict[str, Any] = {}
        #: listeners get the calls of each batch before it is applied (the state journal)
        self.journal: Callable[[Sequence[LLMCall]], None] | None = None

    def _overflow(self, metric: str) -> None:
        # over budget this runs for every observation: the counter's child is looked up once
        counter = self._overflow_counters.get(metric)
        if counter is None:
            counter = self._overflow_counters[metric] = self._self.cardinality_overflow.labels(
                metric=c.exposed_name(self._metrics[metric].definition)
            )
        counter.inc()

    def record(self, calls: Sequence[LLMCall], *, journal: bool = True) -> None:
        if not calls:
            return
        now = self._clock()
        with self._lock:
            # Journaled under the lock so that a checkpoint (snapshot + WAL rotation, also under
            # the lock) never sees a batch that is in the WAL but not yet in the aggregate.
            if journal and self.journal is not None:
                self.journal(calls)
            self._record_calls(calls, now)

    def _record_calls(self, calls: Sequence[LLMCall], now: float) -> None:
        """Each call into its series. One loop for the batch, unrolled (no per-call method call,
        tuples of token types or ``observe`` calls; the maps and buckets are locals): this runs
        once per counted call under the lock."""
        bound_of = self._bound
        hist = self._hist  # typed: compiled code reaches the series' fields directly
        count = self._count
        bisect = bisect_left
        duration_buckets = _DURATION_BUCKETS
        usage_buckets = _TOKEN_USAGE_BUCKETS
        for call in calls:
            dims = call.dimensions
            # The dimensions' names, then their values, not ``*dims.items()``: the same label set
            # gives the same key (the length fixes where the values start) without a pair tuple
            # per dimension to build, hash and compare on every call.
            key: tuple[Any, ...] = (
                (call.operation, call.provider, call.request_model, call.response_model, call.service_name)
                if not dims
                else (
                    call.operation,
                    call.provider,
                    call.request_model,
                    call.response_model,
                    call.service_name,
                    *dims,
                    *dims.values(),
                )
            )
            bound = bound_of.get(key)
            if bound is None:
                if len(bound_of) >= self._bound_limit:
                    bound_of.clear()
                bound = bound_of[key] = _Bound(base_labels(call))

            duration = call.duration_s
            if duration is not None:
                error_class = call.error_class or ""
                state = bound.durations.get(error_class) or self._duration(bound, error_class, now)
                state.updated = now
                state.counts[bisect(duration_buckets, duration)] += 1
                state.total += duration
                state.count += 1

            input_tokens = call.input_tokens
            output_tokens = call.output_tokens
            if input_tokens is not None:
                state = bound.usage_input or hist(bound, "usage_input", _TOKEN_USAGE, _INPUT, now)
                state.updated = now
                value = float(input_tokens)
                state.counts[bisect(usage_buckets, value)] += 1
                state.total += value
                state.count += 1
                counter = bound.tokens_input or count(bound, "tokens_input", _TOKENS, _INPUT, now)
                counter.updated = now
                counter.value += input_tokens
            if output_tokens is not None:
                state = bound.usage_output or hist(bound, "usage_output", _TOKEN_USAGE, _OUTPUT, now)
                state.updated = now
                value = float(output_tokens)
                state.counts[bisect(usage_buckets, value)] += 1
                state.total += value
                state.count += 1
                counter = bound.tokens_output or count(bound, "tokens_output", _TOKENS, _OUTPUT, now)
                counter.updated = now
                counter.value += output_tokens
            amount = call.cache_read_tokens
            if amount is not None:
                counter = bound.tokens_cache_read or count(
                    bound, "tokens_cache_read", _TOKENS, _CACHE_READ, now
                )
                counter.updated = now
                counter.value += amount
            amount = call.cache_write_tokens
            if amount is not None:
                counter = bound.tokens_cache_write or count(
                    bound, "tokens_cache_write", _TOKENS, _CACHE_WRITE, now
                )
                counter.updated = now
                counter.value += amount
            amount = call.reasoning_tokens
            if amount is not None:
                counter = bound.tokens_reasoning or count(bound, "tokens_reasoning", _TOKENS, _REASONING, now)
                counter.updated = now
                counter.value += amount

            ttft = call.ttft_s
            if call.streaming and ttft is not None:
                state = bound.ttft or hist(bound, "ttft", _TTFT, (), now)
                state.updated = now
                state.counts[bisect(_TTFT_BUCKETS, ttft)] += 1
                state.total += ttft
                state.count += 1
                if duration is not None and output_tokens is not None and output_tokens > 1:
                    per_chunk = max(duration - ttft, 0.0) / (output_tokens - 1)
                    state = bound.per_chunk or hist(bound, "per_chunk", _PER_CHUNK, (), now)
                    state.updated = now
                    state.counts[bisect(_PER_CHUNK_BUCKETS, per_chunk)] += 1
                    state.total += per_chunk
                    state.count += 1

            cost = call.cost_usd
            if cost is not None:
                counter = bound.cost or count(bound, "cost", _COST, (), now)
                counter.updated = now
                counter.value += cost
            elif input_tokens is not None or output_tokens is not None:
                counter = bound.unpriced or count(bound, "unpriced", _UNPRICED, (), now)
                counter.updated = now
                counter.value += 1

    def _get(self, bound: _Bound, slot: str, metric: str, extra: LabelSet, now: float) -> Any:
        """The series of ``metric`` for ``bound.base + extra``, remembered in ``bound``'s ``slot``
        when it is the series itself (an overflow stand-in is looked up again each time: each
        use is counted)."""
        state = self._metrics[metric]
        labels = bound.base + extra
        found = state.get(labels, now, self._overflow)
        if state.series.get(labels) is found:
            setattr(bound, slot, found)
        return found

    def _hist(self, bound: _Bound, slot: str, metric: str, extra: LabelSet, now: float) -> HistogramState:
        found: HistogramState = self._get(bound, slot, metric, extra, now)
        return found

    def _count(self, bound: _Bound, slot: str, metric: str, extra: LabelSet, now: float) -> CounterState:
        found: CounterState = self._get(bound, slot, metric, extra, now)
        return found

    def _duration(self, bound: _Bound, error_class: str, now: float) -> HistogramState:
        """``_get`` for the duration histogram of an error class (``""``: success)."""
        state = self._metrics[_DURATION]
        labels = bound.base + _error(error_class)
        found: HistogramState = state.get(labels, now, self._overflow)
        if state.series.get(labels) is found:
            bound.durations[error_class] = found
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


def journal_rows(calls: Sequence[LLMCall]) -> list[tuple[Any, ...]]:
    """Each call's row of the state journal, in its column order (``_state._FIELDS``; a test
    holds the two together). Read here, compiled: ``operator.attrgetter`` over 17 fields of
    the compiled ``LLMCall`` took ~0.3 µs a call, before every Export returns."""
    return [
        (
            call.dialect,
            call.operation,
            call.provider,
            call.request_model,
            call.response_model,
            call.service_name,
            call.dimensions,
            call.duration_s,
            call.error_class,
            call.input_tokens,
            call.output_tokens,
            call.cache_read_tokens,
            call.cache_write_tokens,
            call.reasoning_tokens,
            call.streaming,
            call.ttft_s,
            call.cost_usd,
        )
        for call in calls
    ]


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
