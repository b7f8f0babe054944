"""The arithmetic behind ``benchmarks.llm_span_cost``'s per-LLM-span cost and budget."""

from __future__ import annotations

import pytest

from benchmarks.llm_span_cost import SpanCost, main, span_cost


def test_the_ordinary_spans_are_priced_by_the_llm_free_run_and_the_rest_shared_by_llm_spans() -> None:
    # 500 spans at 100k/CPU-s = 5 000 µs; 400 ordinary at 400k/CPU-s = 1 000 µs; 4 000 µs / 100.
    # At 0.5 × Rotel's 250k the batch may cost 4 000 µs: 3 000 µs left for 100 LLM spans.
    cost = span_cost(500, 100, 100_000, 400_000, 250_000)
    assert cost == SpanCost(batch_us=5_000, ordinary_us=1_000, per_llm_span_us=40, budget_per_llm_span_us=30)
    assert span_cost(500, 100, 100_000, 400_000, 250_000, target=1.0).budget_per_llm_span_us == 10


def test_a_load_without_llm_spans_has_no_per_llm_span_cost() -> None:
    with pytest.raises(ValueError, match="needs LLM spans"):
        span_cost(512, 0, 100_000, 400_000, 250_000)


@pytest.mark.parametrize("flag", ["--only", "--json"])
def test_the_flags_it_sets_itself_are_refused(flag: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main([flag, "x"])
    assert exc.value.code == 2
