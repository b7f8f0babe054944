"""A log record flattened once for the dialect tables: attributes plus a structured body.

Access-log fields arrive either as log attributes (Envoy OTel access logger, a filelog agent that
parsed the JSON) or inside the body: a map (kvlist), a JSON string, or a container runtime line
(``<time> stdout F {...}`` from /var/log/pods, or Docker's ``{"log": "...", "stream": ...}``)
when the agent shipped the raw line. Attributes win over body keys of the same name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from llmpulse.normalise._values import parse_structured
from llmpulse.otlp import attrs_to_dict, to_py

#: CRI log line: ``2024-05-01T10:00:00.123456789Z stdout F {...}``
_CRI = re.compile(r"^\S+ (?:stdout|stderr) [FP] ")


@dataclass(slots=True)
class LogView:
    """The record's fields as dialect sources read them (``SpanLike`` for log records)."""

    record: LogRecord
    attrs: Mapping[str, Any]
    scope: str
    #: the body when it is plain text (Envoy's text access-log line), else ``None``
    text: str | None = None
    name: str = ""
    start_ns: int = 0
    #: the body as parsed (map or JSON object), so redaction need not parse it again
    body: dict[str, Any] | None = None

    def event_offset_s(self, names: frozenset[str]) -> float | None:
        return None


def json_object(text: str) -> dict[str, Any] | None:
    """A JSON object from a body string, unwrapping CRI and Docker json-file log lines."""
    stripped = text.strip()
    if not stripped:
        return None
    if stripped[0] != "{":
        match = _CRI.match(stripped)
        if match is None:
            return None
        stripped = stripped[match.end() :].strip()
        if not stripped.startswith("{"):
            return None
    parsed = parse_structured(stripped)
    if not isinstance(parsed, dict):
        return None
    inner = parsed.get("log")
    if isinstance(inner, str) and "stream" in parsed:
        unwrapped = json_object(inner)
        if unwrapped is not None:
            return unwrapped
    return parsed


def body_map(record: LogRecord) -> tuple[dict[str, Any] | None, str | None]:
    """``(fields, text)``: the body as a map when it is one, else its text (or nothing)."""
    kind = record.body.WhichOneof("value")
    if kind == "kvlist_value":
        value = to_py(record.body)
        return (value if isinstance(value, dict) else None), None
    if kind == "string_value":
        text = record.body.string_value
        parsed = json_object(text)
        return (parsed, None) if parsed is not None else (None, text)
    return None, None


def view_of(record: LogRecord, scope: str, attributes: Mapping[str, Any] | None = None) -> LogView:
    attrs = dict(attributes) if attributes is not None else attrs_to_dict(record.attributes)
    fields_, text = body_map(record)
    merged: dict[str, Any] = dict(fields_) if fields_ else {}
    merged.update(attrs)
    return LogView(
        record=record,
        attrs=merged,
        scope=scope,
        text=text,
        start_ns=record.time_unix_nano or record.observed_time_unix_nano,
        body=fields_,
    )
