"""Shared pieces of the fuzz suite: the settings every target runs with, the attribute keys of
every dialect table (read from the tables, so a new dialect is fuzzed without touching this file)
and cheap strategies for hostile values, spans, log records and requests.

Structured inputs come from ``Gen`` (plain ``random`` seeded by a hypothesis-drawn integer) so
that each target runs its 10,000 cases in seconds: the count is the contract, not the generator.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llmpulse.dialects import DIALECTS
from llmpulse.dialects._spec import A, Event, J, Mapped, Name, Scope, Since
from llmpulse.dialects.logs import LOG_DIALECTS
from llmpulse.enrich._redact import CONTENT_EVENTS, CONTENT_KEYS, CONTENT_PREFIXES

#: cases per target; CI runs the default, a longer local run may raise it
EXAMPLES = int(os.environ.get("LLMPULSE_FUZZ_EXAMPLES", "10000"))

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every CI run: a failure reproduces, never flakes
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)


# -- keys the tables read ------------------------------------------------------------------------
def _source_keys(sources: Iterable[Any]) -> set[str]:
    keys: set[str] = set()
    for source in sources:
        if isinstance(source, (A, J, Mapped, Since)):
            keys.add(source.key)
    return keys


def _json_paths(sources: Iterable[Any]) -> set[str]:
    parts: set[str] = set()
    for source in sources:
        if isinstance(source, J):
            parts.update(source.path)
    return parts


def _span_keys() -> tuple[list[str], list[str], list[str], list[str], list[str]]:
    keys: set[str] = set()
    paths: set[str] = set()
    scopes: set[str] = set()
    events: set[str] = {"exception", *CONTENT_EVENTS}
    names: set[str] = set()
    for dialect in DIALECTS:
        for sources in dialect.fields.values():
            keys |= _source_keys(sources)
            paths |= _json_paths(sources)
            for source in sources:
                if isinstance(source, Event):
                    events |= set(source.names)
                if isinstance(source, (Name, Scope)):
                    names.add(source.pattern.pattern)
        keys.update(dialect.markers)
        keys.update(dialect.inclusive_markers)
        if dialect.call_marker is not None:
            keys.add(dialect.call_marker[0])
        scopes.update(dialect.scopes)
    keys |= set(CONTENT_KEYS)
    keys |= {p + "0.content" for p in CONTENT_PREFIXES} | {p + "1.role" for p in CONTENT_PREFIXES}
    keys |= {
        "telemetry.sdk.name",
        "tenant.id",
        "tenant",
        "http.request.header.authorization",
        "http.request.header.x-api-key",
        "api_key",
        "gen_ai.request.api_key_hash",
        "llmpulse.content.redacted",
        "llmpulse.counted",
        "llmpulse.original.gen_ai.request.model",
        "http.route",
        "db.query.text",
    }
    return sorted(keys), sorted(paths), sorted(scopes), sorted(events), sorted(names)


SPAN_KEYS, JSON_PATH_KEYS, SCOPES, EVENT_NAMES, _NAME_PATTERNS = _span_keys()


def _log_keys() -> tuple[list[str], list[str]]:
    keys: set[str] = set()
    paths: set[str] = set()
    for dialect in LOG_DIALECTS:
        groups = [
            *dialect.fields.values(),
            dialect.paths,
            dialect.hosts,
            dialect.request_ids,
            dialect.response_flags,
            dialect.error_details,
            dialect.request_bodies,
            dialect.response_bodies,
        ]
        for sources in groups:
            keys |= _source_keys(sources)
            paths |= _json_paths(sources)
        keys.update(dialect.markers)
        if dialect.text_format is not None:
            keys.update(dialect.text_format.groupindex)
    keys |= {"model", "genai_model_name", "event.name", "service.name", "response", "request"}
    return sorted(keys), sorted(paths)


LOG_KEYS, LOG_PATH_KEYS = _log_keys()

# -- hostile values ------------------------------------------------------------------------------
NASTY_STRINGS = [
    "",
    " ",
    "-",
    "none",
    "None",
    "null",
    "n/a",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e308",
    "1e309",
    "-1e308",
    "1e-320",
    "-1",
    "-0",
    "0",
    "1",
    "42",
    " 42 ",
    "4.2",
    "42.0",
    "1_000",
    "0x10",
    "٤٢",  # Arabic-Indic digits: int() accepts them
    "9" * 25,
    "12ms",
    "ms",
    "s",
    "-5s",
    "1e400ms",
    "True",
    "false",
    "stream",
    "[",
    "{",
    "[]",
    "{}",
    '["stop", "length"]',
    '["content_filter"]',
    "stop,length",
    '{"model": "gpt-4o", "stream": true, "max_tokens": -1}',
    '{"a": {"b": {"c": [1, 2, {"d": null}]}}}',
    "{'model': 'claude-3-opus', 'stream': True}",
    "[" * 2000 + "]" * 2000,  # deep nesting for json/ast parsers
    "[" + "9" * 5000 + "]",  # past Python's 4300-digit int conversion limit
    '{"usage": {"prompt_tokens": ' + "1" * 4400 + "}}",
    "{" * 50_000,
    "(" * 500 + ")" * 500,
    "2024-05-01T10:00:00Z",
    "2024-05-01T10:00:00",
    "9999-12-31T23:59:59.999999+00:00",
    "Bearer sk-abcdefghijklmnopqrstuvwxyz0123",
    "https://api.openai.com/v1/",
    "http://[::1",
    "outbound|443||api.anthropic.com",
    "openai.chat",
    "azure_openai",
    "LLM",
    "EMBEDDING",
    "CHAIN",
    "chat",
    "embeddings",
    "gpt-4o-mini",
    "claude-sonnet-4-5",
    "\x00",
    "\ud7ff\ue000",
    "é" * 300,
]


_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    " .,-_:;/\\|'\"[]{}()<>=+*&%$#@!?~`^\t\n\r"
    "éßſKİı٤２\x00\x7f\u202e\u200b😀"
)
_EDGE_INTS = [0, 1, -1, 2, 10**10, 10**10 + 1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63)]
_EDGE_FLOATS = [0.0, -0.0, 0.5, 1.0, -1.0, 1e-9, 5e-324, 1e10, 6.05e8, 1e308, math.inf, -math.inf, math.nan]
_SPAN_NAMES = [
    "", "chat gpt-4o", "chat", "embeddings text-embedding-3-small", "text_completion davinci",
    "invoke_agent gpt-4o", "ai.generateText", "ai.generateText.doGenerate", "ai.streamText.doStream",
    "ai.embed.doEmbed", "ai.toolCall", "openai.chat", "anthropic.chat", "ChatCompletion", "ChatAnthropic",
    "llm_request", "litellm_request", "Chat Completion with 'gpt-4o'", "POST /v1/chat/completions",
    "chat " + "x" * 5000,
]  # fmt: skip
_LOG_SCOPES = ["", "envoy.access_loggers.open_telemetry", "higress", "filelog", "io.opentelemetry.envoy"]
ENVOY_LINE = (
    '[2024-05-01T10:00:00.000Z] "POST {path} HTTP/1.1" {code} {flags} via_upstream - "-" 120 {sent} {dur} 10 '
    '"-" "python-httpx/0.27" "{rid}" "{host}" "10.0.0.1:443" outbound|443||{host}'
)
_PATHS = [
    "/v1/chat/completions", "/v1/messages", "/v1/embeddings", "/v1/responses",
    "/compatible-mode/v1/chat/completions", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    "/api/v1/services/aigc/text-generation/generation", "/x", "-", "", "/" * 3000,
    "http://[::1/v1/chat/completions", "https://api.openai.com/v1/chat/completions?x=1",
]  # fmt: skip
_HOSTS = [
    "api.openai.com", "api.anthropic.com", "10.0.0.1", "-", "dashscope.aliyuncs.com", "[::1]:443",
    "outbound|443||generativelanguage.googleapis.com", "xn--bcher-kva.example", "a" * 300, "api.openai.com.",
]  # fmt: skip


def plain(value: Any) -> Any:
    """``value`` with bytes as hex, so that it can be written as JSON."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


