"""Attributes the Langfuse SDK writes (``langfuse/_client/attributes.py``).

Calls are observations of type ``generation`` (or ``embedding``). ``usage_details`` is a JSON map
in one of three shapes:

- Langfuse's own buckets, which are disjoint (its total is their sum): ``input``, ``output`` and
  the details split off them, ``input_cached_tokens``/``output_reasoning_tokens`` (langfuse-python
  ``_extract_usage_details`` subtracts each OpenAI detail from ``input``/``output``) or
  ``input_cache_read``/``input_cache_creation``/``output_reasoning`` (the LangChain handler splits
  ``input_token_details``/``output_token_details`` the same way). The canonical, cache-inclusive
  count is the sum of the buckets.
- the OpenAI usage object passed through (v3 OpenAI integration): ``prompt_tokens`` (inclusive)
  with nested ``prompt_tokens_details``/``completion_tokens_details``.
- Anthropic's usage passed through: ``input_tokens`` excludes ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``, so they are summed too.

The SDK writes no provider. TTFT is ``completion_start_time`` (ISO timestamp, set when the first
chunk of a stream arrives) minus the span start; level ``ERROR`` marks a failure whose text is in
``status_message``. Cost is ``cost_details`` (JSON, USD).
"""

from __future__ import annotations

from llmpulse.dialects import semconv
from llmpulse.dialects._spec import A, Dialect, J, Mapped, Since, Sum, extend

USAGE = "langfuse.observation.usage_details"
KIND = "langfuse.observation.type"


def _u(*path: str) -> J:
    return J(USAGE, path)


DIALECT: Dialect = Dialect(
    name="langfuse",
    fields=extend(
        semconv.FIELDS,
        operation=(Mapped(KIND, {"generation": "chat", "embedding": "embeddings"}),),
        request_model=(A("langfuse.observation.model.name"),),
        input_tokens=(
            Sum(
                (
                    _u("input"),
                    _u("input_cached_tokens"),
                    _u("input_cache_write_tokens"),
                    _u("input_audio_tokens"),
                    _u("input_cache_read"),
                    _u("input_cache_creation"),
                    _u("input_audio"),
                )
            ),
            _u("prompt_tokens"),
            Sum((_u("input_tokens"), _u("cache_read_input_tokens"), _u("cache_creation_input_tokens"))),
        ),
        output_tokens=(
            Sum(
                (
                    _u("output"),
                    _u("output_reasoning_tokens"),
                    _u("output_audio_tokens"),
                    _u("output_accepted_prediction_tokens"),
                    _u("output_rejected_prediction_tokens"),
                    _u("output_reasoning"),
                    _u("output_audio"),
                )
            ),
            _u("completion_tokens"),
            _u("output_tokens"),
        ),
        cache_read_tokens=(
            _u("input_cached_tokens"),
            _u("input_cache_read"),
            _u("cache_read_input_tokens"),
            _u("prompt_tokens_details", "cached_tokens"),
        ),
        cache_write_tokens=(
            _u("input_cache_creation"),
            _u("input_cache_write_tokens"),
            _u("cache_creation_input_tokens"),
            _u("prompt_tokens_details", "cache_write_tokens"),
        ),
        reasoning_tokens=(
            _u("output_reasoning_tokens"),
            _u("output_reasoning"),
            _u("reasoning_tokens"),
            _u("completion_tokens_details", "reasoning_tokens"),
        ),
        ttft_s=(Since("langfuse.observation.completion_start_time", implies_streaming=True),),
        failed=(Mapped("langfuse.observation.level", {"ERROR": True}),),
        error_message=(A("langfuse.observation.status_message"),),
        reported_cost_usd=(J("langfuse.observation.cost_details", ("total",)),),
    ),
    markers=(KIND, USAGE),
    call_marker=(KIND, frozenset({"generation", "embedding"})),
)
