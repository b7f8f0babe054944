"""LangSmith's OTel exporter (``OTEL_ENABLED=true``), ``_otel_exporter.py``.

Only runs of type ``llm``/``embedding`` are calls (it maps retrievers to ``embeddings``, which
they are not). ``gen_ai.system`` is guessed from the model name and defaults to ``langchain``,
which is not a provider. Token details are Python ``repr`` strings; finish reasons are
comma-joined; errors are a plain ``Exception`` whose message carries the provider's text.
"""

from __future__ import annotations

from llmpulse.dialects import semconv
from llmpulse.dialects._spec import A, Dialect, J, Mapped, extend

KIND = "langsmith.span.kind"

DIALECT: Dialect = Dialect(
    name="langsmith",
    fields=extend(
        semconv.FIELDS,
        operation=(Mapped(KIND, {"llm": "chat", "embedding": "embeddings"}),),
        cache_read_tokens=(
            J("gen_ai.usage.input_token_details", ("cache_read",)),
            J("gen_ai.usage.input_token_details", ("cache_read_input_tokens",)),
        ),
        cache_write_tokens=(
            J("gen_ai.usage.input_token_details", ("cache_creation",)),
            J("gen_ai.usage.input_token_details", ("cache_write",)),
        ),
        reasoning_tokens=(J("gen_ai.usage.output_token_details", ("reasoning",)),),
        streaming=(A("langsmith.request.streaming"),),
    ),
    markers=(KIND, "langsmith.trace.session_id", "langsmith.trace.name"),
    call_marker=(KIND, frozenset({"llm", "embedding"})),
    provider_aliases={"langchain": None},
)
