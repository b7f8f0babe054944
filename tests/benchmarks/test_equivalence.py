"""``benchmarks/equivalence.py`` checks what it claims: its random candidate stream reaches every
dedup decision, its random calls reach the overflow series, and a difference is reported."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.equivalence import _dedup_dump, _diff, _spanmetrics_dump


def test_the_random_candidates_reach_every_dedup_decision() -> None:
    decisions = _dedup_dump(2, 40, 5.0)
    assert decisions == _dedup_dump(2, 40, 5.0)  # seeded: both checkouts see the same stream
    # "<trace>/<span> <kept span or None> <reason or None> <the call, merged>"
    reasons = Counter(line.split(" ")[2] for line in decisions)
    assert set(reasons) == {"None", "nested", "sdk_sibling"}
    assert reasons["None"] > 1000 and reasons["nested"] > 20 and reasons["sdk_sibling"] > 100


def test_the_random_calls_fold_into_the_overflow_series_and_expire() -> None:
    dump = _spanmetrics_dump(1)
    assert 'otel_metric_overflow="true"' in dump["exposition"]
    assert any(line.startswith("llmpulse_cardinality_overflow_total") for line in dump["selfmetrics"])
    assert dump["expired"]


def test_a_difference_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    assert _diff("dump", {"a": [1, 2, {"b": "x"}]}, {"a": [1, 2, {"b": "y"}]}) == 1
    assert "DIFF dump.a[2].b" in capsys.readouterr().out
    assert _diff("dump", {"a": [1]}, {"a": [1]}) == 0
