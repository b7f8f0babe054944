"""``llmpulse top``'s numbers, from snapshots to rows, and how they are shown."""

from __future__ import annotations

import argparse
import json
import math
from datetime import datetime

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from rich.console import Console

import llmpulse.top as top
from llmpulse.top import _compute, _view
from llmpulse.top._compute import ModelStats, histogram_quantile, increases, key
from tests.support.promstack import free_port

INF = math.inf
B = [(0.1, 2.0), (0.2, 5.0), (0.4, 9.0), (INF, 10.0)]


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, B, 0.2),  # rank 5 falls on the 0.2 bound exactly
        (0.3, B, 0.1 + 0.1 * (1 / 3)),  # rank 3: one of the three in (0.1, 0.2]
        (0.1, B, 0.05),  # lowest bucket starts at 0
        (0.95, B, 0.4),  # rank 9.5 lies in +Inf: the highest finite bound
        (0.9, B, 0.4),  # rank 9 reached exactly at 0.4
        (0.5, [(0.4, 9.0), (0.1, 2.0), (INF, 10.0), (0.2, 5.0)], 0.2),  # order does not matter
        (0.5, [(0.1, 1.0), (INF, 2.0), (0.1, 1.0), (INF, 2.0)], 0.1),  # same bounds add up
        (0.5, [(0.1, 4.0), (0.2, 3.0), (INF, 4.0)], 0.05),  # non-monotonic: 3 is raised to 4
        (1.5, B, INF),
        (-0.5, B, -INF),
    ],
)
def test_histogram_quantile(q: float, buckets: list[tuple[float, float]], expected: float) -> None:
    assert histogram_quantile(q, buckets) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "buckets",
    [
        [],
        [(0.1, 0.0), (INF, 0.0)],  # no observations
        [(0.1, 1.0), (0.2, 2.0)],  # no +Inf bucket
        [(INF, 3.0)],  # only +Inf
    ],
)
def test_histogram_quantile_is_nan_without_an_answer(buckets: list[tuple[float, float]]) -> None:
    assert math.isnan(histogram_quantile(0.95, buckets))


def test_histogram_quantile_zero_rank_in_empty_lowest_bucket_is_nan_like_go() -> None:
    # Go divides 0/0 into NaN where Python would raise.
    assert math.isnan(histogram_quantile(0.0, [(0.1, 0.0), (0.2, 5.0), (INF, 5.0)]))


def test_increases_follow_promql_counter_rules() -> None:
    a, b, c = key("x_total", {"m": "a"}), key("x_total", {"m": "b"}), key("x_total", {"m": "c"})
    before = {a: 10.0, b: 7.0}
    after = {a: 13.0, b: 2.0, c: 4.0}
    # a grew by 3; b restarted (dropped) so it grew by its new value; c is new and grew from 0.
    assert increases(before, after) == {a: 3.0, b: 2.0, c: 4.0}


def _histogram(
    name: str, labels: dict[str, str], counts: dict[float, float]
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for le, v in counts.items():
        le_s = "+Inf" if math.isinf(le) else repr(le)
        out[key(name, {**labels, "le": le_s})] = v
    return out


def test_compute_rows_from_two_snapshots() -> None:
    mini = {"gen_ai_request_model": "gpt-4o-mini", "service_name": "chat"}
    failed = {**mini, "error_type": "rate_limit"}
    claude = {"gen_ai_request_model": "claude-3-5-haiku", "service_name": "chat"}
    before = {
        key(_compute.CALLS, mini): 100.0,
        key(_compute.TOKENS, {**mini, "gen_ai_token_type": "input"}): 5000.0,
        key(_compute.COST, mini): 1.0,
        **_histogram(_compute.DURATION_BUCKET, mini, {0.5: 60, 1.0: 90, INF: 100}),
    }
    after = {
        key(_compute.CALLS, mini): 130.0,  # +30 successes
        key(_compute.CALLS, failed): 10.0,  # +10 failures, new series
        key(_compute.TOKENS, {**mini, "gen_ai_token_type": "input"}): 8000.0,  # +3000
        key(_compute.TOKENS, {**mini, "gen_ai_token_type": "output"}): 1000.0,  # +1000
        key(_compute.TOKENS, {**mini, "gen_ai_token_type": "cache_read"}): 900.0,  # inside input
        key(_compute.COST, mini): 1.5,  # +0.5 USD
        **_histogram(_compute.DURATION_BUCKET, mini, {0.5: 80, 1.0: 120, INF: 140}),  # +20, +10, +10
        key(_compute.CALLS, claude): 6.0,
        **_histogram(_compute.TTFT_BUCKET, claude, {0.25: 3, 0.5: 6, INF: 6}),
    }
    rows, total = top.compute(before, after, elapsed_s=30.0)
    assert [r.model for r in rows] == ["gpt-4o-mini", "claude-3-5-haiku"]
    mini_row = rows[0]
    assert mini_row.rpm == pytest.approx(40 / 30 * 60)
    assert mini_row.tpm == pytest.approx(4000 / 30 * 60)
    assert mini_row.failure_ratio == pytest.approx(10 / 40)
    assert mini_row.spend_usd_per_hour == pytest.approx(0.5 / 30 * 3600)
    # 40 observations: rank 38 lies in +Inf (30 below 1.0) -> highest finite bound
    assert mini_row.p95_duration_s == 1.0
    assert mini_row.p95_ttft_s is None
    assert rows[1].p95_ttft_s == pytest.approx(0.25 + 0.25 * (5.7 - 3) / 3)
    assert rows[1].p95_duration_s is None and rows[1].failure_ratio == 0.0
    assert total.rpm == pytest.approx(46 / 30 * 60)
    assert total.failure_ratio == pytest.approx(10 / 46)


def test_compute_rejects_an_empty_window() -> None:
    with pytest.raises(ValueError, match="positive"):
        top.compute({}, {}, 0.0)


def test_parse_reads_what_prometheus_client_serves() -> None:
    reg = CollectorRegistry()
    calls = Histogram(
        "gen_ai_client_operation_duration_seconds",
        "d",
        ["gen_ai_request_model"],
        buckets=(0.5, 1.0),
        registry=reg,
    )
    cost = Counter("gen_ai_client_cost_usd", "c", ["gen_ai_request_model"], registry=reg)
    Counter("llmpulse_received_items", "r", registry=reg).inc(5)
    calls.labels("m").observe(0.7)
    calls.labels("m").observe(2.0)
    cost.labels("m").inc(0.25)
    snap = top.parse(generate_latest(reg).decode())
    m = {"gen_ai_request_model": "m"}
    assert snap[key(_compute.CALLS, m)] == 2.0
    assert snap[key(_compute.DURATION_BUCKET, {**m, "le": "1.0"})] == 1.0
    assert snap[key(_compute.DURATION_BUCKET, {**m, "le": "+Inf"})] == 2.0
    assert snap[key(_compute.COST, m)] == 0.25
    assert not any(name.startswith("llmpulse_") for name, _ in snap)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:9464", "http://127.0.0.1:9464/metrics"),
        ("http://h:1/", "http://h:1/metrics"),
        ("https://h/custom/path", "https://h/custom/path"),
    ],
)
def test_metrics_url(given: str, expected: str) -> None:
    assert top.metrics_url(given) == expected


