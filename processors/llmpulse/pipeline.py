"""The processing pipeline: decoded OTLP requests in, canonical calls to span metrics, enriched
requests to the exporters. Data flows one way:

    receivers → scan (llmpulse.otlp.scan: which spans have LLM, credential or content keys)
              → recognise (dialects) → dedup → enrich (errors, cost, dimensions) → write-back
              → redaction → span metrics → exporters (forwarding, …)

Ordinary spans stop at the scan: it reads the encoded request in C, so they are forwarded as
they came without ever becoming Python objects. With the C module, the exporters get the received
bytes with only the spans and resources the stages touched re-encoded and spliced in
(``llmpulse.otlp.scan.splice``), never a re-encoding of the whole request. An LLM span is not even
re-encoded: write-back and redaction plan their changes and ``edit_attributes`` rewrites just
those attributes in the span's bytes (``_Rewrite``), so the decoded request does not show them
and the encoding handed to the exporters is the one to send. The few spans redaction must read
through upb (truncation, a credential inside a value, events to redact) are changed there and
encoded again.

A trace request need not be decoded at all: the receivers hand over an ``EncodedTraces``
(``llmpulse.otlp.decode_request``), its bytes checked in C against the protobuf schema, and the
pipeline reads resources, scopes and spans from its layout, decoding only what it changes.

Receivers call ``Pipeline.consume``; it never raises for bad records (they are counted and
reported in ``partial_success``), only ``Backpressure`` when an exporter's queue is full, which
receivers turn into the OTLP "retry later" responses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf.message import Message
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llmpulse._backpressure import Backpressure as Backpressure  # re-exported: the exporters raise it
from llmpulse.accesslogs import AccessLogReader
from llmpulse.call import LLMCall
from llmpulse.config import Config
from llmpulse.enrich import (
    CONTENT_EVENTS,
    REDACTED,
    DimensionReader,
    PriceTable,
    ResourceDimensions,
    apply_error_class,
    is_content_key,
    is_credential_key,
    plan_write_back,
    redact_attributes,
    scrub_credential_values,
    write_back,
)
from llmpulse.normalise import Deduplicator, Recogniser
from llmpulse.normalise._dedup import Candidate
from llmpulse.otlp import AttributeAppends, AttributeEdits, Signal, attrs_to_dict
from llmpulse.otlp._encoded import EncodedScope, EncodedTraces
from llmpulse.otlp.scan import (
    NATIVE,
    SpanHead,
    edit_attributes,
    find_any,
    locate_spans,
    message_parents,
    parents,
    read_span,
    redaction_edits,
    scan_message,
    span_head,
    splice,
)
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics

#: Attribute-key prefixes that make a span worth a closer look (any dialect's LLM names).
LLM_KEY_PREFIXES = (
    "gen_ai.",
    "llm.",
    "ai.",
    "openinference.",
    "langfuse.",
    "langsmith.",
    "embedding.",
    "traceloop.",
    "logfire.",
    "spring.ai.",
    "request_data",
    "response_data",
    "operation.cost",
)
_LLM, _CREDENTIAL, _CONTENT = 1, 2, 4
#: a content attribute no dialect or dimension reads: ``read_span`` leaves its value
#: undecoded (None), as redaction drops or masks it unread (three quarters of an LLM span's bytes)
_UNREAD = 8
#: key flags → what redaction does with the attribute: 0 nothing, 1 mask (a credential), 2 drop
_REDACTION_DROP = bytes(1 if f & _CREDENTIAL else 2 if f & _CONTENT else 0 for f in range(256))
_REDACTION_KEEP = bytes(1 if f & _CREDENTIAL else 0 for f in range(256))
_REDACTED_KEY = "llmpulse.content.redacted"
_REDACTED_KEY_BYTES = (_REDACTED_KEY.encode(),)
#: what every credential value the scrubber masks contains (``enrich.scrub_credential_values``)
_CREDENTIAL_MARKERS = (b"Bearer", b"sk-")


class Exporter(Protocol):
    """A sink after the pipeline (OTLP forwarding, debug). ``admit`` runs before any processing
    so that a refused request has had no effect (the client's retry must not double count)."""

    name: str

    def admit(self, signal: Signal, size: int) -> None: ...

    def export(
        self, signal: Signal, request: Message, encoded: bytes | None = None, exported: Exported | None = None
    ) -> None:
        """``request`` is a decoded request, or for traces from the receivers an
        ``EncodedTraces`` (its bytes; reading it as a message decodes it, once). ``encoded``,
        when given, is the request as the pipeline leaves it, encoded: send it as it is. It is
        authoritative: with the C module, LLM spans are rewritten in their bytes and the decoded
        ``request`` does not show it. ``None``: encode ``request``. ``exported``: what the
        pipeline knows of the request (``None`` from callers other than the pipeline)."""


class ResourceEnricher(Protocol):
    """Adds resource attributes (e.g. Kubernetes metadata looked up from the sender's address)."""

    def enrich(self, resource: Mapping[str, Any], peer: str | None) -> dict[str, str]: ...


class _Rewrite:
    """An LLM span changed in its encoding (``edit_attributes``) rather than through upb: the
    span's bytes and key flags as read, and what write-back and redaction change in them."""

    __slots__ = ("appends", "attr_flags", "edits", "encoded", "span", "written")

    def __init__(self, span: Span, encoded: bytes, attr_flags: bytes) -> None:
        self.span = span
        self.encoded = encoded
        self.attr_flags = attr_flags
        self.edits: AttributeEdits = {}
        self.appends: AttributeAppends = []
        #: write-back's arguments, to redo it through upb should ``edit_attributes`` refuse a value
        self.written: tuple[LLMCall, bytes | None, Mapping[str, Any]] | None = None


@dataclass(slots=True)
class Exported:
    """What the pipeline already knows of a request it hands the exporters, so that they need
    not walk the request again to find it."""

    #: spans, log records or metric data points in the request as exported
    items: int
    #: traces, with the C module: every call counted here that has an error class, as
    #: ``(i, j, k, span bytes, error class)``: where the span is in the encoding handed over,
    #: its bytes there and its class (the only spans a per-call alert can be for, and which
    #: class each would alert as, unread); ``None``: not known
    failed: list[tuple[int, int, int, bytes, str]] | None = None


@dataclass(slots=True)
class Outcome:
    """What a receiver reports back: OTLP ``partial_success``."""

    accepted: int = 0
    rejected: int = 0
    message: str = ""


class Pipeline:
    """Owns the stages and runs one request through them, synchronously."""

    def __init__(
        self,
        config: Config,
        selfmetrics: SelfMetrics,
        spanmetrics: SpanMetrics,
        *,
        prices: PriceTable | None = None,
        exporters: Sequence[Exporter] = (),
        resource_enrichers: Sequence[ResourceEnricher] = (),
        recogniser: Recogniser | None = None,
        deduplicator: Deduplicator | None = None,
    ) -> None:
        self.config = config
        self.selfmetrics = selfmetrics
        self.spanmetrics = spanmetrics
        self.prices = prices or PriceTable.load(config.enrich.prices_file)
        self.exporters = list(exporters)
        self.resource_enrichers = list(resource_enrichers)
        self.recogniser = recogniser or Recogniser()
        self.dedup = deduplicator or Deduplicator(window_s=config.enrich.dedup_window_s)
        self.dimensions = DimensionReader(config.metrics.dimensions, config.metrics.hash_salt)
        self.accesslogs = AccessLogReader(config, selfmetrics, self.prices, self.dimensions)
        self._content_mode = config.enrich.redaction.content
        self._truncate = config.enrich.redaction.truncate_chars
        self._key_flags: dict[str, int] = {}
        self._values_read = self.recogniser.values_read() | self.dimensions.span_keys
        self._key_flags_b: dict[bytes, int] = {}
        self._classify_b: Callable[[bytes], int] = lambda key: self._flags(key.decode(errors="replace"))
        self._recognised: dict[str, Any] = {}  # calls_recognised's child per dialect
        self._resource_attrs: dict[bytes, dict[str, Any]] = {}  # ``_resource``: decoded once
        self._received = {
            s: {p: selfmetrics.received.labels(signal=s, protocol=p) for p in ("grpc", "http")}
            for s in ("traces", "logs", "metrics")
        }

    # -- entry point -------------------------------------------------------------------------
    def consume(
        self,
        signal: Signal,
        request: Any,
        *,
        protocol: str,
        size: int,
        peer: str | None = None,
        body: bytes | None = None,
    ) -> Outcome:
        """Run one decoded request through the stages. ``body`` is the protobuf the request was
        decoded from, when there is one (it spares re-encoding it for the span scanner)."""
        for exporter in self.exporters:
            exporter.admit(signal, size)
        encoded: bytes | None = None
        failed: list[tuple[int, int, int, bytes, str]] | None = None
        if signal == "traces":
            outcome, encoded, failed = self._traces(request, peer, body)
        elif signal == "logs":
            outcome = self._logs(request, peer)
        else:
            outcome = self._metrics(request)
        self._received[signal][protocol if protocol in ("grpc", "http") else "http"].inc(outcome.accepted)
        if self.exporters:
            exported = Exported(outcome.accepted, failed)
            for exporter in self.exporters:
                exporter.export(signal, request, encoded, exported)
        return outcome

    # -- traces ------------------------------------------------------------------------------
    def _flags(self, key: str) -> int:
        flags = self._key_flags.get(key)
        if flags is None:
            flags = (
                (_LLM if key.startswith(LLM_KEY_PREFIXES) else 0)
                | (_CREDENTIAL if is_credential_key(key) else 0)
                | (_CONTENT if is_content_key(key) else 0)
            )
            if flags & _CONTENT and key not in self._values_read:
                flags |= _UNREAD
            if len(self._key_flags) > 20_000:
                self._key_flags.clear()
            self._key_flags[key] = flags
        return flags

    def _scan(
        self, request: Any, body: bytes | None
    ) -> tuple[Callable[[set[bytes]], Any], Any, Any, bytes | None]:
        """The spans worth a look, read from the encoded request: ordinary spans (no LLM,
        credential or content key) never become Python objects (``llmpulse.otlp.scan``).
        Returns them (``(i, j, k, flags, start, stop)``, ``body[start:stop]`` being the span,
        with the C module; ``(i, j, k, flags)`` without it), the invalid ones, dedup's parent
        lookup over the same request, and the encoding read when it is the request as it stands
        (``None`` when there is none at hand)."""
        if len(self._key_flags_b) > 20_000:
            self._key_flags_b.clear()
        if not NATIVE:
            flagged, invalid = scan_message(request, self._key_flags_b, self._classify_b)
            return lambda traces: message_parents(request, traces), flagged, invalid, body
        if body is None:
            body = request.SerializeToString()
        # where each span's ids are, so that dedup's parent lookup need not walk the request again
        index = bytearray()
        try:
            located, invalid = locate_spans(body, self._key_flags_b, self._classify_b, index)
        except ValueError:
            # valid protobuf the scanner does not read (an unknown field encoded as a group):
            # drop the unknown fields and scan upb's re-encoding of what is left
            request.DiscardUnknownFields()
            body = request.SerializeToString()
            located, invalid = locate_spans(body, self._key_flags_b, self._classify_b, index)
        encoded = body
        return lambda traces: parents(encoded, traces, index), located, invalid, encoded

    def _read(
        self, span: Span, encoded: bytes | None
    ) -> tuple[bytes | None, dict[str, Any], bytes | None, SpanHead]:
        """An LLM span's encoding, attributes, per-attribute key flags and own fields
        (``read_span``). ``encoded``: the span's bytes in the request, when the scan located them.
        Without the C module the attributes come from upb directly: its Python twin would only
        decode the span again."""
        if NATIVE:
            if encoded is None:  # a span of a dialect's own scope with no key worth a flag
                encoded = span.SerializeToString()
            try:
                attrs, attr_flags, head = read_span(encoded, self._key_flags, self._flags, _UNREAD)
                return encoded, attrs, attr_flags, head
            except ValueError:  # the C reader refuses what upb's encoding never has
                return encoded, attrs_to_dict(span.attributes), None, span_head(span)
        return None, attrs_to_dict(span.attributes), None, span_head(span)

    def _traces(
        self, request: Any, peer: str | None, body: bytes | None
    ) -> tuple[Outcome, bytes | None, list[tuple[int, int, int, bytes, str]] | None]:
        """The outcome, the request's encoding as the exporters should send it (with the C
        module, the received bytes with the changed spans and resources spliced in; without it,
        the received bytes if nothing changed, else ``None``), and ``Exported.failed`` for it."""
        outcome = Outcome()
        candidates: list[Candidate] = []
        # beside each candidate: its span, attributes as read, rewrite and where it is
        placed: list[tuple[Span, dict[str, Any], _Rewrite | None, tuple[int, int, int]]] = []
        to_redact: list[tuple[Span, bytes | None, bytes | None]] = []  # redacted through upb
        rewrites: list[_Rewrite] = []  # redacted in their encoding
        # every span the stages may have changed, with its rewrite when it is changed in its bytes
        touched: list[tuple[int, int, int, Span, _Rewrite | None]] = []
        resources: list[tuple[int, Any]] = []  # every resource enrichment or redaction changed
        recogniser = self.recogniser
        lookup_parents, flagged, invalid, encoded = self._scan(request, body)
        changed = bool(invalid)
        hits: dict[tuple[int, int], dict[int, tuple[int, bytes | None]]] = {}
        for hit in flagged:
            i, j, k, flags = hit[:4]
            located = encoded[hit[4] : hit[5]] if len(hit) == 6 and encoded is not None else None
            hits.setdefault((i, j), {})[k] = (flags, located)
        bad: dict[tuple[int, int], list[int]] = {}
        for i, j, k in invalid:
            bad.setdefault((i, j), []).append(k)
        no_hit: tuple[int, bytes | None] = (0, None)
        # an ``EncodedTraces`` (the receivers') is read by its layout, never decoded as a whole
        groups: list[tuple[Any, list[tuple[str, int, Any]]]]
        if type(request) is EncodedTraces and encoded is request.body:
            groups = request.groups()
        else:
            groups = [
                (rs.resource, [(ss.scope.name, len(ss.spans), ss.spans) for ss in rs.scope_spans])
                for rs in request.resource_spans
            ]
        for i, (resource_message, scopes) in enumerate(groups):
            resource, resource_changed = self._resource(resource_message, peer)
            if resource_changed:
                resources.append((i, resource_message))
                changed = True
            service = resource.get("service.name")
            service_name = service if isinstance(service, str) and service else None
            resource_key = tuple(
                str(resource.get(k, ""))
                for k in ("service.name", "service.instance.id", "host.name", "k8s.pod.name")
            )
            dimensions: ResourceDimensions | None = None  # read once the resource has a call
            for j, (scope, count, spans) in enumerate(scopes):
                outcome.accepted += count - len(bad.get((i, j), ()))
                scope_dialect = recogniser.scope_dialect(scope)
                work = hits.get((i, j))
                if scope_dialect is not None:  # a dialect's own scope: every valid span is a call
                    known = work or {}
                    skip = set(bad.get((i, j), ()))
                    work = {k: known.get(k, no_hit) for k in range(count) if k not in skip}
                elif work is None:
                    continue
                changed = True  # spans worth a look may be rewritten (write-back, redaction)
                encoded_scope = spans if type(spans) is EncodedScope else None
                for k, (flags, span_bytes) in work.items():
                    span = spans[k] if encoded_scope is None else encoded_scope.span(k, span_bytes)
                    if scope_dialect is None and not flags & _LLM:
                        touched.append((i, j, k, span, None))
                        if flags & _CONTENT:  # e.g. an agent span carrying the conversation
                            self._redact_span(span, span_bytes)
                        elif flags & _CREDENTIAL:
                            redact_attributes(span.attributes, "keep", self._truncate)
                        continue
                    span_bytes, attrs, attr_flags, head = self._read(span, span_bytes)
                    rewrite = self._rewrite(span, span_bytes, attr_flags, head)
                    touched.append((i, j, k, span, rewrite))
                    if rewrite is None:
                        to_redact.append((span, span_bytes, attr_flags))
                    else:
                        rewrites.append(rewrite)
                    found = recogniser.recognise(span, scope, scope_dialect, attrs, head)
                    if found is None:
                        continue
                    call, dialect, view, evidence = found
                    call.service_name = service_name
                    if dimensions is None:
                        dimensions = self.dimensions.for_resource(resource)
                    call.dimensions = dimensions(view.attrs)
                    apply_error_class(call, evidence.failed, evidence.texts, evidence.raw)
                    candidates.append(
                        Candidate(
                            call,
                            dialect,
                            resource_key,
                            head[0],
                            head[1],
                            head[2],
                            view.start_ns,
                            view.end_ns,
                        )
                    )
                    placed.append((span, attrs, rewrite, (i, j, k)))

        self.dedup.resolve(candidates, lookup_parents)
        counted: list[LLMCall] = []
        # self-metrics counted per batch: one locked ``inc`` per dialect, not per call
        per_dialect: dict[str, int] = {}
        duplicates: dict[str, int] = {}
        failed_at: dict[tuple[int, int, int], str] = {}  # the counted calls with an error class: where, which
        for cand, (span, current, planned, at) in zip(candidates, placed, strict=True):
            if cand.counted:
                self.prices.price(cand.call)
                counted.append(cand.call)
                if cand.call.error_class is not None:
                    failed_at[at] = cand.call.error_class
                dialect_name = cand.call.dialect
                per_dialect[dialect_name] = per_dialect.get(dialect_name, 0) + 1
            else:
                reason = cand.duplicate_reason or "duplicate"
                duplicates[reason] = duplicates.get(reason, 0) + 1
            if planned is None:
                write_back(span.attributes, cand.call, cand.duplicate_of, current)
            else:
                plan_write_back(cand.call, cand.duplicate_of, current, planned.edits, planned.appends)
                planned.written = (cand.call, cand.duplicate_of, current)
        recognised = self._recognised
        for dialect_name, calls in per_dialect.items():
            counter = recognised.get(dialect_name)
            if counter is None:
                counter = recognised[dialect_name] = self.selfmetrics.calls_recognised.labels(
                    dialect=dialect_name
                )
            counter.inc(calls)
        for reason, calls in duplicates.items():
            self.selfmetrics.calls_deduplicated.labels(reason=reason).inc(calls)
        for span, span_bytes, attr_flags in to_redact:
            self._redact_span(span, span_bytes, attr_flags)
        for rewrite in rewrites:
            self._plan_redaction(rewrite)
        self.spanmetrics.record(counted)
        failed: list[tuple[int, int, int, bytes, str]] | None = None
        if NATIVE and encoded is not None:
            failed = []
            if changed:
                # the received bytes with only what changed re-encoded (and invalid spans left out)
                edits: list[tuple[int, int, int, bytes | None]] = []
                for i, j, k, span, rewrite in touched:
                    error_class = failed_at.get((i, j, k))
                    if rewrite is None:
                        span_bytes = span.SerializeToString()
                    elif rewrite.edits or rewrite.appends:
                        span_bytes = self._rewritten(rewrite)
                    elif error_class is not None:  # unchanged, spliced all the same: handed over
                        span_bytes = rewrite.encoded
                    else:
                        continue
                    edits.append((i, j, k, span_bytes))
                    if error_class is not None:
                        failed.append((i, j, k, span_bytes, error_class))
                if invalid:  # the touched spans come in wire order already; the invalid ones merge in
                    edits += [(i, j, k, None) for i, j, k in invalid]
                    edits.sort(key=lambda edit: edit[:3])
                encoded = splice(encoded, edits, [(i, r.SerializeToString()) for i, r in resources])
                changed = False
                if failed and invalid:  # where they are once the invalid spans before them are left out
                    failed = [
                        (i, j, k - sum(1 for gone in bad.get((i, j), ()) if gone < k), span_bytes, cls)
                        for i, j, k, span_bytes, cls in failed
                    ]
        if invalid:
            for (i, j), indices in bad.items():
                spans = request.resource_spans[i].scope_spans[j].spans
                for k in reversed(indices):  # wire order, so ascending: delete the last first
                    del spans[k]
            outcome.rejected = len(invalid)
            outcome.message = f"{len(invalid)} span(s) refused: trace_id must be 16 bytes and span_id 8 bytes"
            self.selfmetrics.refused.labels(signal="traces", reason="invalid_record").inc(len(invalid))
        return outcome, None if changed else encoded, None if changed else failed

    # -- LLM spans changed in their encoding ---------------------------------------------------
    def _rewrite(
        self, span: Span, encoded: bytes | None, attr_flags: bytes | None, head: SpanHead
    ) -> _Rewrite | None:
        """A rewrite of the span's encoding, unless redaction needs the upb message for it:
        truncation (it reads each value), a credential inside a value (``Bearer``/``sk-``: the
        scrubber reads every string), or events to redact. Without the C module, never."""
        if attr_flags is None or encoded is None or self._content_mode == "truncate":
            return None
        if find_any(encoded, _CREDENTIAL_MARKERS) or (head[8] and self._events_need_redaction(head)):
            return None
        return _Rewrite(span, encoded, attr_flags)

    def _events_need_redaction(self, head: SpanHead) -> bool:
        """Whether ``_redact_span`` would change one of the span's events, from the event names
        and event key flags ``read_span`` gave (the span is not decoded). A head whose event keys
        were not resolved (-1: not ``read_span``'s) answers yes: the upb path redacts it."""
        event_flags = head[9]
        if event_flags < 0:
            return True
        if self._content_mode == "drop" and any(name in CONTENT_EVENTS for name, _ in head[8]):
            return True
        return bool(event_flags & _CREDENTIAL or (event_flags & _CONTENT and self._content_mode != "keep"))

    def _plan_redaction(self, rewrite: _Rewrite) -> None:
        """``_redact_span`` as edits of the span's encoding, for the spans ``_rewrite`` admits
        (content dropped or kept; credentials only in credential keys; no event to change)."""
        drop = self._content_mode == "drop"
        # each key's flags → 0 (kept), 1 (credential: masked), 2 (content: dropped): one C pass
        edits = rewrite.edits
        table = _REDACTION_DROP if drop else _REDACTION_KEEP
        changed = redaction_edits(rewrite.attr_flags, table, edits, REDACTED)
        key_flags = self._key_flags
        for item in rewrite.appends:  # write-back's own keys are neither; if one were, it is redacted
            flags = key_flags.get(item[0])
            if (self._flags(item[0]) if flags is None else flags) & (_CREDENTIAL | _CONTENT):
                changed += self._redact_appended(rewrite, drop)
                break
        if changed and self._content_mode != "keep":
            # set where it is (an earlier hop redacted), else appended after the appends:
            # ``edit_attributes`` does either, so the span's bytes are not searched for the key
            edits[_REDACTED_KEY] = True

    def _redact_appended(self, rewrite: _Rewrite, drop: bool) -> int:
        """Redacts the attributes ``rewrite`` appends as the rest; returns how many changed."""
        kept: AttributeAppends = []
        changed = 0
        for item in rewrite.appends:
            flags = self._flags(item[0])
            if flags & _CREDENTIAL:
                kept.append((item[0], REDACTED))
            elif not (flags & _CONTENT and drop):
                kept.append(item)
                continue
            changed += 1
        rewrite.appends = kept
        return changed

    def _rewritten(self, rewrite: _Rewrite) -> bytes:
        try:
            edited: bytes = edit_attributes(rewrite.encoded, rewrite.edits, rewrite.appends)
            return edited
        except ValueError:
            # a value the encoder refuses (an int beyond int64): through upb, as without the C
            # module (which refuses it too, loudly, as it always has)
            span = rewrite.span
            if rewrite.written is not None:
                write_back(span.attributes, *rewrite.written)
            self._redact_span(span, rewrite.encoded, rewrite.attr_flags)
            reencoded: bytes = span.SerializeToString()
            return reencoded

    def _resource(self, resource: Any, peer: str | None) -> tuple[dict[str, Any], bool]:
        """The resource's attributes after enrichment, and whether the resource changed. A fleet
        sends the same few resources in every request: their attributes are decoded once, found
        by their encoding (a tenth of the cost), unless they hold a credential (never kept)."""
        encoded = resource.SerializeToString()
        known = self._resource_attrs.get(encoded)
        credential = False  # a credential key among the attributes (what is kept holds none)
        if known is None:
            attrs = attrs_to_dict(resource.attributes)
            credential = any(self._flags(k) & _CREDENTIAL for k in attrs)
            if not credential:
                if len(self._resource_attrs) >= 1024:
                    self._resource_attrs.clear()
                self._resource_attrs[encoded] = attrs
                attrs = dict(attrs)  # enrichment adds to it; what is kept stays as decoded
        else:
            attrs = dict(known)
        changed = False
        for enricher in self.resource_enrichers:
            extra = enricher.enrich(attrs, peer)
            if extra:
                from llmpulse.otlp import set_attributes

                added = {k: v for k, v in extra.items() if k not in attrs}
                set_attributes(resource.attributes, added)
                attrs.update(added)
                changed = changed or bool(added)
                credential = credential or any(self._flags(k) & _CREDENTIAL for k in added)
        if credential:
            changed = redact_attributes(resource.attributes, "keep", self._truncate) > 0 or changed
        return attrs, changed

    def _redact_span(self, span: Span, encoded: bytes | None = None, attr_flags: bytes | None = None) -> None:
        """``encoded`` and ``attr_flags`` (``read_attributes``), when the caller has them, are the
        span before write-back: only its content/credential positions and the written-back tail
        are read, and its bytes are searched for credentials without encoding it again."""
        attributes = span.attributes
        if attr_flags is None:
            changed = redact_attributes(attributes, self._content_mode, self._truncate)
        else:
            flagged = _CREDENTIAL | _CONTENT
            positions = [i for i, f in enumerate(attr_flags) if f & flagged]
            positions += [
                i for i in range(len(attr_flags), len(attributes)) if self._flags(attributes[i].key) & flagged
            ]
            changed = redact_attributes(attributes, self._content_mode, self._truncate, positions)
        # a credential value holds "Bearer" or "sk-": one search of the encoded span (C speed) spares
        # reading every string attribute back into Python when neither occurs (nearly always)
        if encoded is None:
            encoded = span.SerializeToString()
        if find_any(encoded, _CREDENTIAL_MARKERS):
            changed += scrub_credential_values(attributes)
        if span.events:
            if self._content_mode == "drop":
                dropped = [i for i, e in enumerate(span.events) if e.name in CONTENT_EVENTS]
                changed += len(dropped)
                for index in reversed(dropped):
                    del span.events[index]
            for event in span.events:
                changed += redact_attributes(event.attributes, self._content_mode, self._truncate)
        if changed and self._content_mode != "keep":
            if find_any(encoded, _REDACTED_KEY_BYTES):  # the key may be there already (another hop)
                from llmpulse.otlp import set_attributes

                set_attributes(span.attributes, {_REDACTED_KEY: True})
            else:  # absent from the encoded span, so absent: append without indexing every key
                span.attributes.add(key=_REDACTED_KEY).value.bool_value = True

    # -- logs (access logs of meshes and AI gateways: llmpulse.accesslogs) and metrics --------
    def _logs(self, request: Any, peer: str | None) -> Outcome:
        outcome = Outcome()
        counted: list[LLMCall] = []
        for rl in request.resource_logs:
            resource, _ = self._resource(rl.resource, peer)
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    call = self.accesslogs.process(record, sl.scope.name, resource)
                    if call is not None:
                        counted.append(call)
                    flags = 0
                    for kv in record.attributes:
                        flags |= self._flags(kv.key)
                    if flags & (_CREDENTIAL | _CONTENT):
                        redact_attributes(record.attributes, self._content_mode, self._truncate)
                    if (
                        self._content_mode == "drop"
                        and record.event_name in CONTENT_EVENTS
                        and record.body.WhichOneof("value") is not None
                    ):
                        record.body.Clear()
                outcome.accepted += len(sl.log_records)
        self.spanmetrics.record(counted)
        return outcome

    def _metrics(self, request: Any) -> Outcome:
        outcome = Outcome()
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    if kind is not None:
                        outcome.accepted += len(getattr(metric, kind).data_points)
        return outcome


Clock = Callable[[], float]
