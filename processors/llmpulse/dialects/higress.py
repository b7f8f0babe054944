"""Higress ``ai-statistics`` spans ("for ARMS"): ``gen_ai.span.kind=LLM`` with ``gen_ai.model_name``."""

from __future__ import annotations

from llmpulse.dialects import semconv
from llmpulse.dialects._spec import A, Dialect, Mapped, extend

DIALECT: Dialect = Dialect(
    name="higress",
    fields=extend(
        semconv.FIELDS,
        operation=(Mapped("gen_ai.span.kind", {"LLM": "chat"}),),
        response_model=(A("gen_ai.model_name"),),
    ),
    markers=("gen_ai.span.kind", "gen_ai.model_name"),
    server_side=False,
)
