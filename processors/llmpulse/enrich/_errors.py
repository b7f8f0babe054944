"""Classify failed calls into the canonical ``error_type`` classes of the metric contract.

Evidence comes from HTTP status, ``error.type``, exception events (type and message), span
status, provider error codes and finish reasons (reference §13–14). The rules are an ordered
table: specific causes that share a status with broader ones (quota and rate limit are both
429; content filter and bad request are both 400) come first.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from llmpulse.call import LLMCall


@dataclass(frozen=True, slots=True)
class Rule:
    error_class: str
    pattern: re.Pattern[str] | None
    statuses: frozenset[int] = frozenset()


def _rx(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE)


RULES: tuple[Rule, ...] = (
    Rule(
        "content_filter",
        _rx(
            r"content[_ ]?filter|responsibleaipolicyviolation|data[_ ]?inspection[_ ]?failed|"
            r"inappropriate content|content_?policy_?violation|response was filtered|moderation|"
            r"prohibited_content|blocked due to safety|safety settings|blockreason"
        ),
    ),
    Rule(
        "quota_exceeded",
        _rx(
            r"insufficient[_ ]quota|exceeded your current quota|quota[_ ]exceeded|credit_balance|"
            r"spend_limit|usage_limit_exceeded|billing_error|billing|arrearage|resource_exhausted.*quota"
        ),
    ),
    Rule(
        "context_length_exceeded",
        _rx(
            r"context[_ ]length[_ ]exceeded|maximum context length|context[_ ]window|"
            r"prompt is too long|too many tokens|string_above_max_length|input is too long"
        ),
    ),
    Rule(
        "rate_limit",
        _rx(r"rate[_ ]?limit|too many requests|throttl|(error code|status)[:= ]+429\b"),
        frozenset({429}),
    ),
    Rule(
        "auth",
        _rx(
            r"authenticat|permission[_ ]?denied|permission_error|unauthori[sz]ed|forbidden|"
            r"invalid[_ ]api[_ ]key|incorrect api key|access denied|(error code|status)[:= ]+40[13]\b"
        ),
        frozenset({401, 403}),
    ),
    Rule("timeout", _rx(r"time[d_ ]?out|deadline[_ ]?exceeded"), frozenset({408, 504})),
    Rule("connection_error", _rx(r"connection[_ ]?error|apiconnectionerror|connecterror|connection refused")),
    Rule(
        "server_error",
        _rx(
            r"internal[_ ]?server|internalerror|server[_ ]?error|overloaded|service[_ ]?unavailable|"
            r"\bapi_error\b|bad gateway|(error code|status)[:= ]+5\d\d\b"
        ),
        frozenset({500, 501, 502, 503, 529}),
    ),
    Rule(
        "invalid_request",
        _rx(
            r"bad[_ ]?request|invalid[_ ]?request|invalid[_ ]?parameter|not[_ ]?found|unprocessable|"
            r"conflict|(error code|status)[:= ]+4\d\d\b"
        ),
        frozenset({400, 404, 405, 409, 413, 415, 422}),
    ),
)

#: Finish reasons that mean the provider filtered content while answering HTTP 200.
CONTENT_FILTER_FINISH = frozenset(
    {
        "content_filter",
        "refusal",
        "safety",
        "blocklist",
        "prohibited_content",
        "spii",
        "image_safety",
        "image_prohibited_content",
        "recitation",
        "image_recitation",
    }
)
CONTEXT_FINISH = frozenset({"model_context_window_exceeded"})


def classify(
    failed: bool, http_status: int | None, texts: list[str], finish_reasons: list[str]
) -> str | None:
    """The canonical error class, or ``None`` for a successful, unfiltered call."""
    if finish_reasons:
        finishes = [reason.lower() for reason in finish_reasons]
        if not CONTENT_FILTER_FINISH.isdisjoint(finishes):
            return "content_filter"
        if not CONTEXT_FINISH.isdisjoint(finishes):
            return "context_length_exceeded"
    if not failed and (http_status is None or http_status < 400):
        return None
    return _by_rules("\n".join(texts), http_status)


@functools.lru_cache(maxsize=4096)
def _by_rules(joined: str, http_status: int | None) -> str:
    """The first rule the evidence matches (cached: providers repeat the same few error texts,
    and each miss runs up to nine case-insensitive searches over up to a few KB of text)."""
    for rule in RULES:
        if rule.pattern is not None and joined and rule.pattern.search(joined):
            return rule.error_class
        if http_status is not None and http_status in rule.statuses:
            return rule.error_class
    if http_status is not None and http_status >= 500:
        return "server_error"
    if http_status is not None and http_status >= 400:
        return "invalid_request"
    return "_OTHER"


def apply(call: LLMCall, failed: bool, texts: list[str], raw: str | None) -> None:
    call.error_class = classify(failed, call.http_status, texts, call.finish_reasons)
    call.failed = call.error_class is not None
    if call.failed:
        call.error_raw = (raw or call.error_class or "")[:200]
