"""Redaction: prompt/completion content and credentials never leave llmpulse by default.

Content comes in every dialect's form: semconv message attributes and events, OpenLLMetry's
indexed ``gen_ai.prompt.N.*``, OpenInference ``input.value``/``llm.input_messages.*``, Vercel
``ai.prompt*``/``ai.response.text``, Langfuse ``langfuse.observation.input``, Logfire
``request_data``. ``drop`` removes them (default), ``truncate`` keeps the first N characters,
``keep`` leaves them. Credentials (authorization headers, API keys, cookies) are always
replaced, whatever the content mode.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, MutableSequence
from typing import Literal

from opentelemetry.proto.common.v1.common_pb2 import KeyValue

ContentMode = Literal["drop", "truncate", "keep"]
REDACTED = "[REDACTED]"

CONTENT_KEYS = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.prompt",
        "gen_ai.completion",
        "input.value",
        "output.value",
        "ai.prompt",
        "ai.prompt.messages",
        "ai.response.text",
        "ai.response.toolCalls",
        "ai.response.object",
        "ai.response.reasoning",
        "ai.toolCall.args",
        "ai.toolCall.result",
        "ai.value",
        "ai.values",
        "langfuse.observation.input",
        "langfuse.observation.output",
        "langfuse.trace.input",
        "langfuse.trace.output",
        "traceloop.entity.input",
        "traceloop.entity.output",
        "request_data",
        "response_data",
        "gen_ai.event.content",
        "llm.prompt_template.variables",
        "question",
        "answer",
        "pydantic_ai.all_messages",
        "all_messages_events",
        "final_result",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "tool_arguments",
        "tool_response",
    }
)
CONTENT_PREFIXES = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "gen_ai.content.",
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.prompts.",
    "llm.choices.",
    "embedding.embeddings.",
    "langfuse.observation.metadata.input",
)
#: Events that exist only to carry content; dropped whole in ``drop`` mode.
CONTENT_EVENTS = frozenset(
    {
        "gen_ai.content.prompt",
        "gen_ai.content.completion",
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.choice",
        "gen_ai.client.inference.operation.details",
    }
)

_CREDENTIAL_KEY = re.compile(
    r"authorization|api[-_.]?key|apikey|x-goog-api-key|cookie|password|passwd|secret|"
    r"access[-_.]?token|refresh[-_.]?token|session[-_.]?token|bearer|credential",
    re.IGNORECASE,
)
_CREDENTIAL_VALUE = re.compile(r"(Bearer\s+[A-Za-z0-9._~+/=-]{8,}|\bsk-[A-Za-z0-9_-]{16,})")

#: keys ending like a count or a hash are not credentials (``api_key_hash`` is our own dimension)
_NOT_CREDENTIAL = re.compile(r"(_hash|\.hash|_tokens|\.count)$")


#: LiteLLM's ``raw_gen_ai_request`` copies the raw provider request/response as
#: ``llm.<provider>.<param>``; usage and cost keys of other dialects share the ``llm.`` prefix.
_RAW_PROVIDER_CONTENT = re.compile(
    r"^llm\.(?!token_count\.|cost\.|usage\.|request\.|response\.)[a-z0-9_]+\."
    r"(messages|choices|system|contents?|instructions|prompt|input|response|output)$"
)


@functools.lru_cache(maxsize=8192)
def is_content_key(key: str) -> bool:
    return key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES) or bool(_RAW_PROVIDER_CONTENT.match(key))


@functools.lru_cache(maxsize=8192)
def is_credential_key(key: str) -> bool:
    # cached: attribute keys repeat endlessly and the regex ran for every key of every LLM span
    return bool(_CREDENTIAL_KEY.search(key)) and not _NOT_CREDENTIAL.search(key)


_NEITHER, _CREDENTIAL, _CONTENT = 0, 1, 2
#: key → what redaction does with it: one dict hit in the loop instead of two cached calls
_KINDS: dict[str, int] = {}


def _kind(key: str) -> int:
    kind = _CREDENTIAL if is_credential_key(key) else _CONTENT if is_content_key(key) else _NEITHER
    if len(_KINDS) >= 8192:
        _KINDS.clear()
    _KINDS[key] = kind
    return kind


def scrub_credential_values(attributes: MutableSequence[KeyValue]) -> int:
    """Mask bearer tokens and API keys inside string values (e.g. a logged request header)."""
    count = 0
    for kv in attributes:
        value = kv.value
        if value.WhichOneof("value") != "string_value":
            continue
        text = value.string_value
        # the regex needs one of these literals: checking them first skips it for almost every value
        if ("Bearer" in text or "sk-" in text) and _CREDENTIAL_VALUE.search(text):
            value.string_value = _CREDENTIAL_VALUE.sub(REDACTED, text)
            count += 1
    return count


def redact_attributes(
    attributes: MutableSequence[KeyValue],
    mode: ContentMode,
    truncate_chars: int,
    positions: Iterable[int] | None = None,
) -> int:
    """Apply the content policy and credential scrubbing in place; returns how many keys changed.
    ``positions`` (ascending), when the caller knows them, are the only attributes that can
    hold content or credentials: the others are not read at all."""
    changed = 0
    dropped: list[int] = []
    kinds = _KINDS
    for index in range(len(attributes)) if positions is None else positions:
        kv = attributes[index]
        key = kv.key
        kind = kinds.get(key)
        if kind is None:
            kind = _kind(key)
        if kind == _CREDENTIAL:
            kv.value.Clear()
            kv.value.string_value = REDACTED
            changed += 1
        elif kind == _CONTENT and mode != "keep":
            changed += 1
            if mode == "drop":
                dropped.append(index)
                continue
            if kv.value.WhichOneof("value") == "string_value":
                text = kv.value.string_value
                if len(text) > truncate_chars:
                    kv.value.string_value = text[:truncate_chars] + "…"
            else:
                kv.value.Clear()
                kv.value.string_value = REDACTED
    # delete in place, last first: copying every kept KeyValue into a new list cost more than
    # everything else redaction does. Runs of neighbours (indexed messages: gen_ai.prompt.0.role,
    # .content, …) go in one slice, which is what deleting them one by one, last first, does.
    end = len(dropped)
    while end:
        start = end - 1
        while start and dropped[start - 1] == dropped[start] - 1:
            start -= 1
        if start == end - 1:
            del attributes[dropped[start]]
        else:
            del attributes[dropped[start] : dropped[end - 1] + 1]
        end = start
    return changed
