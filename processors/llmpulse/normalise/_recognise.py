"""Recognise LLM calls in spans and normalise them with the dialect tables.

The engine is table-driven: which dialect a span speaks comes from its scope or marker
attributes; every field is read from the first source of the dialect's table that holds a
usable value. The quirks (exclusive input tokens, TTFT only on streams) are flags of the table.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from llmpulse.call import INFERENCE_OPERATIONS, LLMCall
from llmpulse.dialects import DIALECTS, Dialect
from llmpulse.dialects._spec import A, Event, J, Mapped, Since, Sum
from llmpulse.normalise._names import host_of, operation_name, provider_name
from llmpulse.normalise._values import (
    MAX_LABEL_CHARS,
    MAX_SECONDS,
    MAX_TOKENS,
    MISSING,
    as_bool,
    as_float,
    as_int,
    as_str,
    as_str_list,
    parse_structured,
    walk,
)
from llmpulse.otlp import attrs_to_dict
from llmpulse.otlp.scan import SpanHead, span_head

try:  # the plan walk in C (setup.py builds it); _read_fields below is its pure-Python twin
    from llmpulse.normalise._fields import configure, read_fields

    configure(MISSING, MAX_TOKENS, MAX_LABEL_CHARS, MAX_SECONDS * 1000)
    _native_read_fields: Callable[..., tuple[dict[str, Any], bool]] | None = read_fields
except ImportError as exc:
    if os.environ.get("LLMPULSE_REQUIRE_NATIVE") == "1":
        raise ImportError(
            "LLMPULSE_REQUIRE_NATIVE=1 but llmpulse.normalise._fields is not built: "
            "install a C compiler and reinstall llmpulse (`pip install -e .`)"
        ) from exc
    _native_read_fields = None


def _float(raw: Any, scale: float) -> float | None:
    return as_float(raw, scale)


def _int(raw: Any, scale: float) -> int | None:
    return as_int(raw)


def _bool(raw: Any, scale: float) -> bool | None:
    return as_bool(raw)


def _str(raw: Any, scale: float) -> str | None:
    return as_str(raw)


def _strs(raw: Any, scale: float) -> list[str] | None:
    return as_str_list(raw) or None


#: the parsers ``_fields.read_fields`` has a fast path for (the common types of each), by code
_FAST_PATHS: dict[Callable[[Any, float], Any], int] = {_int: 1, _str: 2, _float: 3, _bool: 4, _strs: 5}

_PARSERS: dict[str, Callable[[Any, float], Any]] = {
    "operation": _str,
    "provider": _str,
    "request_model": _str,
    "response_model": _str,
    "input_tokens": _int,
    "output_tokens": _int,
    "cache_read_tokens": _int,
    "cache_write_tokens": _int,
    "reasoning_tokens": _int,
    "streaming": _bool,
    "ttft_s": _float,
    "duration_s": _float,
    "finish_reasons": _strs,
    "error_type": _str,
    "error_code": _str,
    "error_message": _str,
    "failed": _bool,
    "http_status": _int,
    "server_address": _str,
    "response_id": _str,
    "reported_cost_usd": _float,
}


@dataclass(slots=True, init=False)
class SpanView:
    """A span's attributes flattened once, with the facts dialect sources read: its own fields
    come from its ``head`` (``read_span``), not from a upb read each."""

    span: Span
    attrs: Mapping[str, Any]
    scope: str
    name: str = ""
    start_ns: int = 0
    end_ns: int = 0
    status_code: int = 0
    status_message: str = ""
    #: ``(name, time_unix_nano)`` of each event, in order
    events: tuple[tuple[str, int], ...] = ()
    #: ``(event index, key, text)`` of each ``exception.type``/``exception.message`` event
    #: attribute with a string value, in order
    exception_texts: tuple[tuple[int, str, str], ...] = ()

    # written out so that mypyc compiles it (``LLMCall.__init__``)
    def __init__(
        self, span: Span, attrs: Mapping[str, Any], scope: str, head: SpanHead | None = None
    ) -> None:
        self.span = span
        self.attrs = attrs
        self.scope = scope
        if head is None:
            head = span_head(span)
        self.name = head[3]
        self.start_ns = head[4]
        self.end_ns = head[5]
        self.status_code = head[6]
        self.status_message = head[7]
        self.events = head[8]
        self.exception_texts = head[10]

    def event_offset_s(self, names: frozenset[str]) -> float | None:
        for name, time_unix_nano in self.events:
            if name in names:
                offset = (time_unix_nano - self.start_ns) / 1e9
                return offset if offset >= 0 else None
        return None


@dataclass(slots=True, init=False)
class ErrorEvidence:
    """Everything that may say a call failed and why, for the error classifier."""

    failed: bool = False
    http_status: int | None = None
    texts: list[str] = field(default_factory=list)
    raw: str | None = None

    def __init__(
        self,
        failed: bool = False,
        http_status: int | None = None,
        texts: list[str] | None = None,
        raw: str | None = None,
    ) -> None:
        self.failed = failed
        self.http_status = http_status
        self.texts = [] if texts is None else texts
        self.raw = raw


class Recogniser:
    """Tells which dialect a span speaks and turns its LLM calls into ``LLMCall`` records."""

    def __init__(self, dialects: tuple[Dialect, ...] = DIALECTS) -> None:
        self._dialects = dialects
        self._scope_cache: dict[str, Dialect | None] = {}
        #: ``not_calls`` matched against a span name, by (pattern, name): names repeat from call
        #: to call, and a pattern with a lookahead (Vercel AI's) costs microseconds a search
        self._not_call_cache: dict[tuple[re.Pattern[str], str], bool] = {}

    def values_read(self) -> frozenset[str]:
        """The attributes whose values the dialects read: their tables' sources and call markers.
        Markers and detectors test other keys for presence, or read keys that are not content
        (``tests/normalise/test_values_read.py`` holds them to it), so a content attribute outside
        this set need not be decoded at all: redaction drops or masks it without reading it."""
        keys: set[str] = set()
        for dialect in self._dialects:
            keys |= _table(dialect).keys
            if dialect.call_marker is not None:
                keys.add(dialect.call_marker[0])
        return frozenset(keys)

    def scope_dialect(self, scope: str) -> Dialect | None:
        """The dialect an instrumentation scope belongs to, if its name says so (cached)."""
        try:
            return self._scope_cache[scope]
        except KeyError:
            pass
        found = next((d for d in self._dialects if scope and scope.startswith(d.scopes)), None)
        if len(self._scope_cache) > 4096:
            self._scope_cache.clear()
        self._scope_cache[scope] = found
        return found

    def _not_call(self, pattern: re.Pattern[str], name: str) -> bool:
        key = (pattern, name)
        found = self._not_call_cache.get(key)
        if found is None:
            found = pattern.search(name) is not None
            if len(self._not_call_cache) >= 4096:
                self._not_call_cache.clear()
            self._not_call_cache[key] = found
        return found

    def dialect_for(self, view: SpanView, scope_dialect: Dialect | None) -> Dialect | None:
        if scope_dialect is not None:
            return scope_dialect
        has = view.attrs.__contains__
        for dialect in self._dialects:
            if any(map(has, dialect.markers)):
                return dialect
            if dialect.detect is not None and dialect.detect(view):
                return dialect
        return None

    def recognise(
        self,
        span: Span,
        scope: str,
        scope_dialect: Dialect | None,
        attrs: dict[str, Any] | None = None,
        head: SpanHead | None = None,
    ) -> tuple[LLMCall, Dialect, SpanView, ErrorEvidence] | None:
        """The call a span describes, or ``None`` when it is not an LLM call. ``attrs``: the
        span's attributes as ``attrs_to_dict`` gives them, and ``head`` its own fields as
        ``read_span`` gives them, when the caller has read them."""
        if attrs is None:
            attrs = attrs_to_dict(span.attributes)
        view = SpanView(span, attrs, scope, head)
        dialect = self.dialect_for(view, scope_dialect)
        if dialect is None:
            return None
        if dialect.not_calls is not None and self._not_call(dialect.not_calls, view.name):
            return None
        if dialect.call_marker is not None:
            key, accepted = dialect.call_marker
            marker = view.attrs.get(key)
            # not a string (an array or a map is not even hashable): not one of the accepted kinds
            if key in view.attrs and (not isinstance(marker, str) or marker not in accepted):
                return None
        values, implied_streaming = _read_fields(dialect, view)
        call = _build_call(dialect, view, values, implied_streaming)
        if call is None:
            return None
        return call, dialect, view, _error_evidence(view, values)


#: how a source is read in ``_read_fields``: a plain attribute (``dict`` lookup), a value inside a
#: structured attribute (parsed once per span however many paths read it), or the source's
#: ``read``; ``_EVENTS`` is ``read`` of a source of the span's events (the C walk skips it for a
#: span without events, nearly every one, rather than call it to find none)
_ATTR, _JSON, _READ, _EVENTS = 0, 1, 2, 3
#: (how, attribute key, source, scale, implies_streaming)
_Step = tuple[int, str, Any, float, bool]
#: (field, parser, steps) for the fields a span can fill, in table order
_Plan = tuple[tuple[str, Callable[[Any, float], Any], tuple[_Step, ...]], ...]
#: a step and the attributes without which it reads nothing
_Entry = tuple[_Step, frozenset[str] | None]
#: a step for ``_fields.read_fields``: ``_Step`` and those attributes (``None``: it reads other facts)
_NativeStep = tuple[int, str, Any, float, bool, tuple[str, ...] | None]


def _source_keys(source: Any) -> frozenset[str] | None:
    """The attributes without which ``source`` reads nothing (``None``: it reads other facts)."""
    if isinstance(source, (A, J, Mapped, Since)):
        return frozenset((source.key,))
    if isinstance(source, Sum):
        return frozenset(part.key for part in source.parts)
    return None


class _Table:
    """A dialect's table prepared once for the hot path.

    Most sources of a table are absent from any one span. The C walk (``_fields.read_fields``)
    takes the whole table (``native``) and skips a source whose attributes are absent with a
    dict lookup; the Python walk cuts the plan down to the fields and sources the span's set of
    table keys can fill, cached by that set (it varies little: content keys and other extras are
    not part of it). Alias lookups are cached per raw value."""

    __slots__ = (
        "_op_aliases",
        "_plans",
        "_prov_aliases",
        "_steps",
        "dialect",
        "keys",
        "native",
        "operations",
        "providers",
    )

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        steps: list[tuple[str, Callable[[Any, float], Any], tuple[_Entry, ...]]] = []
        native: list[tuple[str, Callable[[Any, float], Any], int, tuple[_NativeStep, ...]]] = []
        keys: set[str] = set()
        for name, sources in dialect.fields.items():
            entries = []
            for source in sources:
                needs = _source_keys(source)
                keys.update(needs or ())
                how, key = _EVENTS if type(source) is Event else _READ, ""
                if type(source) is A or type(source) is J:
                    how, key = _ATTR if type(source) is A else _JSON, source.key
                entries.append(((how, key, source, source.scale, source.implies_streaming), needs))
            parse = _PARSERS[name]
            steps.append((name, parse, tuple(entries)))
            native_steps = tuple((*step, None if need is None else tuple(need)) for step, need in entries)
            native.append((name, parse, _FAST_PATHS.get(parse, 0), native_steps))
        self.keys = frozenset(keys)
        self._steps = tuple(steps)
        self.native = tuple(native)
        self._plans: dict[frozenset[str], _Plan] = {}
        self.operations: dict[str, str] = {}
        self.providers: dict[str, str | None] = {}
        self._op_aliases = dict(dialect.operation_aliases)
        self._prov_aliases = dict(dialect.provider_aliases)

    def plan(self, present: frozenset[str]) -> _Plan:
        """The steps that can yield a value when exactly ``present`` of the table's keys are set."""
        plan = self._plans.get(present)
        if plan is None:
            fields = []
            for name, parse, entries in self._steps:
                kept = tuple(step for step, need in entries if need is None or not need.isdisjoint(present))
                if kept:
                    fields.append((name, parse, kept))
            plan = tuple(fields)
            if len(self._plans) >= 1024:
                self._plans.clear()
            self._plans[present] = plan
        return plan

    def operation(self, raw: str) -> str:
        found = self.operations.get(raw)
        if found is None:
            found = operation_name(raw, self._op_aliases)
            if len(self.operations) >= 4096:
                self.operations.clear()
            self.operations[raw] = found
        return found

    def provider(self, raw: str) -> str | None:
        try:
            return self.providers[raw]
        except KeyError:
            pass
        found = provider_name(raw, self._prov_aliases)
        if len(self.providers) >= 4096:
            self.providers.clear()
        self.providers[raw] = found
        return found