class Gen:
    """Hostile inputs from one seed, in plain Python (hypothesis draws the seed and reports it on a
    failure). Generating here costs microseconds; the same structures as hypothesis strategies cost
    milliseconds each, which 10,000 cases per target cannot afford."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def text(self, most: int = 24) -> str:
        r = self.r
        return "".join(r.choices(_ALPHABET, k=r.randint(0, most)))

    def number(self) -> int | float:
        r = self.r
        pick = r.randrange(6)
        if pick == 0:
            return r.choice(_EDGE_INTS) * r.choice((1, -1))
        if pick == 1:
            return r.randint(-(2**63), 2**63 - 1)
        if pick == 2:
            return r.randint(0, 5000)
        if pick == 3:
            return r.choice(_EDGE_FLOATS)
        if pick == 4:
            return r.uniform(-1e6, 1e6)
        double: float = struct.unpack("<d", r.randbytes(8))[0]  # any double, NaN payloads included
        return double

    def scalar(self) -> Any:
        r = self.r
        pick = r.randrange(10)
        if pick <= 2:
            return r.choice(NASTY_STRINGS)
        if pick == 3:
            return self.text()
        if pick <= 5:
            return self.number()
        if pick == 6:
            return r.random() < 0.5
        if pick == 7:
            return r.randbytes(r.randint(0, 16))
        if pick == 8:
            return json.dumps(plain(self.json()), allow_nan=True)
        return r.choice("x9é{[") * r.choice((0, 1, 201, 4301, 70_000))

    def json(self, depth: int = 0) -> Any:
        """A JSON-able value aimed at the J sources (keys from their paths)."""
        r = self.r
        if depth >= 3 or r.random() < 0.45:
            pick = r.randrange(7)
            if pick == 0:
                return None
            if pick == 1:
                return r.random() < 0.5
            if pick == 2:
                return r.choice([*_EDGE_INTS, 2**70, -(2**70)])
            if pick == 3:
                number = self.number()
                return number if math.isfinite(number) else 1.5
            if pick == 4:
                return self.text(8)
            return r.choice(NASTY_STRINGS[:60])
        if r.random() < 0.35:
            return [self.json(depth + 1) for _ in range(r.randint(0, 3))]
        keys = JSON_PATH_KEYS + LOG_PATH_KEYS
        return {
            r.choice(keys) if r.random() < 0.85 else self.text(6): self.json(depth + 1)
            for _ in range(r.randint(0, 5))
        }

    def value(self, depth: int = 0) -> Any:
        r = self.r
        pick = r.randrange(12)
        if depth < 2 and pick == 0:
            return [self.value(depth + 1) for _ in range(r.randint(0, 4))]
        if depth < 2 and pick == 1:
            return {r.choice(JSON_PATH_KEYS): self.value(depth + 1) for _ in range(r.randint(0, 4))}
        if pick == 2:
            return None
        return self.scalar()

    def attrs(self, keys: list[str], most: int = 10) -> list[tuple[str, Any]]:
        r = self.r
        return [
            (r.choice(keys) if r.random() < 0.9 else self.text(10), self.value())
            for _ in range(r.randint(0, most))
        ]

    def time(self) -> int:
        r = self.r
        if r.random() < 0.8:
            return 1_700_000_000_000_000_000 + r.randrange(100_000_000_000)
        return r.choice([0, 1, 2**63, 2**64 - 1, r.randrange(2**64)])

    def span(self, parents: list[bytes]) -> Span:
        r = self.r
        span = Span(
            trace_id=r.choice([b"T" * 16, b"U" * 16])
            if r.random() < 0.5
            else r.randbytes(r.choice((16, 16, 16, 0, 15))),
            span_id=r.randbytes(r.choice((8, 8, 8, 8, 0, 9))),
            name=r.choice(_SPAN_NAMES) if r.random() < 0.8 else self.text(),
            kind=r.randrange(6),  # type: ignore[arg-type]
            start_time_unix_nano=self.time(),
            end_time_unix_nano=self.time(),
        )
        if parents and r.random() < 0.5:
            span.parent_span_id = r.choice(parents)
        fill(span.attributes, self.attrs(SPAN_KEYS, 12))
        for _ in range(r.randint(0, 3)):
            event = span.events.add()
            event.name = r.choice(EVENT_NAMES)
            event.time_unix_nano = self.time()
            fill(event.attributes, self.attrs(["exception.type", "exception.message", *SPAN_KEYS[:8]], 3))
        span.status.code = r.randrange(4)  # type: ignore[assignment]
        if r.random() < 0.3:
            span.status.message = r.choice(NASTY_STRINGS)
        parents.append(span.span_id)
        return span

    def trace_request(self) -> ExportTraceServiceRequest:
        """1–2 resources × 1–2 scopes × 0–3 spans, parents pointing at spans made before."""
        r = self.r
        request = ExportTraceServiceRequest()
        parents: list[bytes] = []
        for _ in range(r.randint(1, 2)):
            rs = request.resource_spans.add()
            fill(
                rs.resource.attributes,
                self.attrs(["service.name", "k8s.namespace.name", "tenant.id", "host.name"], 4),
            )
            for _ in range(r.randint(1, 2)):
                ss = rs.scope_spans.add()
                ss.scope.name = r.choice(SCOPES) if r.random() < 0.8 else self.text(12)
                for _ in range(r.randint(0, 3)):
                    ss.spans.append(self.span(parents))
        return request

    def envoy_line(self) -> str:
        r = self.r
        return ENVOY_LINE.format(
            path=r.choice(_PATHS),
            code=r.choice(["200", "429", "503", "0", "99999999999999999999"]),
            flags=r.choice(["-", "UT", "UF,URX", "RL", "DC"]),
            sent=r.choice([0, 120, 2**70]),
            dur=r.choice([0, 1500, 2**70]),
            rid=self.text(8).replace('"', ""),
            host=r.choice(_HOSTS),
        )

    def log_record(self) -> LogRecord:
        r = self.r
        record = LogRecord(time_unix_nano=self.time(), observed_time_unix_nano=self.time())
        fill(record.attributes, self.attrs(LOG_KEYS, 14))
        body = r.randrange(5)
        if body == 1:  # a map body
            record.body.kvlist_value.SetInParent()
            fill(record.body.kvlist_value.values, self.attrs(LOG_KEYS, 14))
        elif body == 2:  # a JSON object as text (what a filelog agent ships), maybe in a CRI/Docker line
            text = json.dumps({k: plain(v) for k, v in self.attrs(LOG_KEYS, 14)}, allow_nan=True)
            wrap = r.randrange(3)
            if wrap == 1:
                text = "2024-05-01T10:00:00.1Z stdout F " + text
            elif wrap == 2:
                text = json.dumps({"log": text, "stream": "stdout"})
            record.body.string_value = text
        elif body == 3:  # Envoy's text format
            record.body.string_value = self.envoy_line()
        elif body == 4:
            set_value(record.body, self.value())
        if r.random() < 0.3:
            record.event_name = r.choice(
                ["", "gen_ai.client.inference.operation.details", "gen_ai.choice", "access"]
            )
        return record

    def log_request(self) -> ExportLogsServiceRequest:
        r = self.r
        request = ExportLogsServiceRequest()
        rl = request.resource_logs.add()
        fill(rl.resource.attributes, self.attrs(["service.name", "k8s.namespace.name"], 3))
        sl = rl.scope_logs.add()
        sl.scope.name = r.choice(_LOG_SCOPES)
        for _ in range(r.randint(1, 4)):
            sl.log_records.append(self.log_record())
        return request

    def provider_body(self) -> Any:
        """Text, JSON or a map shaped like a provider response (keys the body parsers read)."""
        r = self.r
        document = {r.choice(BODY_KEYS): self.body_value(0) for _ in range(r.randint(0, 6))}
        pick = r.randrange(6)
        if pick == 0:
            return document
        if pick == 1:
            return json.dumps(plain(document), allow_nan=True)
        if pick == 2:  # a server-sent event stream
            events = []
            for _ in range(r.randint(0, 5)):
                kind = r.choice(
                    ["", "message_start", "message_delta", "response.completed", "content_block_delta"]
                )
                data = r.choice(["[DONE]", "", "{", json.dumps(plain(document)), "[" + "9" * 4400 + "]"])
                events.append((f"event: {kind}\n" if kind else "") + f"data: {data}")
            prefix = r.choice(["", ":HTTP_STATUS/429\n", ":HTTP_STATUS/99999\n"])
            return prefix + r.choice(["\n\n", "\r\n\r\n"]).join(events)
        if pick == 3:
            return json.dumps(plain(document)).encode()
        if pick == 4:
            return self.scalar()
        return r.choice(NASTY_STRINGS)

    def body_value(self, depth: int) -> Any:
        r = self.r
        if depth < 3 and r.random() < 0.4:
            if r.random() < 0.3:
                return [self.body_value(depth + 1) for _ in range(r.randint(0, 3))]
            return {r.choice(BODY_KEYS): self.body_value(depth + 1) for _ in range(r.randint(0, 5))}
        return self.json(3) if r.random() < 0.8 else self.number()


def set_value(target: AnyValue, value: Any) -> None:
    """Store ``value`` in an ``AnyValue`` as an SDK would (no coercion, any int64 or double)."""
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = max(-(2**63), min(2**63 - 1, value))
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, list):
        target.array_value.SetInParent()
        for item in value:
            set_value(target.array_value.values.add(), item)
    elif isinstance(value, Mapping):
        target.kvlist_value.SetInParent()
        for key, item in value.items():
            kv = target.kvlist_value.values.add()
            kv.key = str(key)
            set_value(kv.value, item)
    # None: an AnyValue with nothing set, which OTLP allows


def fill(attributes: Any, pairs: list[tuple[str, Any]]) -> None:
    for key, value in pairs:
        kv = attributes.add()
        kv.key = key
        set_value(kv.value, value)


def _body_keys() -> list[str]:
    """Every key the access-log body parsers look up (read from their source, so it keeps up)."""
    import llmpulse.accesslogs._bodies as bodies

    source = Path(bodies.__file__).read_text()
    return sorted(set(re.findall(r"""(?:get\(|\[)"([A-Za-z_]+)"[\],)]""", source)))


BODY_KEYS = _body_keys()

#: a hypothesis-drawn seed: the case is rebuilt from it, and a failure prints it
SEEDS = st.integers(min_value=0, max_value=2**64 - 1)
