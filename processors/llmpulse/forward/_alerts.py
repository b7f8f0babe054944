"""``llmpulse.alert`` span events on calls of the alerting classes, for per-call alerts.

The collector's ``alertmanager`` exporter turns every span event it receives into an alert:
labels ``severity`` (from ``severity_attribute``), ``event_name`` and the attributes listed in
``event_labels``; every event attribute becomes an annotation. So the event's attribute names are
valid Prometheus label names (Alertmanager validates them), and the gateway config keeps only
``llmpulse.alert`` events in its alerting pipeline.

Spans: a counted call (``llmpulse.counted``) whose ``llmpulse.error.class`` is listed gets the
event. Access-log calls have no span, so each one of an alerting class gets a *carrier span*
(``llmpulse.synthetic=true``, in the record's trace when it has one) holding the event; the
gateway config keeps carriers out of the trace store.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from llmpulse import __version__
from llmpulse.otlp import attrs_to_dict, resource_of, set_attributes
from llmpulse.otlp.scan import SpanHead, locate_spans, read_span, span_head, splice

EVENT_NAME = "llmpulse.alert"
SCOPE_NAME = "llmpulse.forward.alerts"
#: event attribute ← call attribute (names are Prometheus-valid: they may become alert labels)
_FROM_CALL = (
    ("gen_ai_operation_name", "gen_ai.operation.name"),
    ("gen_ai_provider_name", "gen_ai.provider.name"),
    ("gen_ai_request_model", "gen_ai.request.model"),
    ("gen_ai_response_model", "gen_ai.response.model"),
    ("error_type", "error.type"),
    ("llmpulse_dialect", "llmpulse.dialect"),
)
_FROM_RESOURCE = (
    ("service_name", "service.name"),
    ("k8s_namespace_name", "k8s.namespace.name"),
    ("k8s_deployment_name", "k8s.deployment.name"),
)
#: the resource attributes an alert event reads
_RESOURCE_KEYS = frozenset(key for _, key in _FROM_RESOURCE)
#: what a carrier span copies from the access-log record (the write-back attributes)
_CARRIED_PREFIXES = ("gen_ai.", "llmpulse.", "error.type", "server.address")


#: spans that may alert, as ``(i, j, k, the span's bytes in the payload, its error class)``
#: (``Exported.failed``; the class ``None`` when it is not known before reading the span)
Candidates = Sequence[tuple[int, int, int, bytes, str | None]]


def _error_class_key(key: bytes) -> int:
    return 1 if key == b"llmpulse.error.class" else 0


def _alerting_class(error_class: Any, counted: Any, classes: frozenset[str]) -> str | None:
    """A call's class when it is a counted call (``llmpulse.counted`` true) of an alerting class."""
    return (
        error_class if counted is True and isinstance(error_class, str) and error_class in classes else None
    )


def _alert_class(attributes: Iterable[KeyValue], classes: frozenset[str]) -> str | None:
    """``_alerting_class`` of a log record's attributes (one pass, no dict)."""
    found: str | None = None
    counted = False
    for kv in attributes:
        if kv.key == "llmpulse.error.class":
            found = kv.value.string_value
        elif kv.key == "llmpulse.counted":
            counted = kv.value.bool_value
    return _alerting_class(found, counted, classes)


