"""The log-record stage of the pipeline: recognise → enrich → write back → redact.

Double counting, decided here:

- **OpenTelemetry GenAI event records are never counted.** ``gen_ai.client.inference.operation
  .details`` and the other ``gen_ai.*`` events describe a call that its span already reports
  (and the span is what gets counted). "Count events without span context" is not enough:
  OpenLIT 1.44 emits its stream events with no trace/span id while its span of the same call
  is exported too (shared fixtures ``openlit/*_stream.logs.json``). Such records are only
  redacted and forwarded.
- **One request id, one call.** The same request can be logged twice (the client's sidecar
  and the server's, or an agent retrying an export that llmpulse already took), so a record
  whose dialect and request id were seen within ``enrich.dedup_window_s`` is written back with
  ``llmpulse.counted=false`` and counted under ``llmpulse_calls_deduplicated{reason="request_id"}``.
- Access logs and spans of the same call (an instrumented app behind a mesh that logs LLM
  fields) are *not* paired: turn one source off for that traffic.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from llmpulse.accesslogs._recognise import LogRecogniser
from llmpulse.accesslogs._redact import LOG_CONTENT_KEYS, redact_record
from llmpulse.call import LLMCall
from llmpulse.config import Config
from llmpulse.enrich import DimensionReader, PriceTable, apply_error_class, write_back
from llmpulse.otlp import attrs_to_dict, set_attributes
from llmpulse.selfmetrics import SelfMetrics

#: Keys that make a record worth a closer look: the dialects' markers and anything that may hold
#: a provider body. Everything else (application logs) is passed through untouched and cheaply.
_BODY_KEYS = ("response", "request")


def _candidate_keys(recogniser: LogRecogniser) -> frozenset[str]:
    keys: set[str] = set(LOG_CONTENT_KEYS) | set(_BODY_KEYS)
    for dialect in recogniser.dialects:
        keys.update(dialect.markers)
    keys.update({"gen_ai.request.model", "model", "genai_model_name"})
    return frozenset(keys)


def is_genai_event(record: LogRecord, attrs: Mapping[str, Any]) -> bool:
    """A semconv GenAI event record (by ``event_name``, or the older ``event.name`` attribute)."""
    name = record.event_name or attrs.get("event.name")
    return isinstance(name, str) and name.startswith("gen_ai.")


class AccessLogReader:
    """Turns access-log records into counted ``LLMCall``s and enriches the records in place.

    >>> reader = AccessLogReader(config, selfmetrics, PriceTable.load(), DimensionReader([]))
    >>> call = reader.process(record, scope="", resource={"service.name": "checkout"})
    """

    def __init__(
        self,
        config: Config,
        selfmetrics: SelfMetrics,
        prices: PriceTable,
        dimensions: DimensionReader,
        *,
        recogniser: LogRecogniser | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_request_ids: int = 50_000,
    ) -> None:
        self.recogniser = recogniser or LogRecogniser()
        self._self = selfmetrics
        self._prices = prices
        self._dimensions = dimensions
        self._mode = config.enrich.redaction.content
        self._truncate = config.enrich.redaction.truncate_chars
        self._window = config.enrich.dedup_window_s
        self._clock = clock
        self._max_ids = max_request_ids
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._keys = _candidate_keys(self.recogniser)
        self._body_hint = re.compile(
            "|".join(re.escape(f'"{key}"') for key in sorted(self._keys, key=len, reverse=True))
        )

    def _candidate(self, record: LogRecord, attrs: Mapping[str, Any]) -> bool:
        if any(key in self._keys for key in attrs):
            return True
        kind = record.body.WhichOneof("value")
        if kind == "kvlist_value":
            return any(kv.key in self._keys for kv in record.body.kvlist_value.values)
        if kind == "string_value":
            text = record.body.string_value
            return "{" in text[:200] and self._body_hint.search(text) is not None
        return False

    def process(self, record: LogRecord, scope: str, resource: Mapping[str, Any]) -> LLMCall | None:
        """The call this record describes, counted and written back; ``None`` if none (or a repeat)."""
        attrs = attrs_to_dict(record.attributes)
        if is_genai_event(record, attrs) or not self._candidate(record, attrs):
            return None
        found = self.recogniser.recognise(record, scope, attrs)
        if found is None:
            redact_record(record, self._mode, self._truncate)
            return None
        call = found.call
        service = resource.get("service.name")
        call.service_name = service if isinstance(service, str) and service else None
        call.dimensions = self._dimensions.read(resource, found.view.attrs)
        evidence = found.evidence
        apply_error_class(call, evidence.failed, evidence.texts, evidence.raw)
        if found.request_id is not None and self._repeated((call.dialect, found.request_id)):
            self._self.calls_deduplicated.labels(reason="request_id").inc()
            set_attributes(
                record.attributes,
                {
                    "llmpulse.dialect": call.dialect,
                    "llmpulse.counted": False,
                    "llmpulse.duplicate_of": found.request_id,
                },
            )
            redact_record(record, self._mode, self._truncate, found.view.body)
            return None
        self._prices.price(call)
        write_back(record.attributes, call, None)
        self._self.calls_recognised.labels(dialect=call.dialect).inc()
        redact_record(record, self._mode, self._truncate, found.view.body)
        return call

    def _repeated(self, key: tuple[str, str]) -> bool:
        now = self._clock()
        seen = self._seen
        while seen:
            oldest = next(iter(seen.values()))
            if now - oldest <= self._window and len(seen) <= self._max_ids:
                break
            seen.popitem(last=False)
        if key in seen:
            return True
        seen[key] = now
        return False
