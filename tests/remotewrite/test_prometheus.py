"""llmpulse (a real subprocess) remote-writing to a real Prometheus 2.42: exact totals, also
through a Prometheus outage, a ``kill -9`` of llmpulse, and two replicas writing at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.remotewrite.helpers import (
    MODEL,
    RESPONSE_MODEL,
    SELECTOR,
    LLMClient,
    LLMPulse,
    Totals,
    assert_totals,
    prometheus_counter,
)
from tests.support.promstack import Prometheus, wait_until

pytestmark = pytest.mark.integration


def _start(tmp_path: Path, name: str, prom: Prometheus, processes: list[LLMPulse]) -> LLMPulse:
    lp = LLMPulse(tmp_path / name, prom.remote_write_url)
    processes.append(lp)
    return lp.start()


def _delivered_then_backend_down(
    tmp_path: Path, prom: Prometheus, processes: list[LLMPulse], clients: list[LLMClient]
) -> tuple[LLMPulse, LLMClient, Totals]:
    """20 calls delivered exactly, then Prometheus stops (its TSDB stays for the restart)."""
    lp = _start(tmp_path, "lp", prom, processes)
    client = LLMClient(lp.grpc)
    clients.append(client)
    expected = client.run(20)
    assert_totals(prom, expected)
    prom.stop()
    return lp, client, expected


def _no_rejections(prom: Prometheus, restarted: bool = False) -> None:
    """Prometheus took every sample: no out-of-order/out-of-bounds, no 4xx/5xx on the write path.
    ``restarted``: Prometheus came back during the test, and until its TSDB is open it answers
    writes with 503 Service Unavailable (a retry, not a rejection), which the sender may have met
    if it retried in that window (one run in a few does)."""
    assert prometheus_counter(prom, "prometheus_tsdb_out_of_order_samples_total") == 0
    assert prometheus_counter(prom, "prometheus_tsdb_out_of_bound_samples_total") == 0
    write = "/api/v1/write"
    assert prometheus_counter(prom, "prometheus_http_requests_total", handler=write, code="2*") > 0
    requests = {code: {"handler": write, "code": code} for code in ("4*", "5*", "503")}
    refused = sum(
        prometheus_counter(prom, "prometheus_http_requests_total", **requests[c]) for c in ("4*", "5*")
    )
    unready = (
        prometheus_counter(prom, "prometheus_http_requests_total", **requests["503"]) if restarted else 0
    )
    assert refused == unready, f"{refused - unready:g} write(s) refused with a 4xx/5xx other than 503"
    log = prom.log_path.read_text()
    assert "Out of order sample from remote write" not in log
    assert "Error appending remote write" not in log


def _input_at(prom: Prometheus, at: float) -> float | None:
    expr = f'sum(gen_ai_client_tokens_total{{{SELECTOR}, gen_ai_token_type="input"}})'
    return prom.query_value(expr, at=at)


def test_totals_labels_and_self_metrics_arrive_exactly(
    tmp_path: Path, prom: Prometheus, processes: list[LLMPulse], clients: list[LLMClient]
) -> None:
    lp = _start(tmp_path, "lp", prom, processes)
    client = LLMClient(lp.grpc)
    clients.append(client)
    expected = client.run(40)
    assert (expected.requests, expected.errors) == (40, 8)

    assert_totals(prom, expected)
    (series,) = prom.series(f'gen_ai_client_tokens_total{{{SELECTOR}, gen_ai_token_type="input"}}')
    instance = series.pop("llmpulse_instance")
    assert instance and instance == (lp.data_dir / "instance-id").read_text().strip()
    assert series == {
        "__name__": "gen_ai_client_tokens_total",
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "openai",
        "gen_ai_request_model": MODEL,
        "gen_ai_response_model": RESPONSE_MODEL,
        "gen_ai_token_type": "input",
        "service_name": "checkout",
    }
    # classic histogram: the +Inf bucket is the count, per error class
    duration = "gen_ai_client_operation_duration_seconds"
    assert prom.query_value(f'sum({duration}_bucket{{{SELECTOR}, le="+Inf"}})') == 40
    assert prom.query_value(f'sum({duration}_bucket{{{SELECTOR}, le="0.32"}})') == 0
    assert prom.query_value(f'sum({duration}_bucket{{{SELECTOR}, le="0.64"}})') == 40
    assert prom.query_value(f"sum({duration}_sum{{{SELECTOR}}})") == pytest.approx(40 * 0.35)
    # the self-metrics travel too, with the target label
    target = prom.remote_write_url.split("/")[2]
    wait_until(
        lambda: prom.query_value(f'llmpulse_remote_write_samples_sent_total{{target="{target}"}}'),
        timeout=15,
        what="llmpulse_remote_write_samples_sent_total in Prometheus",
    )
    assert prom.query_value('llmpulse_calls_recognised_total{dialect="semconv"}') == 40
    assert lp.scrape("llmpulse_remote_write_samples_dropped_total") is None
    assert lp.scrape("llmpulse_remote_write_samples_failed_total", {"target": target}) == 0
    assert lp.scrape("llmpulse_remote_write_queue_capacity_bytes", {"target": target}) == 256 << 20
    _no_rejections(prom)

    # a graceful stop sends the last values and leaves an empty queue and a checkpointed state
    assert lp.stop() == 0
    assert not list((lp.data_dir / "remote-write").glob("*/*.rw"))
    assert not any(p.stat().st_size for p in (lp.data_dir / "state").glob("wal-*.log"))


def test_prometheus_outage_loses_nothing_and_keeps_the_history(
    tmp_path: Path, prom: Prometheus, processes: list[LLMPulse], clients: list[LLMClient]
) -> None:
    lp, client, expected = _delivered_then_backend_down(tmp_path, prom, processes, clients)
    expected.add(client.run(30, offset=20))  # traffic goes on while the backend is away
    time.sleep(2.5)
    mid_outage = time.time()
    time.sleep(2.5)
    target = prom.remote_write_url.split("/")[2]
    assert (lp.scrape("llmpulse_remote_write_queue_samples", {"target": target}) or 0) > 0
    assert (lp.scrape("llmpulse_remote_write_samples_retried_total", {"target": target}) or 0) > 0

    prom.restart()  # same port, same TSDB
    expected.add(client.run(10, offset=50))
    assert_totals(prom, expected)
    # the snapshots queued during the outage arrived with their own timestamps
    assert _input_at(prom, mid_outage) == sum(100 + i for i in range(50) if i % 5 != 4)
    assert lp.scrape("llmpulse_remote_write_samples_dropped_total") is None
    assert lp.scrape("llmpulse_remote_write_samples_failed_total", {"target": target}) == 0
    _no_rejections(prom, restarted=True)


def test_kill_9_during_an_outage_loses_nothing_and_never_resets(
    tmp_path: Path, prom: Prometheus, processes: list[LLMPulse], clients: list[LLMClient]
) -> None:
    lp, client, expected = _delivered_then_backend_down(tmp_path, prom, processes, clients)
    expected.add(client.run(15, offset=20))  # acknowledged: in the WAL, queued, never sent
    time.sleep(2.5)
    queued_at = time.time() - 0.5
    lp.kill()  # no flush, no checkpoint
    assert list((lp.data_dir / "remote-write").glob("*/*-snap-*.rw"))

    lp.start()  # same data dir: restores the aggregate and finds its queue
    input_total = sum(100 + i for i in range(35) if i % 5 != 4)
    labels = {"gen_ai_token_type": "input", "gen_ai_request_model": MODEL}
    assert lp.scrape("gen_ai_client_tokens_total", labels) == input_total  # /metrics continues too
    expected.add(client.run(10, offset=35))
    lp.kill()  # a second crash, this time with the backend away and fresh calls only in the WAL
    lp.start()
    prom.restart()

    assert_totals(prom, expected)
    assert _input_at(prom, queued_at) == input_total  # queued before the kill, sent after it
    for metric in ("gen_ai_client_tokens_total", "gen_ai_client_operation_duration_seconds_count"):
        assert prom.query_value(f"sum(resets({metric}[10m]))") == 0
    _no_rejections(prom, restarted=True)


def test_two_replicas_write_at_once_without_collisions(
    tmp_path: Path, prom: Prometheus, processes: list[LLMPulse], clients: list[LLMClient]
) -> None:
    a = _start(tmp_path, "a", prom, processes)
    b = _start(tmp_path, "b", prom, processes)
    ca, cb = LLMClient(a.grpc), LLMClient(b.grpc)
    clients += [ca, cb]
    results: dict[str, Totals] = {}

    def drive(name: str, client: LLMClient, offset: int) -> None:
        totals = Totals()
        for round_ in range(4):
            totals.add(client.run(10, offset=offset + 10 * round_))
            time.sleep(0.6)  # spread over several send intervals
        results[name] = totals

    threads = [
        threading.Thread(target=drive, args=("a", ca, 0)),
        threading.Thread(target=drive, args=("b", cb, 1000)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    expected = Totals()
    expected.add(results["a"])
    expected.add(results["b"])
    assert_totals(prom, expected)

    tokens = f'gen_ai_client_tokens_total{{{SELECTOR}, gen_ai_token_type="input"}}'
    assert prom.query_value(f"count(count by (llmpulse_instance) ({tokens}))") == 2
    (merged,) = prom.query(f"sum without (llmpulse_instance) ({tokens})")
    assert float(merged["value"][1]) == expected.input
    assert "llmpulse_instance" not in merged["metric"]
    _no_rejections(prom)


def test_idle_series_end_with_a_stale_marker_after_their_final_value(
    tmp_path: Path, prom: Prometheus, processes: list[LLMPulse], clients: list[LLMClient]
) -> None:
    lp = LLMPulse(tmp_path / "lp", prom.remote_write_url, {"metrics": {"series_idle_timeout_s": 3}})
    processes.append(lp.start())
    client = LLMClient(lp.grpc)
    clients.append(client)
    expected = client.run(10)
    tokens = f'gen_ai_client_tokens_total{{{SELECTOR}, gen_ai_token_type="input"}}'
    wait_until(lambda: prom.query_value(f"last_over_time({tokens}[5m])") == expected.input, 15, what="totals")
    # idle for 3 s: the series expires and Prometheus sees it end (instant queries drop it) ...
    wait_until(lambda: prom.query(tokens) == [], timeout=20, what="the stale marker")
    # ... right after its last value, which is the exact total
    assert prom.query_value(f"last_over_time({tokens}[5m])") == expected.input
    assert (
        prom.query_value(
            f"sum(last_over_time(gen_ai_client_operation_duration_seconds_count{{{SELECTOR}}}[5m]))"
        )
        == 10
    )
    assert (lp.scrape("llmpulse_expired_series_total", {"metric": "gen_ai_client_tokens_total"}) or 0) >= 3
    _no_rejections(prom)
