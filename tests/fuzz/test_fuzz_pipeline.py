"""Fuzz recognition and the whole trace/log pipeline with spans and records built from every
dialect's own attribute keys, carrying hostile values of every OTLP type.

Never raises; every counted call has non-negative token counts and finite, non-negative seconds
and cost; every span-metrics series stays finite; the enriched request still encodes."""

from __future__ import annotations

from hypothesis import given

from tests.fuzz._checks import Harness
from tests.fuzz._strategies import FUZZ, SCOPES, SEEDS, SPAN_KEYS, Gen

HARNESS = Harness()


def test_the_generators_use_every_dialects_keys() -> None:
    # spot checks from five different tables: a new table's keys join the pool by themselves
    for key in ("gen_ai.usage.input_tokens", "llm.token_count.prompt", "ai.usage.promptTokens",
                "gen_ai.usage.cost", "llm.invocation_parameters", "openinference.span.kind"):  # fmt: skip
        assert key in SPAN_KEYS
    assert "openinference.instrumentation" in SCOPES and "openlit." in SCOPES


@FUZZ
@given(seed=SEEDS)
def test_trace_pipeline_never_raises_and_derives_only_finite_non_negative_values(seed: int) -> None:
    """Recognition (every dialect table), dedup, enrichment, write-back, redaction, span metrics."""
    gen = Gen(seed)
    request = gen.trace_request()
    spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    calls = HARNESS.consume("traces", request)
    assert len(calls) <= spans


@FUZZ
@given(seed=SEEDS)
def test_log_pipeline_never_raises_on_access_log_records(seed: int) -> None:
    gen = Gen(seed)
    request = gen.log_request()
    records = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
    calls = HARNESS.consume("logs", request)
    assert len(calls) <= records
