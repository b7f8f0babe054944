"""What every fuzz case asserts: refusals are clear, the pipeline never raises, and nothing it
derives is negative, NaN or infinite (a single bad value would poison a cumulative counter)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from llmpulse.call import LLMCall
from llmpulse.config import validate
from llmpulse.enrich import PriceTable
from llmpulse.otlp import DecodeError, EncodedTraces, Signal
from llmpulse.pipeline import Pipeline
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics
from tests.support.gateway import CaptureExporter

_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
_SECOND_FIELDS = ("ttft_s", "duration_s")


def assert_clear_refusal(exc: DecodeError, what: str) -> None:
    """A refusal names the format and says something beyond it (what a client can act on)."""
    message = str(exc)
    assert message.strip(), "a DecodeError without a message"
    assert what.lower() in message.lower() or message.startswith("$"), message
    assert len(message) < 4000, "refusal messages are bounded"


def check_call(call: LLMCall) -> None:
    for name in _TOKEN_FIELDS:
        value = getattr(call, name)
        assert value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0), (
            name,
            value,
        )
    for name in (*_SECOND_FIELDS, "cost_usd", "reported_cost_usd"):
        value = getattr(call, name)
        assert value is None or (math.isfinite(value) and value >= 0), (name, value)
    assert call.http_status is None or 100 <= call.http_status <= 599
    for label in (call.operation, call.provider, call.request_model, call.response_model):
        assert label is None or (isinstance(label, str) and label), label
    assert all(isinstance(reason, str) for reason in call.finish_reasons)


def check_metrics(spanmetrics: SpanMetrics) -> None:
    for series in spanmetrics.snapshot():
        assert math.isfinite(series.value) and series.value >= 0, series
        assert math.isfinite(series.total) and series.total >= 0, series
        assert all(count >= 0 for count in series.bucket_counts)
        if series.bucket_counts:
            assert sum(series.bucket_counts) == series.count
        for name, value in series.labels:
            assert isinstance(value, str) and value, (name, value)


class Harness:
    """One pipeline per content mode, kept across cases (so dedup memory and key caches are
    fuzzed too), with a fresh span-metrics aggregate per case to check what that case produced."""

    def __init__(self) -> None:
        prices = PriceTable.load(None)
        self.capture = CaptureExporter()
        self.pipelines: dict[str, Pipeline] = {}
        for mode in ("drop", "truncate", "keep"):
            config = validate({"enrich": {"redaction": {"content": mode, "truncate_chars": 5}}})
            selfmetrics = SelfMetrics(CollectorRegistry())
            self.pipelines[mode] = Pipeline(
                config, selfmetrics, SpanMetrics(selfmetrics), prices=prices, exporters=[self.capture]
            )
        self.cases = 0

    def consume(self, signal: Signal, request: Any, mode: str | None = None) -> list[LLMCall]:
        """Run ``request`` through a pipeline; returns the calls it counted, all checked."""
        self.cases += 1
        pipeline = self.pipelines[mode or ("drop", "truncate", "keep")[self.cases % 3]]
        spanmetrics = SpanMetrics(pipeline.selfmetrics)
        calls: list[LLMCall] = []

        def journal(batch: Sequence[LLMCall]) -> None:
            calls.extend(batch)

        spanmetrics.journal = journal
        pipeline.spanmetrics = spanmetrics
        size = len(request.body) if isinstance(request, EncodedTraces) else request.ByteSize()
        outcome = pipeline.consume(signal, request, protocol="grpc", size=size)
        assert outcome.accepted >= 0 and outcome.rejected >= 0
        if outcome.rejected:
            assert outcome.message.strip()
        for call in calls:
            check_call(call)
        check_metrics(spanmetrics)
        # what the exporters get must encode (the decoded request) or decode (the pipeline's
        # encoding: spans rewritten in their bytes, spliced into the received ones)
        exported = self.capture.requests.pop()[1]
        encoded = self.capture.encodings.pop()
        exported.SerializeToString()
        if encoded is not None and signal == "traces":
            spans = sum(len(ss.spans) for rs in exported.resource_spans for ss in rs.scope_spans)  # type: ignore[attr-defined]
            assert spans == outcome.accepted
        return calls
