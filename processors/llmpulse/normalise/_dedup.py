"""Count each LLM call once when several spans describe it.

Three shapes of duplicate (reference §14.10):
- nesting: a framework span and the SDK span inside it (LangChain + OpenAI, an OpenInference
  span around the Anthropic SDK's own span). The innermost call span is counted, unless it is a
  model server's span under an app's client span, where the client's view is kept.
- siblings: the Anthropic SDK's own span beside an instrumentor's span of the same call, each in
  its own trace. Paired by resource, model and overlapping time; the SDK span is counted.
- batches: the partner may arrive in a later export. Recently counted calls and the ancestors
  of counted calls are remembered (bounded, time-limited) so the late span is not counted again.
- server and client apart: a model server's span (vLLM) and the app's span of the same call
  are exported by different services, so the spans between them (the app's HTTP client span)
  are not in the server's request. Paired by trace and overlapping time, across requests.
The kept record takes every field it lacks from the duplicate (when both are in one request).
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from llmpulse.call import LLMCall
from llmpulse.dialects import Dialect

SpanKey = tuple[bytes, bytes]


@dataclass(slots=True)
class Candidate:
    """A recognised call and where it sits, before deciding whether it is counted."""

    call: LLMCall
    dialect: Dialect
    resource_key: tuple[str, ...]
    trace_id: bytes
    span_id: bytes
    parent_id: bytes
    start_ns: int
    end_ns: int
    duplicate_of: bytes | None = None
    duplicate_reason: str | None = None
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def counted(self) -> bool:
        return self.duplicate_of is None


@dataclass(slots=True)
class _Recent:
    resource_key: tuple[str, ...]
    model: str | None
    start_ns: int
    end_ns: int
    native: bool
    span_id: bytes
    seen: float
    paired: bool = False


@dataclass(slots=True)
class _InTrace:
    span_id: bytes
    start_ns: int
    end_ns: int
    server: bool
    seen: float
    paired: bool = False


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    shortest = min(a_end - a_start, b_end - b_start)
    overlap = min(a_end, b_end) - max(a_start, b_start)
    return overlap > 0 and overlap >= 0.5 * shortest


class _Timed(Protocol):
    start_ns: int
    end_ns: int


_T = TypeVar("_T", bound=_Timed)


def _closest(start_ns: int, end_ns: int, entries: Iterable[_T], fits: Callable[[_T], bool]) -> _T | None:
    """The entry that fits, overlaps [start, end] and started nearest to ``start_ns``: with
    concurrent calls of one model, the partner of a span is the one that began with it."""
    best: _T | None = None
    for entry in entries:
        if (
            fits(entry)
            and _overlaps(start_ns, end_ns, entry.start_ns, entry.end_ns)
            and (best is None or abs(entry.start_ns - start_ns) < abs(best.start_ns - start_ns))
        ):
            best = entry
    return best


def _models_match(a: LLMCall | None, model_a: str | None, model_b: str | None) -> bool:
    return model_a is None or model_b is None or model_a == model_b


class Deduplicator:
    """Marks duplicate candidates in place; keeps bounded memory of recent calls across batches."""

    def __init__(
        self, window_s: float = 60.0, max_entries: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window = window_s
        self._max = max_entries
        self._clock = clock
        self._covered: OrderedDict[SpanKey, bytes] = OrderedDict()
        self._recent: dict[tuple[str, ...], deque[_Recent]] = {}
        self._recent_size = 0
        #: per resource, how many remembered calls are [not SDK-native, SDK-native]: a call pairs
        #: only with the other kind, so the scan is skipped when there is none (the usual case)
        self._kinds: dict[tuple[str, ...], list[int]] = {}
        #: counted calls by trace, least recently touched first, for server/client pairing
        self._traces: OrderedDict[bytes, list[_InTrace]] = OrderedDict()
        self._traces_size = 0

    def resolve(
        self, candidates: list[Candidate], parents_of: Callable[[set[bytes]], dict[SpanKey, bytes]]
    ) -> None:
        """Decide which candidates are counted. ``parents_of`` maps span → parent for given traces."""
        if not candidates:
            return
        now = self._clock()
        self._nesting(candidates, parents_of)
        # ``duplicate_of is None`` is ``counted`` without a property call per candidate
        self._siblings([c for c in candidates if c.duplicate_of is None])
        self._across_batches([c for c in candidates if c.duplicate_of is None], now)
        self._server_client([c for c in candidates if c.duplicate_of is None], now)

    # -- nesting ---------------------------------------------------------------------------
    def _nesting(
        self, candidates: list[Candidate], parents_of: Callable[[set[bytes]], dict[SpanKey, bytes]]
    ) -> None:
        for cand in candidates:
            child_of = self._covered.get((cand.trace_id, cand.span_id))
            if child_of is not None and not cand.dialect.server_side:
                _mark(cand, child_of, "nested")
        by_trace: dict[bytes, list[Candidate]] = {}
        for cand in candidates:
            by_trace.setdefault(cand.trace_id, []).append(cand)
        shared = {trace for trace, group in by_trace.items() if len(group) > 1}
        parents = parents_of(shared) if shared else {}
        index = {(c.trace_id, c.span_id): c for c in candidates}
        covered = self._covered
        for cand in candidates:
            if cand.duplicate_of is not None:
                continue
            chain = []
            key: SpanKey = (cand.trace_id, cand.parent_id)
            seen = 0
            while key[1] and seen < 64:
                chain.append(key)
                upper = index.get(key)
                if upper is not None and upper.duplicate_of is None:
                    keep, drop = (
                        (upper, cand)
                        if cand.dialect.server_side and not upper.dialect.server_side
                        else (cand, upper)
                    )
                    _mark(drop, keep.span_id, "nested")
                    keep.call.fill_gaps_from(drop.call)
                    if drop is cand:
                        break
                key = (cand.trace_id, parents.get(key, b""))
                seen += 1
            if cand.duplicate_of is None and not cand.dialect.server_side and chain:
                # remember the ancestors, evicting once at the end: the same least recently
                # covered entries go as when evicting after each (entries only move to the end)
                child = cand.span_id
                for ancestor in chain:
                    covered[ancestor] = child
                    covered.move_to_end(ancestor)
                while len(covered) > self._max:
                    covered.popitem(last=False)

    # -- siblings in one batch ---------------------------------------------------------------
    def _siblings(self, counted: list[Candidate]) -> None:
        natives = [c for c in counted if c.dialect.sdk_native]
        if not natives:
            return
        others = [c for c in counted if not c.dialect.sdk_native]
        for native in natives:
            best = _closest(
                native.start_ns,
                native.end_ns,
                others,
                lambda other, native=native: (  # type: ignore[misc]
                    other.duplicate_of is None
                    and other.resource_key == native.resource_key
                    and _models_match(None, other.call.request_model, native.call.request_model)
                ),
            )
            if best is not None:
                _mark(best, native.span_id, "sdk_sibling")
                native.call.fill_gaps_from(best.call)

    # -- partners in earlier batches ----------------------------------------------------------
    def _across_batches(self, counted: Iterable[Candidate], now: float) -> None:
        for cand in counted:
            native = cand.dialect.sdk_native
            recent = self._recent.get(cand.resource_key)
            kinds = self._kinds.setdefault(cand.resource_key, [0, 0])
            if recent:
                while recent and now - recent[0].seen > self._window:
                    kinds[recent.popleft().native] -= 1
                    self._recent_size -= 1
            if recent and kinds[not native]:
                # the closest start among the overlapping partners, as within a batch: with
                # concurrent calls of one model the first overlapping one may be the other call's
                newest = itertools.islice(reversed(recent), 512)
                best_recent = _closest(
                    cand.start_ns,
                    cand.end_ns,
                    newest,
                    lambda entry, native=native, model=cand.call.request_model: (  # type: ignore[misc]
                        not entry.paired
                        and entry.native != native
                        and _models_match(None, entry.model, model)
                    ),
                )
                if best_recent is not None:
                    best_recent.paired = True
                    _mark(cand, best_recent.span_id, "sdk_sibling")
            if cand.duplicate_of is not None:
                continue
            queue = self._recent.setdefault(cand.resource_key, deque())
            queue.append(
                _Recent(
                    cand.resource_key,
                    cand.call.request_model,
                    cand.start_ns,
                    cand.end_ns,
                    native,
                    cand.span_id,
                    now,
                )
            )
            kinds[native] += 1
            self._recent_size += 1
            if self._recent_size > self._max:
                self._evict()

    # -- a model server's span and the app's call span, exported apart ----------------------
    def _server_client(self, counted: list[Candidate], now: float) -> None:
        traces = self._traces
        while traces:
            oldest = next(iter(traces.values()))
            if now - oldest[-1].seen <= self._window:
                break
            self._traces_size -= len(traces.popitem(last=False)[1])
        here: dict[bytes, Candidate] = {}
        # within one request the client's view is kept, as when the parent chain is visible
        for cand in sorted(counted, key=lambda c: c.dialect.server_side):
            server = cand.dialect.server_side
            entries = traces.get(cand.trace_id)
            if entries is not None:
                best = _closest(
                    cand.start_ns,
                    cand.end_ns,
                    entries,
                    lambda entry, server=server: not entry.paired and entry.server != server,  # type: ignore[misc]
                )
                if best is not None:
                    best.paired = True
                    _mark(cand, best.span_id, "nested")
                    kept = here.get(best.span_id)
                    if kept is not None:
                        kept.call.fill_gaps_from(cand.call)
                    continue
                traces.move_to_end(cand.trace_id)
            else:
                entries = traces[cand.trace_id] = []
            entries.append(_InTrace(cand.span_id, cand.start_ns, cand.end_ns, server, now))
            here[cand.span_id] = cand
            self._traces_size += 1
            while self._traces_size > self._max and traces:
                self._traces_size -= len(traces.popitem(last=False)[1])

    def _evict(self) -> None:
        for key in list(self._recent):
            queue = self._recent[key]
            kinds = self._kinds[key]
            while queue and self._recent_size > self._max // 2:
                kinds[queue.popleft().native] -= 1
                self._recent_size -= 1
            if not queue:
                del self._recent[key]
                del self._kinds[key]


def _mark(cand: Candidate, kept: bytes, reason: str) -> None:
    if cand.duplicate_of is None:
        cand.duplicate_of = kept
        cand.duplicate_reason = reason
