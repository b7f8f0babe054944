"""llmpulse: an OpenTelemetry gateway that recognises every LLM call and turns it into GenAI metrics."""

from llmpulse._compiled import use_sources_when_needed

__version__ = "0.1.0"

# a stale mypyc build (a compiled module older than its source) must not run old code
use_sources_when_needed()

__all__ = ["__version__"]
