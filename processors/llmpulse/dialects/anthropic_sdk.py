"""The Anthropic Python SDK's own spans (scope ``com.anthropic.sdk.python``, SDK ≥ 2.x).

They use the latest semconv names (``cache_write``, ``time_to_first_chunk``) and appear beside an
instrumentor's span for the same call, in another trace or as its child. They carry the SDK's
exact usage, so when both exist this one is counted and the instrumentor's fills its gaps.
"""

from __future__ import annotations

from llmpulse.dialects import semconv
from llmpulse.dialects._spec import A, Dialect, extend

DIALECT: Dialect = Dialect(
    name="anthropic_sdk",
    fields=extend(
        semconv.FIELDS,
        finish_reasons=(A("anthropic.message.stop_reason"),),
        provider=(A("gen_ai.provider.name"),),
    ),
    scopes=("com.anthropic.sdk",),
    sdk_native=True,
)
