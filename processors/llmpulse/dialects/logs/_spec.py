"""The vocabulary log (access-log) dialect tables are written in.

A log dialect reuses the span vocabulary (``A``, ``J``, ``Const`` … read from the record's
flattened fields: log attributes plus the body when it is a map or a JSON object) and adds what
only an access log has: the request path and upstream host (which tell operation and provider),
the request id (one request may be logged twice), Envoy's response flags and details (which tell
why a request failed), and logged request/response bodies (provider payloads).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmpulse.dialects._spec import Fields, Source


class LogLike(Protocol):
    """What a log source may read: the record's fields flattened, and its raw text body."""

    attrs: Mapping[str, Any]
    name: str
    scope: str
    start_ns: int
    text: str | None

    def event_offset_s(self, names: frozenset[str]) -> float | None: ...


@dataclass(frozen=True)
class LogDialect:
    """One gateway's or mesh's way of logging an LLM call."""

    name: str
    #: canonical fields (same names as span tables: ``request_model``, ``input_tokens`` …)
    fields: Fields
    #: keys whose presence with a usable value (not ``-``, not null) identifies the dialect
    markers: tuple[str, ...] = ()
    #: a test when keys are not enough (a text body in Envoy's format plus LLM labels)
    detect: Callable[[LogLike], bool] | None = None
    #: a regex for a text body; its named groups become fields (only where the key is absent)
    text_format: re.Pattern[str] | None = None
    #: request path (with query) or full URL: operation, provider, model, streaming
    paths: tuple[Source, ...] = ()
    #: authority, SNI, upstream cluster or URL: the provider and server address
    hosts: tuple[Source, ...] = ()
    #: the request id: the same request logged twice (two sidecars, a retried export) counts once
    request_ids: tuple[Source, ...] = ()
    #: Envoy %RESPONSE_FLAGS% (``UT``, ``UF``, ``RL`` …)
    response_flags: tuple[Source, ...] = ()
    #: texts that explain a failure (%RESPONSE_CODE_DETAILS%, transport failure reason)
    error_details: tuple[Source, ...] = ()
    #: logged provider request / response bodies (JSON, map, or an SSE stream)
    request_bodies: tuple[Source, ...] = ()
    response_bodies: tuple[Source, ...] = ()
    #: fields holding a JSON string that several sources read (Higress ``ai_log``): parsed once
    json_fields: tuple[str, ...] = ()
    #: providers whose input-token count in this dialect excludes cache reads/writes
    exclusive_input_providers: frozenset[str] = frozenset()
    operation_aliases: Mapping[str, str] = field(default_factory=dict)
