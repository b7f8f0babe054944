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

import contextlib
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from mypy_extensions import mypyc_attr

from llmpulse.call import LLMCall
from llmpulse.dialects import Dialect


def _tracked(value: Any) -> Any:
    return value


#: what dedup remembers for its window (its entries and the keys of covered spans: tuples of atoms)
#: leaves the cyclic collector's young generation at once (``_fields.untracked``); without the C
#: module the collector untracks them at its next pass
untracked: Callable[[Any], Any] = _tracked
with contextlib.suppress(ImportError):  # _recognise says why when LLMPULSE_REQUIRE_NATIVE=1
    from llmpulse.normalise._fields import untracked

SpanKey = tuple[bytes, bytes]


@dataclass(slots=True, init=False)
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

    # written out so that mypyc compiles it (``LLMCall.__init__``)
    def __init__(
        self,
        call: LLMCall,
        dialect: Dialect,
        resource_key: tuple[str, ...],
        trace_id: bytes,
        span_id: bytes,
        parent_id: bytes,
        start_ns: int,
        end_ns: int,
        duplicate_of: bytes | None = None,
        duplicate_reason: str | None = None,
        extras: dict[str, object] | None = None,
    ) -> None:
        self.call = call
        self.dialect = dialect
        self.resource_key = resource_key
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.duplicate_of = duplicate_of
        self.duplicate_reason = duplicate_reason
        self.extras = {} if extras is None else extras

    @property
    def counted(self) -> bool:
        return self.duplicate_of is None


#: A remembered counted call: ``(seen, start_ns, end_ns, kind, model, span_id, paired)``, where
#: ``kind`` is "SDK-native" (by resource) or "server-side" (by trace) and ``model`` is None by
#: trace (any model pairs). A plain tuple of atoms: the collector untracks it and never walks it
#: again, where ~100k remembered objects made each full collection walk them all. Pairing
#: replaces the entry with ``paired`` set.
_Entry = tuple[float, int, int, bool, str | None, bytes, bool]
_SEEN: Final = 0
_START: Final = 1
_END: Final = 2
_KIND: Final = 3
_MODEL: Final = 4
_SPAN: Final = 5
_PAIRED: Final = 6


class _Resource:
    """The counted calls remembered for one resource, oldest first, and how many are
    [not SDK-native, SDK-native]: a call pairs only with the other kind, so the scan is skipped
    when there is none (the usual case)."""

    __slots__ = ("entries", "kinds")

    def __init__(self) -> None:
        self.entries: deque[_Entry] = deque()
        self.kinds = [0, 0]


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    shortest = min(a_end - a_start, b_end - b_start)
    overlap = min(a_end, b_end) - max(a_start, b_start)
    return overlap > 0 and overlap >= 0.5 * shortest


def _nearest(start_ns: int, end_ns: int, entries: Iterable[_Entry], kind: bool, model: str | None) -> int:
    """The position (in ``entries``' order) of the unpaired entry of the other ``kind`` with a
    matching model (None matches any) that overlaps [start, end] (``_overlaps``, inlined) and
    started nearest to ``start_ns``, or -1: with concurrent calls of one model, the partner of a
    span is the one that began with it (the first of equally near ones)."""
    best = -1
    best_distance = 0
    duration = end_ns - start_ns
    for position, entry in enumerate(entries):
        if entry[_PAIRED] or entry[_KIND] == kind:
            continue
        if model is not None and entry[_MODEL] is not None and entry[_MODEL] != model:
            continue
        e_start = entry[_START]
        e_end = entry[_END]
        e_duration = e_end - e_start
        shortest = duration if duration <= e_duration else e_duration
        overlap = (end_ns if end_ns <= e_end else e_end) - (start_ns if start_ns >= e_start else e_start)
        if overlap > 0 and overlap >= 0.5 * shortest:
            distance = abs(e_start - start_ns)
            if best < 0 or distance < best_distance:
                best = position
                best_distance = distance
    return best


