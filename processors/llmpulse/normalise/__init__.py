"""Recognition and normalisation: spans in any dialect → canonical ``LLMCall`` records."""

from llmpulse.normalise._dedup import Deduplicator
from llmpulse.normalise._recognise import ErrorEvidence, Recogniser, SpanView

__all__ = ["Deduplicator", "ErrorEvidence", "Recogniser", "SpanView"]