_TABLES: dict[int, _Table] = {}


def _table(dialect: Dialect) -> _Table:
    table = _TABLES.get(id(dialect))
    if table is None or table.dialect is not dialect:
        if len(_TABLES) > 256:
            _TABLES.clear()
        table = _TABLES[id(dialect)] = _Table(dialect)
    return table


def _read_fields(dialect: Dialect, view: SpanView) -> tuple[dict[str, Any], bool]:
    """Each field's value from the first of its sources that holds a usable one, and whether
    that source implies a stream. ``_fields.read_fields`` walks the same plan in C."""
    table = _table(dialect)
    attrs = view.attrs
    if _native_read_fields is not None:
        return _native_read_fields(attrs, table.native, view, _read_source)
    values: dict[str, Any] = {}
    implied_streaming = False
    structured: dict[str, Any] = {}
    for name, parse, steps in table.plan(table.keys.intersection(attrs)):
        for step in steps:
            how, key, _, scale, implies = step
            raw = attrs.get(key) if how == _ATTR else _read_source(step, view, structured)
            if raw is None:
                continue
            value = parse(raw, scale)
            if value is None:
                continue
            values[name] = value
            implied_streaming = implied_streaming or implies
            break
    return values, implied_streaming


def _read_source(step: _Step | _NativeStep, view: SpanView, structured: dict[str, Any]) -> Any:
    """The raw value of a source that is not a plain attribute: a path inside a structured
    attribute (parsed once per span, in ``structured``, however many paths read it), or what
    the source's ``read`` finds."""
    how, key, source = step[:3]
    if how != _JSON:
        return source.read(view)
    if key in structured:
        node = structured[key]
    else:
        raw = view.attrs.get(key)
        node = structured[key] = None if raw is None else _parsed(raw)
    return None if node is None else walk(node, source.path)


