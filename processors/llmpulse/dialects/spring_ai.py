"""Spring AI observations bridged to OTel (``AiObservationAttributes``).

Semconv names with ``gen_ai.system``; missing low-cardinality values are the literal ``none``,
which the value parsers treat as unset. ``ChatClient``/advisor spans (``spring.ai.kind``) wrap
the model call and are not calls themselves (their operation is ``framework``).
"""

from __future__ import annotations

from llmpulse.dialects import semconv
from llmpulse.dialects._spec import Dialect

DIALECT: Dialect = Dialect(
    name="spring_ai",
    fields=semconv.FIELDS,
    scopes=("org.springframework.ai", "spring-ai", "spring_ai"),
    markers=("spring.ai.kind", "spring.ai.model.request.tool.names", "spring.ai.chat.client.advisors"),
    # The model observation itself carries only gen_ai.* keys, and Micrometer's OTel bridge
    # names its tracer after Spring Boot (``org.springframework.boot``), not Spring AI. Not a
    # scope prefix: that would send every Spring Boot span through recognition.
    detect=lambda span: span.scope.startswith("org.springframework."),
)
