"""Dialect tables: how each GenAI instrumentation library spells an LLM call.

``DIALECTS`` is ordered: when a span's scope does not name its dialect, the first table whose
markers match wins, and the plain semconv table is the fallback. See ``_spec`` for the
vocabulary and ``/shared/reference/genai-dialects.md`` for the sources of every entry.
"""

from llmpulse.dialects import (
    anthropic_sdk,
    higress,
    langfuse,
    langsmith,
    litellm,
    logfire,
    openinference,
    openlit,
    openllmetry,
    semconv,
    spring_ai,
    vercel_ai,
    vllm,
)
from llmpulse.dialects._spec import FIELD_NAMES, Dialect, SpanLike

DIALECTS: tuple[Dialect, ...] = (
    anthropic_sdk.DIALECT,
    openinference.DIALECT,
    openlit.DIALECT,
    langsmith.DIALECT,
    langfuse.DIALECT,
    vercel_ai.LEGACY,
    vercel_ai.V7,
    litellm.DIALECT,
    logfire.DIALECT,
    spring_ai.DIALECT,
    vllm.DIALECT,
    higress.DIALECT,
    openllmetry.DIALECT,
    semconv.DIALECT,
)

__all__ = ["DIALECTS", "FIELD_NAMES", "Dialect", "SpanLike"]
