"""llmpulse: an OpenTelemetry gateway that recognises every LLM call and turns it into GenAI metrics."""

__version__ = "0.1.0"

__all__ = ["__version__"]
