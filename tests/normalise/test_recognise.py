"""``Recogniser``: what it remembers between spans must never change what it decides."""

from __future__ import annotations

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llmpulse.dialects import DIALECTS
from llmpulse.normalise import Recogniser


def test_not_calls_is_remembered_per_name_and_stays_right_past_the_bound() -> None:
    """Vercel AI's ``ai.generateText`` wraps its ``ai.generateText.doGenerate`` call: the
    wrapper is no call. The pattern's answer is kept per span name, and a flood of names empties
    that memory, never changes an answer."""
    recogniser = Recogniser(DIALECTS)
    attrs = {"ai.model.id": "gpt-4o", "ai.model.provider": "openai.chat", "ai.usage.promptTokens": 3}

    def recognised(name: str) -> bool:
        span = Span(name=name, start_time_unix_nano=1, end_time_unix_nano=2)
        return recogniser.recognise(span, "ai", None, dict(attrs)) is not None

    for _ in range(2):  # the second time from memory
        assert not recognised("ai.generateText")
        assert recognised("ai.generateText.doGenerate")
    for n in range(5000):
        assert recognised(f"ai.x{n}.doStream") and not recognised(f"ai.x{n}")
    assert not recognised("ai.generateText") and recognised("ai.generateText.doGenerate")