#: no resource key is this object (``Deduplicator._across_batches``)
_NO_KEY: Final = object()


def _paired(entry: _Entry) -> Any:
    return untracked((entry[0], entry[1], entry[2], entry[3], entry[4], entry[5], True))


# a tool may record its decisions in a subclass (benchmarks/equivalence.py), compiled or not
@mypyc_attr(allow_interpreted_subclasses=True)
class Deduplicator:
    """Marks duplicate candidates in place; keeps bounded memory of recent calls across batches."""

    __slots__ = (
        "_clock",
        "_covered",
        "_max",
        "_recent",
        "_recent_size",
        "_traces",
        "_traces_servers",
        "_traces_size",
        "_window",
    )

    def __init__(
        self, window_s: float = 60.0, max_entries: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window = window_s
        self._max = max_entries
        self._clock = clock
        self._covered: OrderedDict[SpanKey, bytes] = OrderedDict()
        #: counted calls by resource, for pairing SDK-native and instrumentor spans across batches
        self._recent: dict[tuple[str, ...], _Resource] = {}
        self._recent_size = 0
        #: counted calls by trace, least recently touched first, for server/client pairing
        self._traces: OrderedDict[bytes, tuple[_Entry, ...]] = OrderedDict()
        self._traces_size = 0
        #: how many of the ``_traces_size`` entries are server-side: a call pairs only with the
        #: other kind, so ``_nearest`` is skipped when there is none (no model server: the usual case)
        self._traces_servers = 0

    def resolve(
        self, candidates: list[Candidate], parents_of: Callable[[set[bytes]], dict[SpanKey, bytes]]
    ) -> None:
        """Decide which candidates are counted. ``parents_of`` maps span → parent for given traces."""
        if not candidates:
            return
        now = self._clock()
        self._nesting(candidates, parents_of)
        # ``duplicate_of is None`` is ``counted`` without a property call per candidate. One list
        # for the three stages: each skips what an earlier one marked (a stage marks only the
        # candidate at hand, or, in ``_siblings``, before the later stages start).
        counted = [c for c in candidates if c.duplicate_of is None]
        self._siblings(counted)
        self._across_batches(counted, now)
        self._server_client(counted, now)

    # -- nesting ---------------------------------------------------------------------------
    def _nesting(
        self, candidates: list[Candidate], parents_of: Callable[[set[bytes]], dict[SpanKey, bytes]]
    ) -> None:
        covered = self._covered
        index: dict[SpanKey, Candidate] = {}
        traces: set[bytes] = set()
        shared: set[bytes] = set()  # traces with more than one candidate
        for cand in candidates:
            trace = cand.trace_id
            key = (trace, cand.span_id)
            if covered:
                child_of = covered.get(key)
                if child_of is not None and not cand.dialect.server_side:
                    _mark(cand, child_of, "nested")
            index[key] = cand
            if trace in traces:
                shared.add(trace)
            else:
                traces.add(trace)
        parents = parents_of(shared) if shared else {}
        # bound methods once per request, not per step of every walk
        upper_of = index.get
        parent_of = parents.get
        to_end = covered.move_to_end
        limit = self._max
        for cand in candidates:
            parent = cand.parent_id
            # ``counted``, not ``duplicate_of is not None``: the walk below marks ``cand`` through
            # ``_mark``, and a type checker that narrowed the field here would assume it still
            # ``None`` after the walk (mypyc compiles that assumption into a check that fails)
            if not parent or not cand.counted:
                continue
            trace = cand.trace_id
            server = cand.dialect.server_side
            chain = []
            seen = 0
            while parent and seen < 64:
                key = (trace, parent)
                chain.append(key)
                upper = upper_of(key)
                if upper is not None and upper.duplicate_of is None:
                    keep, drop = (upper, cand) if server and not upper.dialect.server_side else (cand, upper)
                    _mark(drop, keep.span_id, "nested")
                    keep.call.fill_gaps_from(drop.call)
                    if drop is cand:
                        break
                parent = parent_of(key, b"")
                seen += 1
            if cand.duplicate_of is None and not server:
                # remember the ancestors, evicting once at the end: the same least recently
                # covered entries go as when evicting after each (entries only move to the end)
                child = cand.span_id
                for ancestor in chain:
                    covered[untracked(ancestor)] = child
                    to_end(ancestor)
                while len(covered) > limit:
                    covered.popitem(last=False)

    # -- siblings in one batch ---------------------------------------------------------------
    def _siblings(self, counted: list[Candidate]) -> None:
        natives = [c for c in counted if c.dialect.sdk_native]
        if not natives:
            return
        others = [c for c in counted if not c.dialect.sdk_native]
        for native in natives:
            # the closest start among the overlapping partners (see ``_nearest``)
            best: Candidate | None = None
            model = native.call.request_model
            for other in others:
                if (
                    other.duplicate_of is None
                    and other.resource_key == native.resource_key
                    and (
                        model is None or other.call.request_model is None or other.call.request_model == model
                    )
                    and _overlaps(native.start_ns, native.end_ns, other.start_ns, other.end_ns)
                    and (
                        best is None
                        or abs(other.start_ns - native.start_ns) < abs(best.start_ns - native.start_ns)
                    )
                ):
                    best = other
            if best is not None:
                _mark(best, native.span_id, "sdk_sibling")
                native.call.fill_gaps_from(best.call)

    # -- partners in earlier batches ----------------------------------------------------------
    def _across_batches(self, counted: list[Candidate], now: float) -> None:
        window = self._window
        resources = self._recent
        limit = self._max
        # Candidates come grouped by resource (one resource key object per resource in the
        # request): the previous candidate's resource is reused without hashing the key again,
        # and its window was already applied for this ``now`` (entries are only added here with
        # ``seen == now``, and ``_evict``, which may drop resources, forgets it).
        last_key: object = _NO_KEY
        resource = _Resource()  # replaced at the first candidate (``last_key`` matches no key)
        entries = resource.entries
        kinds = resource.kinds
        size = self._recent_size  # written back before ``_evict`` and at the end
        try:
            for cand in counted:
                if cand.duplicate_of is not None:  # a sibling in this batch
                    continue
                native = cand.dialect.sdk_native
                key = cand.resource_key
                if key is not last_key or window < 0:
                    found_resource = resources.get(key)
                    if found_resource is None:
                        found_resource = resources[key] = _Resource()
                    resource = found_resource
                    last_key = key
                    entries = resource.entries
                    kinds = resource.kinds
                    while entries and now - entries[0][_SEEN] > window:
                        kinds[entries.popleft()[_KIND]] -= 1
                        size -= 1
                if entries and kinds[not native]:
                    # as within a batch, among the 512 newest: with concurrent calls of one
                    # model the first overlapping one may be the other call's
                    found = _nearest(
                        cand.start_ns,
                        cand.end_ns,
                        itertools.islice(reversed(entries), 512),
                        native,
                        cand.call.request_model,
                    )
                    if found >= 0:
                        entry = entries[-1 - found]
                        entries[-1 - found] = _paired(entry)
                        _mark(cand, entry[_SPAN], "sdk_sibling")
                        continue
                entries.append(
                    untracked(
                        (
                            now,
                            cand.start_ns,
                            cand.end_ns,
                            native,
                            cand.call.request_model,
                            cand.span_id,
                            False,
                        )
                    )
                )
                kinds[native] += 1
                size += 1
                if size > limit:
                    self._recent_size = size
                    self._evict()
                    size = self._recent_size
                    last_key = _NO_KEY
        finally:
            self._recent_size = size

    # -- a model server's span and the app's call span, exported apart ----------------------
    def _server_client(self, counted: list[Candidate], now: float) -> None:
        traces = self._traces
        window = self._window
        while traces:
            oldest = next(iter(traces.values()))
            if now - oldest[-1][_SEEN] <= window:
                break
            self._forget_oldest_trace()
        # within one request the client's view is kept, as when the parent chain is visible:
        # client-side candidates first (a stable partition, as a sort on ``server_side``)
        order = counted
        for cand in counted:
            if cand.dialect.server_side:
                order = [c for c in counted if not c.dialect.server_side]
                order += [c for c in counted if c.dialect.server_side]
                break
        limit = self._max
        # the candidates remembered so far in this request, for the fill-in when one pairs
        # (a list: the lookup by span happens only on a pair, which is rare)
        added: list[Candidate] = []
        remember = added.append
        size = self._traces_size  # the counts as locals, written back when the loop ends
        servers = self._traces_servers
        try:
            for cand in order:
                if cand.duplicate_of is not None:  # marked by an earlier stage
                    continue
                server = cand.dialect.server_side
                trace = cand.trace_id
                entries = traces.get(trace)
                if entries is not None:
                    # only the other kind pairs: look when some entry (of any trace) is of it
                    if size - servers if server else servers:
                        found = _nearest(cand.start_ns, cand.end_ns, entries, server, None)
                        if found >= 0:
                            entry = entries[found]
                            traces[trace] = untracked(
                                (*entries[:found], _paired(entry), *entries[found + 1 :])
                            )
                            _mark(cand, entry[_SPAN], "nested")
                            kept = _last_of_span(added, entry[_SPAN])
                            if kept is not None:
                                kept.call.fill_gaps_from(cand.call)
                            continue
                    traces.move_to_end(trace)
                    traces[trace] = untracked(
                        (
                            *entries,
                            untracked((now, cand.start_ns, cand.end_ns, server, None, cand.span_id, False)),
                        )
                    )
                else:
                    traces[trace] = untracked(
                        (untracked((now, cand.start_ns, cand.end_ns, server, None, cand.span_id, False)),)
                    )
                remember(cand)
                size += 1
                if server:
                    servers += 1
                while size > limit and traces:
                    dropped = traces.popitem(last=False)[1]
                    size -= len(dropped)
                    if servers:
                        servers -= _servers_in(dropped)
        finally:
            self._traces_size = size
            self._traces_servers = servers

    def _forget_oldest_trace(self) -> None:
        """Drop the least recently touched trace's entries (window or bound)."""
        entries = self._traces.popitem(last=False)[1]
        self._traces_size -= len(entries)
        if self._traces_servers:
            self._traces_servers -= _servers_in(entries)

    def _evict(self) -> None:
        """Forget the oldest calls of each resource in turn until half the bound is left.

        A resource's share goes at once: the resource itself when all of its calls go, else
        its oldest calls, and when those are of one kind (the usual case) that kind's count
        drops by their number without reading each entry."""
        resources = self._recent
        half = self._max // 2
        size = self._recent_size
        for key in list(resources):
            resource = resources[key]
            entries = resource.entries
            drop = min(len(entries), size - half)
            if not entries or drop == len(entries):
                size -= len(entries)
                del resources[key]
            elif drop > 0:
                kinds = resource.kinds
                if kinds[0] and kinds[1]:
                    for _ in range(drop):
                        kinds[entries.popleft()[_KIND]] -= 1
                else:
                    popleft = entries.popleft
                    for _ in range(drop):
                        popleft()
                    kinds[bool(kinds[1])] -= drop
                size -= drop
        self._recent_size = size


def _servers_in(entries: tuple[_Entry, ...]) -> int:
    """How many of one trace's remembered entries are server-side."""
    return sum(1 for entry in entries if entry[_KIND])


def _last_of_span(added: list[Candidate], span_id: bytes) -> Candidate | None:
    """The last of ``added`` whose span is ``span_id``, if any."""
    for cand in reversed(added):
        if cand.span_id == span_id:
            return cand
    return None


def _mark(cand: Candidate, kept: bytes, reason: str) -> None:
    if cand.duplicate_of is None:
        cand.duplicate_of = kept
        cand.duplicate_reason = reason
