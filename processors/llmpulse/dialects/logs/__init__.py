"""Log dialect tables: how meshes and AI gateways log an LLM call (reference §11).

``LOG_DIALECTS`` is ordered: the first table whose markers (or ``detect``) match a record wins.
OpenTelemetry GenAI *event* records are not here on purpose: they describe a call whose span is
counted already (see ``llmpulse.accesslogs``).
"""

from llmpulse.dialects.logs import asm, envoy_ai_gateway, envoy_als, higress, provider_body
from llmpulse.dialects.logs._spec import LogDialect, LogLike

LOG_DIALECTS: tuple[LogDialect, ...] = (
    envoy_als.DIALECT,
    higress.DIALECT,
    envoy_ai_gateway.DIALECT,
    asm.DIALECT,
    provider_body.DIALECT,
)

__all__ = ["LOG_DIALECTS", "LogDialect", "LogLike"]
