"""The canonical LLM call: the one shape every dialect is normalised into.

A dialect table fills it from a span or a log record; enrichment adds cost, error class and
metadata; span metrics and the write-back read only this record, never the dialect's names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

#: Operations that are a request to a model. Agent, tool and workflow spans are not calls:
#: they wrap calls and would double count their children's usage.
INFERENCE_OPERATIONS = frozenset(
    {
        "chat",
        "text_completion",
        "generate_content",
        "embeddings",
        "completion",
        "messages",
        "responses",
        "rerank",
        "image_generation",
        "image",
        "audio",
        "speech",
        "transcription",
        "translation",
        "realtime",
    }
)

#: Canonical ``error_type`` classes of the metric contract (DESIGN.md).
ERROR_CLASSES = (
    "rate_limit",
    "quota_exceeded",
    "content_filter",
    "context_length_exceeded",
    "auth",
    "invalid_request",
    "timeout",
    "server_error",
    "connection_error",
    "_OTHER",
)

TOKEN_TYPES = ("input", "output", "cache_read", "cache_write", "reasoning")


@dataclass(slots=True, init=False)
class LLMCall:
    """One LLM call as llmpulse understands it.

    Token counts follow the GenAI semconv: ``input_tokens`` includes cache reads and writes,
    ``output_tokens`` includes reasoning. ``None`` means unknown, never zero.
    """

    dialect: str
    operation: str | None = None
    provider: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    streaming: bool | None = None
    ttft_s: float | None = None
    duration_s: float | None = None
    finish_reasons: list[str] = field(default_factory=list)
    failed: bool = False
    error_class: str | None = None
    error_raw: str | None = None
    http_status: int | None = None
    cost_usd: float | None = None
    price_version: str | None = None
    reported_cost_usd: float | None = None
    server_address: str | None = None
    service_name: str | None = None
    response_id: str | None = None
    dimensions: dict[str, str] = field(default_factory=dict)

    # written out, not generated: mypyc compiles a written ``__init__`` (a generated one runs as
    # interpreted code, once per call)
    def __init__(
        self,
        dialect: str,
        *,
        operation: str | None = None,
        provider: str | None = None,
        request_model: str | None = None,
        response_model: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        streaming: bool | None = None,
        ttft_s: float | None = None,
        duration_s: float | None = None,
        finish_reasons: list[str] | None = None,
        failed: bool = False,
        error_class: str | None = None,
        error_raw: str | None = None,
        http_status: int | None = None,
        cost_usd: float | None = None,
        price_version: str | None = None,
        reported_cost_usd: float | None = None,
        server_address: str | None = None,
        service_name: str | None = None,
        response_id: str | None = None,
        dimensions: dict[str, str] | None = None,
    ) -> None:
        self.dialect = dialect
        self.operation = operation
        self.provider = provider
        self.request_model = request_model
        self.response_model = response_model
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cache_read_tokens = cache_read_tokens
        self.cache_write_tokens = cache_write_tokens
        self.reasoning_tokens = reasoning_tokens
        self.streaming = streaming
        self.ttft_s = ttft_s
        self.duration_s = duration_s
        self.finish_reasons = [] if finish_reasons is None else finish_reasons
        self.failed = failed
        self.error_class = error_class
        self.error_raw = error_raw
        self.http_status = http_status
        self.cost_usd = cost_usd
        self.price_version = price_version
        self.reported_cost_usd = reported_cost_usd
        self.server_address = server_address
        self.service_name = service_name
        self.response_id = response_id
        self.dimensions = {} if dimensions is None else dimensions

    def fill_gaps_from(self, other: LLMCall) -> None:
        """Take from ``other`` every field this record does not know (same call, another span)."""
        for name in _MERGEABLE:
            if getattr(self, name) is None:
                value = getattr(other, name)
                if value is not None:
                    setattr(self, name, value)
        if not self.finish_reasons and other.finish_reasons:
            self.finish_reasons = list(other.finish_reasons)
        self.failed = self.failed or other.failed
        for key, value in other.dimensions.items():
            self.dimensions.setdefault(key, value)


_MERGEABLE = tuple(
    f.name for f in fields(LLMCall) if f.name not in ("dialect", "finish_reasons", "failed", "dimensions")
)
