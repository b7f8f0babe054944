"""Redaction inside access-log records: the same policy as spans (``enrich._redact``), applied
where access logs hide content and credentials: inside a structured body (map or JSON string),
inside JSON-string fields such as Higress ``ai_log`` (``question``, ``answer``, ``reasoning`` …),
and in logged provider request/response bodies (prompts and completions in full).

``drop`` removes content fields, ``truncate`` keeps their first N characters, ``keep`` leaves
them; credentials (``authorization``, API keys) are always masked. The canonical facts were read
before redaction and are written back as attributes, so nothing the metrics need is lost.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from llmpulse.accesslogs._view import json_object
from llmpulse.enrich import ContentMode, is_content_key, is_credential_key
from llmpulse.enrich._redact import REDACTED
from llmpulse.otlp import set_attributes, to_py

#: Content that only access logs carry (Higress ai_log built-ins, logged bodies, message arrays).
LOG_CONTENT_KEYS = frozenset(
    {
        "question",
        "answer",
        "system",
        "reasoning",
        "tool_calls",
        "messages",
        "prompt",
        "contents",
        "response_body",
        "resp_body",
        "upstream_response_body",
        "request_body",
        "req_body",
        "http.response.body",
        "http.response.body.content",
        "http.request.body",
        "http.request.body.content",
    }
)
#: ``body`` is content only inside a logged ``request``/``response`` object (APISIX)
_BODY_PARENTS = frozenset({"request", "response"})
#: JSON-string fields worth opening (they nest content); others are left as they are
_NESTED_JSON = frozenset({"ai_log", "input_token_details", "output_token_details"})


_CREDENTIAL, _CONTENT, _PLAIN = 1, 2, 0
_KINDS: dict[str, int] = {}


def _kind(key: str) -> int:
    """Credential, content or plain (cached: access logs repeat the same few dozen keys)."""
    kind = _KINDS.get(key)
    if kind is None:
        if is_credential_key(key):
            kind = _CREDENTIAL
        elif key in LOG_CONTENT_KEYS or is_content_key(key):
            kind = _CONTENT
        else:
            kind = _PLAIN
        if len(_KINDS) > 10_000:
            _KINDS.clear()
        _KINDS[key] = kind
    return kind


def scrub(value: Any, mode: ContentMode, truncate_chars: int, parent: str | None = None) -> tuple[Any, int]:
    """``value`` with content and credentials redacted, and how many fields changed."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        changed = 0
        for key, item in value.items():
            kind = _kind(key)
            if kind == _CREDENTIAL and item is not None:
                out[key] = REDACTED
                changed += 1
            elif mode != "keep" and (kind == _CONTENT or (key == "body" and parent in _BODY_PARENTS)):
                changed += 1
                if mode == "truncate":
                    out[key] = _truncated(item, truncate_chars)
            elif key in _NESTED_JSON and isinstance(item, str):
                parsed = json_object(item)
                if parsed is None:
                    out[key] = item
                    continue
                cleaned, n = scrub(parsed, mode, truncate_chars, key)
                out[key] = json.dumps(cleaned, ensure_ascii=False, separators=(",", ":")) if n else item
                changed += n
            elif isinstance(item, (dict, list)):
                out[key], n = scrub(item, mode, truncate_chars, key)
                changed += n
            else:
                out[key] = item
        return out, changed
    if isinstance(value, list):
        items = []
        changed = 0
        for item in value:
            cleaned, n = scrub(item, mode, truncate_chars, parent)
            items.append(cleaned)
            changed += n
        return items, changed
    return value, 0


def _truncated(value: Any, limit: int) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def redact_record(
    record: LogRecord, mode: ContentMode, truncate_chars: int, parsed_body: dict[str, Any] | None = None
) -> int:
    """Redact the record's structured body and structured/JSON attributes in place
    (``parsed_body``: the body as the view already parsed it, to spare parsing it again)."""
    changed = 0
    kind = record.body.WhichOneof("value")
    if kind == "kvlist_value":
        cleaned, n = scrub(
            parsed_body if parsed_body is not None else to_py(record.body), mode, truncate_chars
        )
        if n:
            _set_value(record.body, cleaned)
            changed += n
    elif kind == "string_value":
        parsed = parsed_body if parsed_body is not None else json_object(record.body.string_value)
        if parsed is not None:
            cleaned, n = scrub(parsed, mode, truncate_chars)
            if n:
                record.body.string_value = json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"))
                changed += n
    updates: dict[str, Any] = {}
    drop: set[str] = set()
    for kv in record.attributes:
        key = kv.key
        if mode != "keep" and key in LOG_CONTENT_KEYS:
            changed += 1
            if mode == "drop":
                drop.add(key)
            else:
                updates[key] = _truncated(to_py(kv.value), truncate_chars)
            continue
        value_kind = kv.value.WhichOneof("value")
        if value_kind == "kvlist_value" or (value_kind == "string_value" and key in _NESTED_JSON):
            wrapped, n = scrub({key: to_py(kv.value)}, mode, truncate_chars)
            if n:
                updates[key] = wrapped[key]
                changed += n
    if drop:
        kept = [kv for kv in record.attributes if kv.key not in drop]
        copies = [type(kv)() for kv in kept]
        for copy, kv in zip(copies, kept, strict=True):
            copy.CopyFrom(kv)
        del record.attributes[:]
        record.attributes.extend(copies)
    if updates:
        set_attributes(record.attributes, updates)
    return changed


def _set_value(target: AnyValue, value: Any) -> None:
    holder = KeyValueList()
    set_attributes(holder.values, {"v": value})
    target.CopyFrom(holder.values[0].value)
