"""Recognise LLM calls in access-log records with the log dialect tables.

Same approach as spans (``normalise._recognise``): the dialect is picked by marker keys or a
``detect`` test, every field comes from the first source of the table holding a usable value
(parsed leniently: ``"42"``, ``"-"``, ms), and quirks are flags of the table. What only access
logs need is added here, still table-driven: operation/provider/model from the request path and
upstream host (``_routes``), and logged provider bodies (``_bodies``), which fill what the log's
own fields do not say.

A record is a call when it names a model and, if its operation is known, the operation is an
inference (``count_tokens`` or ``/v1/models`` are not calls).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from llmpulse.accesslogs._bodies import BodyFacts, parse_request, parse_response
from llmpulse.accesslogs._routes import RouteFacts, host_of, provider_of_host, route_of
from llmpulse.accesslogs._view import LogView, view_of
from llmpulse.call import INFERENCE_OPERATIONS, LLMCall
from llmpulse.dialects._spec import Source
from llmpulse.dialects.logs import LOG_DIALECTS, LogDialect
from llmpulse.dialects.logs._envoy import FAILURE_FLAGS
from llmpulse.normalise._names import operation_name, provider_name
from llmpulse.normalise._values import (
    MISSING,
    as_bool,
    as_float,
    as_int,
    as_str,
    as_str_list,
    parse_structured,
)

_PARSERS: dict[str, Callable[[Any, float], Any]] = {
    "operation": lambda v, s: as_str(v),
    "provider": lambda v, s: as_str(v),
    "request_model": lambda v, s: as_str(v),
    "response_model": lambda v, s: as_str(v),
    "input_tokens": lambda v, s: as_int(v),
    "output_tokens": lambda v, s: as_int(v),
    "cache_read_tokens": lambda v, s: as_int(v),
    "cache_write_tokens": lambda v, s: as_int(v),
    "reasoning_tokens": lambda v, s: as_int(v),
    "streaming": lambda v, s: as_bool(v),
    "ttft_s": as_float,
    "duration_s": as_float,
    "finish_reasons": lambda v, s: as_str_list(v) or None,
    "http_status": lambda v, s: as_int(v),
    "response_id": lambda v, s: as_str(v),
}

#: A provider value is trusted only if it looks like one (``openai``, ``azure.ai.openai``): Envoy
#: AI Gateway's documented format puts a backend resource name (with ``/``) there.
_PROVIDER_TOKEN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
#: %RESPONSE_CODE_DETAILS% values that say nothing about a failure
_UNINFORMATIVE_DETAILS = frozenset({"via_upstream", "-", "", "response_payload_too_large_for_log"})


@dataclass(slots=True)
class LogEvidence:
    """Everything in the record that may say the call failed and why."""

    failed: bool = False
    texts: list[str] = field(default_factory=list)
    raw: str | None = None


@dataclass(slots=True)
class Recognised:
    call: LLMCall
    dialect: LogDialect
    view: LogView
    evidence: LogEvidence
    request_id: str | None


def usable(value: Any) -> bool:
    """A marker counts only with a real value: Envoy writes ``"-"`` and JSON ``null`` for none."""
    if value is None:
        return False
    return not (isinstance(value, str) and value.strip() in MISSING)


class LogRecogniser:
    """Tells which log dialect a record speaks and turns it into an ``LLMCall``."""

    def __init__(self, dialects: tuple[LogDialect, ...] = LOG_DIALECTS) -> None:
        self.dialects = dialects

    def dialect_for(self, view: LogView) -> LogDialect | None:
        attrs = view.attrs
        for dialect in self.dialects:
            if any(usable(attrs.get(key)) for key in dialect.markers):
                return dialect
            if dialect.detect is not None and dialect.detect(view):
                return dialect
        return None

    def recognise(
        self, record: LogRecord, scope: str, attributes: dict[str, Any] | None = None
    ) -> Recognised | None:
        view = view_of(record, scope, attributes)
        dialect = self.dialect_for(view)
        if dialect is None:
            return None
        if dialect.text_format is not None and view.text is not None:
            match = dialect.text_format.match(view.text)
            if match is not None:
                parsed = {k: v for k, v in match.groupdict().items() if v is not None}
                view.attrs = {**parsed, **view.attrs}
        if dialect.json_fields:
            parsed_fields = {
                key: parse_structured(view.attrs[key])
                for key in dialect.json_fields
                if isinstance(view.attrs.get(key), str)
            }
            view.attrs = {**view.attrs, **{k: v for k, v in parsed_fields.items() if isinstance(v, dict)}}
        return _build(dialect, view)


def _first(sources: tuple[Source, ...], view: LogView) -> Any:
    for source in sources:
        raw = source.read(view)
        if usable(raw):
            return raw
    return None


def _read_fields(dialect: LogDialect, view: LogView) -> tuple[dict[str, Any], bool]:
    values: dict[str, Any] = {}
    implied_streaming = False
    for name, sources in dialect.fields.items():
        parse = _PARSERS[name]
        for source in sources:
            raw = source.read(view)
            if raw is None:
                continue
            value = parse(raw, source.scale)
            if value is None:
                continue
            values[name] = value
            implied_streaming = implied_streaming or source.implies_streaming
            break
    return values, implied_streaming


def _hosts(dialect: LogDialect, view: LogView) -> tuple[str | None, str | None]:
    """(server address, provider from host): the first host named, the first host that is known."""
    address: str | None = None
    provider: str | None = None
    for source in dialect.hosts:
        raw = source.read(view)
        if not usable(raw) or not isinstance(raw, str):
            continue
        host = host_of(raw)
        if host is None:
            continue
        address = address or host
        provider = provider or provider_of_host(host)
        if provider is not None:
            break
    return address, provider


def _build(dialect: LogDialect, view: LogView) -> Recognised | None:
    values, implied_streaming = _read_fields(dialect, view)
    path = _first(dialect.paths, view)
    route = route_of(path) if isinstance(path, str) else RouteFacts()
    address, host_provider = _hosts(dialect, view)
    request = parse_request(_first(dialect.request_bodies, view)) or BodyFacts()
    response = parse_response(_first(dialect.response_bodies, view)) or BodyFacts()

    request_model = values.get("request_model") or request.request_model or route.model
    response_model = values.get("response_model") or response.response_model
    if request_model is None and response_model is None:
        return None

    raw_op = values.get("operation") or route.operation or response.operation
    operation = operation_name(raw_op, dict(dialect.operation_aliases)) if raw_op else None
    if operation is not None and operation not in INFERENCE_OPERATIONS:
        return None

    stated = values.get("provider")
    if isinstance(stated, str) and not _PROVIDER_TOKEN.match(stated):
        stated = None
    raw_provider = stated or host_provider or response.provider or route.provider
    provider = provider_name(raw_provider) if raw_provider else None

    def token(name: str) -> int | None:
        value = values.get(name)
        stated: int | None = value if value is not None else getattr(response, name)
        return stated

    input_tokens = token("input_tokens")
    cache_read = token("cache_read_tokens")
    cache_write = token("cache_write_tokens")
    exclusive = provider in dialect.exclusive_input_providers and "input_tokens" in values
    if input_tokens is not None and exclusive:
        input_tokens += (cache_read or 0) + (cache_write or 0)

    streaming = values.get("streaming")
    implied = True if implied_streaming else None
    for candidate in (implied, route.streaming, request.streaming, response.streaming):
        if streaming is None:
            streaming = candidate
    duration = values.get("duration_s")
    ttft = values.get("ttft_s")
    if ttft is not None and (streaming is not True or (duration is not None and ttft > duration + 0.001)):
        ttft = None
    http_status = values.get("http_status") or response.http_status
    if http_status is not None and not 100 <= http_status <= 599:
        http_status = None

    call = LLMCall(
        dialect=dialect.name,
        operation=operation,
        provider=provider,
        request_model=request_model,
        response_model=response_model,
        input_tokens=input_tokens,
        output_tokens=token("output_tokens"),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=token("reasoning_tokens"),
        streaming=streaming,
        ttft_s=ttft,
        duration_s=duration,
        finish_reasons=values.get("finish_reasons") or list(response.finish_reasons),
        http_status=http_status,
        server_address=address,
        response_id=values.get("response_id") or response.response_id,
    )
    request_id = _first(dialect.request_ids, view)
    return Recognised(
        call,
        dialect,
        view,
        _evidence(dialect, view, http_status, response),
        as_str(request_id) if request_id is not None else None,
    )


def _evidence(dialect: LogDialect, view: LogView, http_status: int | None, body: BodyFacts) -> LogEvidence:
    evidence = LogEvidence()
    if body.failed:
        evidence.failed = True
        evidence.texts.extend(body.error_texts)
        evidence.raw = body.error_raw
    flags = _first(dialect.response_flags, view)
    if isinstance(flags, str):
        for flag in flags.split(","):
            text = FAILURE_FLAGS.get(flag.strip())
            if text is not None:
                evidence.failed = True
                evidence.texts.append(text)
                evidence.raw = evidence.raw or flag.strip()
    if http_status is not None and http_status >= 400:
        evidence.failed = True
    if evidence.failed:
        for source in dialect.error_details:
            detail = source.read(view)
            if usable(detail) and isinstance(detail, str) and detail.strip() not in _UNINFORMATIVE_DETAILS:
                evidence.texts.append(detail.strip()[:500])
                evidence.raw = evidence.raw or detail.strip()[:200]
        if evidence.raw is None and http_status is not None:
            evidence.raw = str(http_status)
    return evidence