def _stats(**kw: float | None) -> ModelStats:
    base: dict[str, float | None] = dict(
        rpm=0.0, tpm=0.0, p95_duration_s=None, p95_ttft_s=None, failure_ratio=None, spend_usd_per_hour=0.0
    )
    base.update(kw)
    return ModelStats(model="gpt-4o-mini", **base)  # type: ignore[arg-type]


def test_cells_format_each_column() -> None:
    row = _stats(
        rpm=1234.4,
        tpm=56.78,
        p95_duration_s=2.345,
        p95_ttft_s=0.1234,
        failure_ratio=0.0125,
        spend_usd_per_hour=0.01234,
    )
    assert top.cells(row) == ("gpt-4o-mini", "1,234", "56.8", "2.35 s", "123 ms", "1.25 %", "$0.0123/h")
    assert top.cells(_stats(rpm=0.25, spend_usd_per_hour=12.5)) == (
        "gpt-4o-mini",
        "0.25",
        "0.00",
        "-",
        "-",
        "-",
        "$12.50/h",
    )


def _result(rows: list[ModelStats]) -> _view.Result:
    total = ModelStats("all models", 1.0, 2.0, None, None, 0.0, 0.0)
    return _view.Result(
        "metrics", "http://x/metrics", "5.00 s", 5.0, rows, total, datetime(2026, 1, 2, 3, 4, 5)
    )


def test_table_shows_active_models_and_the_total() -> None:
    busy = _stats(rpm=6.0, failure_ratio=0.5)
    idle = ModelStats("idle-model", 0.0, 0.0, None, None, None, 0.0)
    console = Console(record=True, width=140)
    console.print(top.table(_result([busy, idle])))
    text = console.export_text()
    assert "gpt-4o-mini" in text and "50.00 %" in text and "all models" in text
    assert "idle-model" not in text
    assert "rates over 5.00 s" in text
    doc = json.loads(top.to_json(_result([busy, idle])))
    assert [r["model"] for r in doc["rows"]] == ["gpt-4o-mini"]
    assert doc["window_s"] == 5.0 and doc["total"]["tpm"] == 2.0


def test_table_says_so_when_nothing_happened() -> None:
    console = Console(record=True, width=140)
    console.print(top.table(_result([])))
    assert "no LLM calls in this window" in console.export_text()


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    top.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["top", *argv])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--interval", "0"], "--interval must be a positive"),
        (["--window", "1m"], "apply to --prometheus-url only"),
        (["--prometheus-url", "http://127.0.0.1:1", "--window", "five"], "PromQL duration"),
    ],
)
def test_bad_arguments_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = _args(*argv)
    assert args.func is top.run
    assert args.func(args) == 2
    assert message in capsys.readouterr().err


def test_unreachable_source_exits_1_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nobody listens there
    args = _args("--metrics-url", f"127.0.0.1:{port}", "--once")
    assert top.run(args) == 1
    err = capsys.readouterr().err
    assert f"cannot reach http://127.0.0.1:{port}/metrics" in err


def test_public_surface_is_all() -> None:
    public = {n for n in vars(top) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(top, n)).__name__ == "module"}
    assert set(top.__all__) == public - modules


def test_metrics_url_defaults_to_the_endpoint_serve_uses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nobody listens there
    monkeypatch.setenv("LLMPULSE_METRICS_ENDPOINT", f"127.0.0.1:{port}")
    assert top.run(_args("--once")) == 1
    assert f"cannot reach http://127.0.0.1:{port}/metrics" in capsys.readouterr().err