class AlertMarker:
    """Adds the alert events to a copy of a traces request; builds carrier spans for logs.

    >>> marker = AlertMarker(["content_filter"], severity="warning")
    >>> marked = marker.mark_traces(request)  # ``request`` itself when nothing alerts
    """

    def __init__(
        self, classes: Sequence[str], severity: str, *, clock: Any = time.time, random_bytes: Any = os.urandom
    ) -> None:
        self.classes = frozenset(classes)
        self.severity = severity
        self._clock = clock
        self._random = random_bytes
        self._key_flags: dict[bytes, int] = {}
        self._attr_flags: dict[str, int] = {}

    def _no_flags(self, key: str) -> int:
        """``read_attributes``' classifier: no key is special here; remembered, so it is asked
        once per key."""
        self._attr_flags[key] = 0
        return 0

    def event_attributes(
        self, error_class: str, call: Mapping[str, Any], resource: Mapping[str, Any]
    ) -> dict[str, Any]:
        values: dict[str, Any] = {"alert_class": error_class, "severity": self.severity}
        for name, key in _FROM_CALL:
            if isinstance(call.get(key), str) and call[key]:
                values[name] = call[key]
        for name, key in _FROM_RESOURCE:
            if isinstance(resource.get(key), str) and resource[key]:
                values[name] = resource[key]
        model = values.get("gen_ai_request_model") or values.get("gen_ai_response_model") or "unknown model"
        where = f" in {values['service_name']}" if "service_name" in values else ""
        values["summary"] = f"LLM call {error_class} on {model}{where}"
        return values

    def alert_event(
        self,
        error_class: str,
        call: Mapping[str, Any],
        resource: Mapping[str, Any],
        span_id: bytes,
        time_unix_nano: int,
    ) -> Span.Event:
        """The ``llmpulse.alert`` event for the call with this span id (a call's own span, or
        its carrier)."""
        values = self.event_attributes(error_class, call, resource)
        values["call_id"] = span_id.hex()
        event = Span.Event(name=EVENT_NAME, time_unix_nano=time_unix_nano)
        set_attributes(event.attributes, values)
        return event

    # -- traces ------------------------------------------------------------------------------
    def _alerting(
        self, request: ExportTraceServiceRequest, payload: bytes, failed: Candidates | None = None
    ) -> list[tuple[int, int, int, SpanHead, str, dict[str, Any], bytes]]:
        """(i, j, k, the span's own fields, class, its attributes, the span's bytes in
        ``payload``) of every span to mark. The candidates are ``failed`` when the pipeline has
        told which spans are failed calls and their classes (``Exported.failed``: a call of a
        class that does not alert is not read at all); else the scanner finds the few spans that
        carry an error class. Either way the other spans are never read in Python, and the
        candidates are read from their bytes in C (``read_span``), not decoded. Spans are read
        from ``payload``: the pipeline rewrites LLM spans in their encoding, so the decoded
        ``request`` may not carry the error class written back."""
        if not self.classes:
            return []
        if len(self._key_flags) > 20_000:
            self._key_flags.clear()
        if len(self._attr_flags) > 20_000:
            self._attr_flags.clear()
        if failed is None:
            flagged, _ = locate_spans(payload, self._key_flags, _error_class_key)
            failed = [(i, j, k, payload[start:stop], None) for i, j, k, _flags, start, stop in flagged]
        found: list[tuple[int, int, int, SpanHead, str, dict[str, Any], bytes]] = []
        for i, j, k, encoded, told in failed:
            if told is not None and told not in self.classes:
                continue
            try:
                attributes, _, head = read_span(encoded, self._attr_flags, self._no_flags)
            except ValueError:  # valid, but an encoding the C reader refuses (upb never writes it)
                span = Span.FromString(encoded)
                attributes, head = attrs_to_dict(span.attributes), span_head(span)
            error_class = _alerting_class(
                attributes.get("llmpulse.error.class"), attributes.get("llmpulse.counted"), self.classes
            )
            if error_class is not None and not any(name == EVENT_NAME for name, _ in head[8]):
                found.append((i, j, k, head, error_class, attributes, encoded))
        return found

    def mark_traces(self, request: ExportTraceServiceRequest) -> ExportTraceServiceRequest:
        """``request`` with alert events added (a new request; ``request`` itself when nothing
        alerts, and it is never changed)."""
        payload = request.SerializeToString()
        marked = self.encode_marked(request, payload)
        return request if marked is payload else ExportTraceServiceRequest.FromString(marked)

    def encode_marked(
        self, request: ExportTraceServiceRequest, payload: bytes, failed: Candidates | None = None
    ) -> bytes:
        """``payload`` (the encoded ``request``) with alert events added; ``request`` is only read.
        A repeated field may continue anywhere in a message, so a span's event is its encoding
        followed by one more ``events`` field, spliced into ``payload``: nothing else is encoded.
        ``failed``: the spans that may alert, as ``Exported.failed`` gives them (``None``: find
        them in ``payload``)."""
        found = self._alerting(request, payload, failed)
        if not found:
            return payload
        resources: dict[int, dict[str, Any]] = {}
        edits: list[tuple[int, int, int, bytes | None]] = []
        for i, j, k, head, error_class, attributes, encoded in found:
            if i not in resources:  # only what the event reads: not every resource value decoded
                pairs = resource_of(request, i).attributes
                resources[i] = attrs_to_dict(kv for kv in pairs if kv.key in _RESOURCE_KEYS)
            event = self.alert_event(
                error_class,
                attributes,
                resources[i],
                head[1],
                head[5] or int(self._clock() * 1e9),
            )
            edits.append((i, j, k, encoded + Span(events=[event]).SerializeToString()))
        return splice(payload, edits, [])

    # -- logs --------------------------------------------------------------------------------
    def carriers_for_logs(self, request: ExportLogsServiceRequest) -> ExportTraceServiceRequest | None:
        """One carrier span per access-log call of an alerting class, or ``None`` if there is none."""
        if not self.classes:
            return None
        out: ExportTraceServiceRequest | None = None
        for rl in request.resource_logs:
            target_rs = None
            resource: dict[str, Any] | None = None
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    error_class = _alert_class(record.attributes, self.classes)
                    if error_class is None:
                        continue
                    if out is None:
                        out = ExportTraceServiceRequest()
                    if target_rs is None:
                        target_rs = out.resource_spans.add()
                        target_rs.resource.CopyFrom(rl.resource)
                        scope = target_rs.scope_spans.add()
                        scope.scope.name = SCOPE_NAME
                        scope.scope.version = __version__
                        resource = attrs_to_dict(rl.resource.attributes)
                    assert resource is not None
                    self._carrier(target_rs.scope_spans[0].spans.add(), record, error_class, resource)
        return out

    def _carrier(self, span: Span, record: LogRecord, error_class: str, resource: Mapping[str, Any]) -> None:
        call = attrs_to_dict(record.attributes)
        has_trace = len(record.trace_id) == 16 and any(record.trace_id)
        span.trace_id = bytes(record.trace_id) if has_trace else self._random(16)
        span.span_id = self._random(8)
        if has_trace and len(record.span_id) == 8 and any(record.span_id):
            span.parent_span_id = bytes(record.span_id)
        start = record.time_unix_nano or record.observed_time_unix_nano or int(self._clock() * 1e9)
        span.start_time_unix_nano = start
        span.end_time_unix_nano = start
        operation = call.get("gen_ai.operation.name") or "llm"
        model = call.get("gen_ai.request.model") or call.get("gen_ai.response.model") or ""
        span.name = f"{operation} {model}".strip()
        span.kind = Span.SPAN_KIND_CLIENT
        span.status.code = Status.STATUS_CODE_ERROR
        span.status.message = error_class
        carried = {k: v for k, v in call.items() if k.startswith(_CARRIED_PREFIXES)}
        carried["llmpulse.synthetic"] = True
        set_attributes(span.attributes, carried)
        span.events.append(self.alert_event(error_class, call, resource, span.span_id, start))