#: short structured attributes parsed before, by their text: invocation parameters and the like
#: repeat from call to call (``walk`` only reads what it is given, so one parse serves them all)
_PARSED: dict[str, Any] = {}


def _parsed(raw: Any) -> Any:
    if type(raw) is not str or len(raw) > 2048:
        return parse_structured(raw)
    try:
        return _PARSED[raw]
    except KeyError:
        pass
    if len(_PARSED) >= 1024:
        _PARSED.clear()
    node = _PARSED[raw] = parse_structured(raw)
    return node


def _build_call(
    dialect: Dialect, view: SpanView, values: dict[str, Any], implied_streaming: bool
) -> LLMCall | None:
    table = _table(dialect)
    raw_op = values.get("operation")
    operation = table.operation(raw_op) if raw_op else None
    if operation is None:
        tokens_known = "input_tokens" in values or "output_tokens" in values
        model_known = "request_model" in values or "response_model" in values
        if not (tokens_known and model_known):
            return None
    elif operation not in INFERENCE_OPERATIONS:
        return None

    raw_provider = values.get("provider")
    provider = table.provider(raw_provider) if raw_provider else None

    input_tokens = values.get("input_tokens")
    cache_read = values.get("cache_read_tokens")
    cache_write = values.get("cache_write_tokens")
    if (
        input_tokens is not None
        and provider in dialect.exclusive_input_providers
        and not any(k in view.attrs for k in dialect.inclusive_markers)
    ):
        input_tokens += (cache_read or 0) + (cache_write or 0)

    duration = values.get("duration_s")
    if duration is None:
        start, end = view.start_ns, view.end_ns
        if end >= start > 0:
            duration = (end - start) / 1e9

    streaming = values.get("streaming")
    if streaming is None and implied_streaming:
        streaming = True
    ttft = values.get("ttft_s")
    if ttft is not None and (
        (dialect.ttft_requires_streaming and streaming is not True)
        or (duration is not None and ttft > duration + 0.001)
    ):
        ttft = None

    http_status = values.get("http_status")
    if http_status is not None and not 100 <= http_status <= 599:
        http_status = None
    server = values.get("server_address")

    return LLMCall(
        dialect=dialect.name,
        operation=operation,
        provider=provider,
        request_model=values.get("request_model"),
        response_model=values.get("response_model"),
        input_tokens=input_tokens,
        output_tokens=values.get("output_tokens"),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=values.get("reasoning_tokens"),
        streaming=streaming,
        ttft_s=ttft,
        duration_s=duration,
        finish_reasons=values.get("finish_reasons") or [],
        http_status=http_status,
        server_address=host_of(server) if server else None,
        response_id=values.get("response_id"),
        reported_cost_usd=values.get("reported_cost_usd"),
    )


