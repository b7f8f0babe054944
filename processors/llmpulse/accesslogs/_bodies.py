"""Provider payloads carried by a log record: usage, model, finish reasons and errors.

Pure translation, no I/O. A gateway may log the upstream response body (whole JSON or an SSE
stream) and the request body; this module reads them the way each provider writes them
(reference §13): OpenAI Chat Completions / Responses / embeddings, Anthropic Messages, Gemini
``generateContent``, DashScope native, and their error bodies.

Streams: every provider's streamed usage is either sent once at the end (OpenAI
``include_usage``) or cumulative (Anthropic ``message_delta``, Gemini and DashScope chunks), so a
later value of a field replaces an earlier one; nothing is summed. Anthropic ``input_tokens``
exclude cache reads and writes; they are made inclusive (semconv) once the stream is read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from llmpulse.normalise._values import as_bool, as_int, as_str, parse_structured

#: Bodies larger than this are not parsed (a gateway that logs huge bodies still gets metrics
#: from its access-log fields).
MAX_BODY_CHARS = 8 << 20

_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


@dataclass(slots=True)
class BodyFacts:
    """What a provider payload says about the call; ``None`` = the payload does not say."""

    provider: str | None = None
    operation: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    streaming: bool | None = None
    http_status: int | None = None
    response_id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    #: error type / code / message as the provider spelled them (evidence for the classifier)
    error_texts: list[str] = field(default_factory=list)
    #: the most specific error identifier (code, else type), for ``error.type``
    error_raw: str | None = None
    #: Anthropic counts input without cache; converted when the payload has been read whole
    input_excludes_cache: bool = False

    def merge_later(self, later: BodyFacts) -> None:
        """Fold a later chunk of the same stream in: its known values replace earlier ones."""
        for f in fields(self):
            name = f.name
            if name in ("finish_reasons", "error_texts"):
                for item in getattr(later, name):
                    if item not in getattr(self, name):
                        getattr(self, name).append(item)
            elif name == "input_excludes_cache":
                self.input_excludes_cache = self.input_excludes_cache or later.input_excludes_cache
            else:
                value = getattr(later, name)
                if value is not None:
                    setattr(self, name, value)

    def finish(self) -> BodyFacts:
        if self.input_excludes_cache and self.input_tokens is not None:
            self.input_tokens += (self.cache_read_tokens or 0) + (self.cache_write_tokens or 0)
            self.input_excludes_cache = False
        return self

    @property
    def failed(self) -> bool:
        return bool(self.error_texts)


# -- entry points ------------------------------------------------------------------------------
def parse_response(raw: Any) -> BodyFacts | None:
    """Facts from a logged response body: a JSON object (string, bytes or map) or an SSE stream."""
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw[:MAX_BODY_CHARS]).decode("utf-8", "replace")
    if isinstance(raw, Mapping):
        facts = _object(raw)
        return facts.finish() if facts is not None else None
    if not isinstance(raw, str) or len(raw) > MAX_BODY_CHARS:
        return None
    text = raw.strip()
    if not text:
        return None
    if text[0] == "{":
        parsed = parse_structured(text)
        if isinstance(parsed, Mapping):
            facts = _object(parsed)
            return facts.finish() if facts is not None else None
        return None
    if text.startswith(("data:", "event:", "id:", ":")):
        return _stream(text)
    return None


def parse_request(raw: Any) -> BodyFacts | None:
    """Model and streaming flag from a logged request body (OpenAI, Anthropic, DashScope shapes)."""
    parsed = parse_structured(raw) if isinstance(raw, str) else raw
    if not isinstance(parsed, Mapping):
        return None
    facts = BodyFacts(request_model=as_str(parsed.get("model")), streaming=as_bool(parsed.get("stream")))
    if facts.streaming is None:
        parameters = parsed.get("parameters")
        if isinstance(parameters, Mapping) and as_bool(parameters.get("incremental_output")):
            facts.streaming = True
    if facts.request_model is None and facts.streaming is None:
        return None
    return facts


# -- one JSON object -----------------------------------------------------------------------------
def _object(obj: Mapping[str, Any]) -> BodyFacts | None:
    for shape in _SHAPES:
        facts = shape(obj)
        if facts is not None:
            return facts
    return None


def _error_object(obj: Mapping[str, Any]) -> BodyFacts | None:
    """``{"error": {...}}`` (OpenAI, OpenAI-compatible, Azure, Gemini) and Anthropic's
    ``{"type": "error", "error": {...}}``."""
    error = obj.get("error")
    if isinstance(error, str) and error.strip():
        return BodyFacts(error_texts=[error.strip()[:2000]], error_raw=error.strip()[:200])
    if not isinstance(error, Mapping):
        return None
    facts = BodyFacts()
    if obj.get("type") == "error":
        facts.provider = "anthropic"
    status = error.get("code") if isinstance(error.get("code"), int) else error.get("status_code")
    facts.http_status = _status(status)
    for key in ("code", "type", "status", "message"):
        text = as_str(error.get(key)) if not isinstance(error.get(key), bool) else None
        if text and not text.isdigit():
            facts.error_texts.append(text[:2000])
            if key != "message" and facts.error_raw is None:
                facts.error_raw = text[:200]
    inner = error.get("innererror")
    if isinstance(inner, Mapping) and as_str(inner.get("code")):
        facts.error_texts.append(str(inner.get("code")))
    if not facts.error_texts:
        facts.error_texts.append("error")
    if facts.error_raw is None:
        facts.error_raw = facts.error_texts[0][:200]
    facts.response_id = as_str(obj.get("request_id"))
    return facts


def _dashscope_error(obj: Mapping[str, Any]) -> BodyFacts | None:
    """DashScope native errors: ``{"code": "DataInspectionFailed", "message": ..., "request_id": ...}``."""
    code = obj.get("code")
    if not isinstance(code, str) or not code or "output" in obj:
        return None
    if "request_id" not in obj and "status_code" not in obj:
        return None
    facts = BodyFacts(provider="dashscope", error_raw=code[:200], response_id=as_str(obj.get("request_id")))
    facts.error_texts.append(code)
    message = as_str(obj.get("message"))
    if message:
        facts.error_texts.append(message[:2000])
    facts.http_status = _status(obj.get("status_code"))
    return facts


def _anthropic_message(obj: Mapping[str, Any]) -> BodyFacts | None:
    if obj.get("type") != "message":
        return None
    facts = BodyFacts(
        provider="anthropic",
        operation="chat",
        response_model=as_str(obj.get("model")),
        response_id=as_str(obj.get("id")),
        input_excludes_cache=True,
    )
    _finish(facts, obj.get("stop_reason"))
    _anthropic_usage(facts, obj.get("usage"))
    return facts


def _anthropic_usage(facts: BodyFacts, usage: Any) -> None:
    if not isinstance(usage, Mapping):
        return
    facts.input_excludes_cache = True
    facts.input_tokens = as_int(usage.get("input_tokens"))
    facts.output_tokens = as_int(usage.get("output_tokens"))
    facts.cache_read_tokens = as_int(usage.get("cache_read_input_tokens"))
    facts.cache_write_tokens = as_int(usage.get("cache_creation_input_tokens"))
    details = usage.get("output_tokens_details")
    if isinstance(details, Mapping):
        facts.reasoning_tokens = as_int(details.get("thinking_tokens"))


def _openai_responses(obj: Mapping[str, Any]) -> BodyFacts | None:
    if obj.get("object") != "response":
        return None
    facts = BodyFacts(
        operation="chat", response_model=as_str(obj.get("model")), response_id=as_str(obj.get("id"))
    )
    incomplete = obj.get("incomplete_details")
    if isinstance(incomplete, Mapping):
        reason = as_str(incomplete.get("reason"))
        _finish(facts, {"max_output_tokens": "length"}.get(reason or "", reason))
    elif obj.get("status") == "completed":
        _finish(facts, "stop")
    usage = obj.get("usage")
    if isinstance(usage, Mapping):
        facts.input_tokens = as_int(usage.get("input_tokens"))
        facts.output_tokens = as_int(usage.get("output_tokens"))
        _details(facts, usage.get("input_tokens_details"), usage.get("output_tokens_details"))
    return facts


def _openai_chat(obj: Mapping[str, Any]) -> BodyFacts | None:
    kind = obj.get("object")
    choices = obj.get("choices")
    if kind not in ("chat.completion", "chat.completion.chunk", "text_completion") and not isinstance(
        choices, list
    ):
        return None
    facts = BodyFacts(
        operation="text_completion" if kind == "text_completion" else "chat",
        response_model=as_str(obj.get("model")),
        response_id=as_str(obj.get("id")),
    )
    if isinstance(choices, list):
        for choice in choices:
            if isinstance(choice, Mapping):
                _finish(facts, choice.get("finish_reason"))
    if kind == "chat.completion.chunk":
        facts.streaming = True
    _openai_usage(facts, obj.get("usage"))
    return facts


def _openai_usage(facts: BodyFacts, usage: Any) -> None:
    if not isinstance(usage, Mapping):
        return
    facts.input_tokens = as_int(usage.get("prompt_tokens"))
    facts.output_tokens = as_int(usage.get("completion_tokens"))
    _details(facts, usage.get("prompt_tokens_details"), usage.get("completion_tokens_details"))


def _details(facts: BodyFacts, prompt: Any, completion: Any) -> None:
    if isinstance(prompt, Mapping):
        facts.cache_read_tokens = as_int(prompt.get("cached_tokens"))
        facts.cache_write_tokens = as_int(prompt.get("cache_write_tokens"))
    if isinstance(completion, Mapping):
        facts.reasoning_tokens = as_int(completion.get("reasoning_tokens"))


def _openai_embeddings(obj: Mapping[str, Any]) -> BodyFacts | None:
    data = obj.get("data")
    if obj.get("object") != "list" or not isinstance(data, list) or not data:
        return None
    if not isinstance(data[0], Mapping) or data[0].get("object") != "embedding":
        return None
    facts = BodyFacts(operation="embeddings", response_model=as_str(obj.get("model")))
    usage = obj.get("usage")
    if isinstance(usage, Mapping):
        facts.input_tokens = as_int(usage.get("prompt_tokens"))
    return facts


def _gemini(obj: Mapping[str, Any]) -> BodyFacts | None:
    if not any(k in obj for k in ("candidates", "usageMetadata", "promptFeedback")):
        return None
    facts = BodyFacts(
        provider="gcp.gemini",
        operation="generate_content",
        response_model=as_str(obj.get("modelVersion")),
        response_id=as_str(obj.get("responseId")),
    )
    candidates = obj.get("candidates")
    if isinstance(candidates, list):
        for candidate in candidates:
            if isinstance(candidate, Mapping):
                _finish(facts, candidate.get("finishReason"))
    feedback = obj.get("promptFeedback")
    if isinstance(feedback, Mapping):
        # a blocked prompt answers 200 with no candidates; the block reason is the outcome
        _finish(facts, feedback.get("blockReason"))
    usage = obj.get("usageMetadata")
    if isinstance(usage, Mapping):
        prompt = as_int(usage.get("promptTokenCount"))
        candidates_count = as_int(usage.get("candidatesTokenCount"))
        thoughts = as_int(usage.get("thoughtsTokenCount"))
        tool_prompt = as_int(usage.get("toolUsePromptTokenCount")) or 0
        total = as_int(usage.get("totalTokenCount"))
        facts.input_tokens = prompt
        facts.cache_read_tokens = as_int(usage.get("cachedContentTokenCount"))
        facts.reasoning_tokens = thoughts
        output = candidates_count
        # Whether candidatesTokenCount includes thoughts is not documented (reference §13);
        # totalTokenCount tells: if the parts only add up with thoughts counted apart, add them.
        if thoughts and (candidates_count is not None or total is not None):
            inclusive_total = (prompt or 0) + (candidates_count or 0) + tool_prompt
            if total is None or total >= inclusive_total + thoughts:
                output = (candidates_count or 0) + thoughts
        facts.output_tokens = output
    return facts


def _dashscope(obj: Mapping[str, Any]) -> BodyFacts | None:
    output = obj.get("output")
    usage = obj.get("usage")
    if not isinstance(output, Mapping) or "choices" in obj:
        return None
    facts = BodyFacts(
        provider="dashscope",
        operation="chat",
        response_id=as_str(obj.get("request_id")),
        http_status=_status(obj.get("status_code")),
    )
    _finish(facts, output.get("finish_reason"))
    choices = output.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            if isinstance(choice, Mapping):
                _finish(facts, choice.get("finish_reason"))
    if isinstance(usage, Mapping):
        facts.input_tokens = as_int(usage.get("input_tokens"))
        facts.output_tokens = as_int(usage.get("output_tokens"))
        _details(facts, usage.get("prompt_tokens_details"), usage.get("output_tokens_details"))
    return facts


_SHAPES = (
    _error_object,
    _dashscope_error,
    _anthropic_message,
    _openai_responses,
    _openai_chat,
    _openai_embeddings,
    _gemini,
    _dashscope,
)


def _finish(facts: BodyFacts, reason: Any) -> None:
    text = as_str(reason)
    # DashScope streams say "null" until the last chunk
    if text and text != "null" and text not in facts.finish_reasons:
        facts.finish_reasons.append(text)


def _status(value: Any) -> int | None:
    status = as_int(value)
    return status if status is not None and 100 <= status <= 599 else None


# -- server-sent events ------------------------------------------------------------------------
def _stream(text: str) -> BodyFacts | None:
    """An SSE body: events separated by blank lines, JSON in ``data:`` lines."""
    total = BodyFacts(streaming=True)
    seen = False
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event_type = ""
        data_lines: list[str] = []
        for line in block.split("\n"):
            if line.startswith("data:"):
                data_lines.append(line[5:].strip())
            elif line.startswith("event:"):
                event_type = line[6:].strip()
            elif line.startswith(":HTTP_STATUS/"):  # DashScope puts the status in a comment
                status = _status(line[len(":HTTP_STATUS/") :].strip())
                if status is not None:
                    total.http_status = status
        data = "\n".join(data_lines)
        if not data or data == "[DONE]":
            continue
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):  # ValueError: also integers past the 4300-digit limit
            continue
        if not isinstance(chunk, Mapping):
            continue
        facts = _stream_chunk(event_type or str(chunk.get("type") or ""), chunk)
        if facts is not None:
            total.merge_later(facts)
            seen = True
    if not seen:
        return None
    total.streaming = True
    return total.finish()


def _stream_chunk(event_type: str, chunk: Mapping[str, Any]) -> BodyFacts | None:
    if event_type == "message_start":
        message = chunk.get("message")
        return _anthropic_message(message) if isinstance(message, Mapping) else None
    if event_type == "message_delta":
        facts = BodyFacts(provider="anthropic", operation="chat")
        delta = chunk.get("delta")
        if isinstance(delta, Mapping):
            _finish(facts, delta.get("stop_reason"))
        usage = chunk.get("usage")
        if isinstance(usage, Mapping):
            # cumulative: the fields present replace what message_start said
            _anthropic_usage(facts, usage)
        return facts
    if event_type.startswith("response.") and isinstance(chunk.get("response"), Mapping):
        nested = chunk["response"]
        return _error_object(nested) or _openai_responses(nested)
    return _object(chunk)


def facts_tokens(facts: BodyFacts) -> dict[str, int]:
    """The token fields a payload stated (for tests and write-back)."""
    return {name: getattr(facts, name) for name in _TOKEN_FIELDS if getattr(facts, name) is not None}
