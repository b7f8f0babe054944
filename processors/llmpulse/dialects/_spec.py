"""The vocabulary dialect tables are written in.

A dialect is data: where each canonical field may be read (in order of preference), how to tell
the dialect's spans apart, which of its spans are calls, and its known quirks (input tokens that
exclude cache, TTFT that is only meaningful when streaming). The engine in
``llmpulse.normalise`` reads these tables; it has no per-dialect branches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SpanLike(Protocol):
    """What a source may read: the flattened attributes and a few span facts."""

    attrs: Mapping[str, Any]
    name: str
    scope: str
    start_ns: int

    def event_offset_s(self, names: frozenset[str]) -> float | None: ...


@dataclass(frozen=True, slots=True)
class A:
    """An attribute, optionally scaled (ms → s) and marking the call as streamed when present."""

    key: str
    scale: float = 1.0
    implies_streaming: bool = False

    def read(self, span: SpanLike) -> Any:
        return span.attrs.get(self.key)


@dataclass(frozen=True, slots=True)
class J:
    """A value inside a structured attribute (JSON string, Python repr or map)."""

    key: str
    path: tuple[str, ...]
    scale: float = 1.0
    implies_streaming: bool = False

    def read(self, span: SpanLike) -> Any:
        from llmpulse.normalise._values import dig

        raw = span.attrs.get(self.key)
        return None if raw is None else dig(raw, self.path)


@dataclass(frozen=True, slots=True)
class Event:
    """Seconds from span start to the first event with one of ``names`` (first chunk events)."""

    names: frozenset[str]
    implies_streaming: bool = True
    scale: float = 1.0

    def read(self, span: SpanLike) -> Any:
        return span.event_offset_s(self.names)


@dataclass(frozen=True, slots=True)
class Name:
    """A regex group of the span name, optionally mapped (``doStream`` → ``True``)."""

    pattern: re.Pattern[str]
    group: str
    mapping: Mapping[str, Any] | None = None
    scale: float = 1.0
    implies_streaming: bool = False

    def read(self, span: SpanLike) -> Any:
        match = self.pattern.search(span.name)
        if match is None:
            return None
        value = match.group(self.group)
        return self.mapping.get(value) if self.mapping is not None else value


@dataclass(frozen=True, slots=True)
class Scope:
    """A regex group of the instrumentation scope name (``openlit.instrumentation.anthropic``)."""

    pattern: re.Pattern[str]
    group: str
    scale: float = 1.0
    implies_streaming: bool = False

    def read(self, span: SpanLike) -> Any:
        match = self.pattern.search(span.scope)
        return None if match is None else match.group(self.group)


@dataclass(frozen=True, slots=True)
class Mapped:
    """An attribute whose values are translated through a table (``LLM`` → ``chat``)."""

    key: str
    mapping: Mapping[str, Any]
    scale: float = 1.0
    implies_streaming: bool = False

    def read(self, span: SpanLike) -> Any:
        raw = span.attrs.get(self.key)
        return self.mapping.get(raw) if isinstance(raw, str) else None


@dataclass(frozen=True, slots=True)
class Since:
    """Seconds from span start to an ISO-8601 timestamp attribute (Langfuse completion_start_time)."""

    key: str
    implies_streaming: bool = False
    scale: float = 1.0

    def read(self, span: SpanLike) -> Any:
        raw = span.attrs.get(self.key)
        if not isinstance(raw, str):
            return None
        text = raw.strip().strip('"')
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            return None
        # whole microseconds on both sides: float epoch seconds lose ~0.2 µs at today's epoch
        moment_us = (moment - _EPOCH) // timedelta(microseconds=1)
        delta = (moment_us - span.start_ns // 1000) / 1e6
        return delta if delta >= 0 else None


@dataclass(frozen=True, slots=True)
class Const:
    """A value the dialect implies (vLLM spans are always served by vLLM)."""

    value: Any
    scale: float = 1.0
    implies_streaming: bool = False

    def read(self, span: SpanLike) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class Sum:
    """The sum of the parts that hold a count, ``None`` when none does.

    For usage split into disjoint buckets that together make the canonical count (Langfuse's
    ``input`` + ``input_cache_read`` + ``input_cache_creation``).
    """

    parts: tuple[A | J, ...]
    scale: float = 1.0
    implies_streaming: bool = False

    def read(self, span: SpanLike) -> Any:
        from llmpulse.normalise._values import as_int

        counts = [as_int(part.read(span)) for part in self.parts]
        known = [count for count in counts if count is not None]
        return sum(known) if known else None


Source = A | J | Event | Name | Scope | Mapped | Since | Const | Sum
Fields = Mapping[str, tuple[Source, ...]]

#: The canonical fields a table may fill. Error evidence (status, exception events) is read by
#: the engine for every dialect; ``error_type``/``error_code``/``error_message`` add to it.
FIELD_NAMES = (
    "operation",
    "provider",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "streaming",
    "ttft_s",
    "duration_s",
    "finish_reasons",
    "error_type",
    "error_code",
    "error_message",
    "failed",
    "http_status",
    "server_address",
    "response_id",
    "reported_cost_usd",
)


def extend(base: Fields, **more: tuple[Source, ...]) -> dict[str, tuple[Source, ...]]:
    """``base`` with ``more`` sources tried first for each named field."""
    unknown = set(more) - set(FIELD_NAMES)
    if unknown:
        raise ValueError(f"unknown canonical field(s): {sorted(unknown)}")
    merged = dict(base)
    for name, sources in more.items():
        merged[name] = tuple(sources) + tuple(base.get(name, ()))
    return merged


@dataclass(frozen=True)
class Dialect:
    """One instrumentation library's way of describing an LLM call."""

    name: str
    fields: Fields
    #: instrumentation-scope name prefixes that identify the dialect
    scopes: tuple[str, ...] = ()
    #: attribute keys whose presence identifies the dialect
    markers: tuple[str, ...] = ()
    #: a value-based test when keys are not enough (LiteLLM's ``"True"`` strings)
    detect: Callable[[SpanLike], bool] | None = None
    #: span names that are never calls: aggregates of their children, raw duplicates
    not_calls: re.Pattern[str] | None = None
    #: attribute (key, values) that make a span a call, when the dialect marks calls that way
    call_marker: tuple[str, frozenset[str]] | None = None
    #: providers whose input-token count excludes cache reads/writes in this dialect
    exclusive_input_providers: frozenset[str] = frozenset()
    #: attributes that, when present, mean input tokens are inclusive whatever the provider
    inclusive_markers: tuple[str, ...] = ()
    #: the TTFT fields mean something only on streamed calls (OpenLIT sets them to the duration)
    ttft_requires_streaming: bool = False
    operation_aliases: Mapping[str, str] = field(default_factory=dict)
    provider_aliases: Mapping[str, str | None] = field(default_factory=dict)
    #: the provider SDK's own span: preferred over an instrumentor's span of the same call
    sdk_native: bool = False
    #: the span is server-side (a model server), never an app's client call
    server_side: bool = False