#: Span events that record an exception: the OTel ``exception`` event, and the GenAI semconv v1.41
#: ``gen_ai.client.operation.exception`` event (same ``exception.*`` attributes).
EXCEPTION_EVENTS = frozenset({"exception", "gen_ai.client.operation.exception"})


def _error_evidence(view: SpanView, values: dict[str, Any]) -> ErrorEvidence:
    evidence = ErrorEvidence(http_status=values.get("http_status"))
    if view.status_code == Status.STATUS_CODE_ERROR:
        evidence.failed = True
        message = view.status_message
        if message:
            evidence.texts.append(message[:2000])
    if values.get("failed"):
        evidence.failed = True
    for key in ("error_type", "error_code", "error_message"):
        text = values.get(key)
        if text:
            # a message alone is no failure (Langfuse keeps a status_message on warnings too);
            # it only explains one that the status, level, type or code declares
            evidence.failed = evidence.failed or key != "error_message"
            evidence.texts.append(text)
            evidence.raw = evidence.raw or text
    # the exception events' texts come with the head (``read_span``): the span is not decoded
    events = view.events
    if any(name in EXCEPTION_EVENTS for name, _ in events):
        evidence.failed = True
        for index, key, text in view.exception_texts:
            if events[index][0] in EXCEPTION_EVENTS:
                text = text[:2000]
                evidence.texts.append(text)
                if key == "exception.type" and evidence.raw is None:
                    evidence.raw = text
    if evidence.http_status is not None and evidence.http_status >= 400:
        evidence.failed = True
    if evidence.raw is None and evidence.texts:
        evidence.raw = evidence.texts[0]
    return evidence
