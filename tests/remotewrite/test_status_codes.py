"""Retry rules of remote write 1.0 against a scripted receiver: 5xx and 429 are retried with
backoff (Retry-After honoured), other 4xx are dropped at once, counted, and logged as the
receiver wrote them."""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path

import pytest

from llmpulse.remotewrite import is_stale_nan
from tests.remotewrite.receiver import Harness, Receiver


def _samples(received: object) -> int:
    return sum(len(ts.samples) for ts in received.request.timeseries)  # type: ignore[attr-defined]


async def _scenario(
    tmp_path: Path, script: list[tuple[int, dict[str, str], str]], requests: int
) -> tuple[Harness, Receiver]:
    receiver = await Receiver(script=list(script)).start()
    h = Harness(tmp_path / "data", receiver.url)
    h.record(tokens=10)
    await h.exporter.start()
    await h.exporter.enqueue_snapshot()
    await receiver.wait_for(requests)
    await asyncio.sleep(0.3)  # nothing more may come
    await h.exporter.stop()
    await receiver.stop()
    return h, receiver


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_with_backoff_until_accepted(tmp_path: Path, status: int) -> None:
    script = [(status, {}, "overloaded"), (status, {}, "overloaded")]
    h, receiver = asyncio.run(_scenario(tmp_path, script, 3))
    first, second, third = receiver.received[:3]
    assert first.raw == second.raw == third.raw  # the same bytes again, timestamps unchanged
    n = _samples(first)
    assert n > 20  # the aggregate's series and the self-metrics
    assert h.value("llmpulse_remote_write_samples_retried_total") == 2 * n
    # 3 attempts of the snapshot, then the final snapshot queued by stop()
    assert len(receiver.received) == 4
    assert h.value("llmpulse_remote_write_samples_sent_total") == n + _samples(receiver.received[3])
    assert h.value("llmpulse_remote_write_samples_failed_total") == 0
    # exponential backoff without jitter: 0.05 s, then 0.1 s
    assert 0.05 <= second.at - first.at < 0.5
    assert 0.1 <= third.at - second.at < 0.6
    assert h.value("llmpulse_remote_write_queue_samples") == 0


def test_429_waits_for_retry_after(tmp_path: Path) -> None:
    h, receiver = asyncio.run(_scenario(tmp_path, [(429, {"Retry-After": "1"}, "slow down")], 2))
    first, second = receiver.received[:2]
    assert first.raw == second.raw
    assert 1.0 <= second.at - first.at < 1.8  # Retry-After, not the 0.05 s backoff
    assert h.value("llmpulse_remote_write_samples_retried_total") == _samples(first)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_other_4xx_is_dropped_at_once_counted_and_logged_verbatim(
    tmp_path: Path, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    message = 'out of order sample: series {__name__="x"} at 17 <"quoted"> ünïcode'
    with caplog.at_level(logging.ERROR, logger="llmpulse.remotewrite"):
        h, receiver = asyncio.run(_scenario(tmp_path, [(status, {}, message)], 1))
    first, final = receiver.received  # no retry: the next request is stop()'s snapshot
    assert first.raw != final.raw
    n = _samples(first)
    assert h.value("llmpulse_remote_write_samples_failed_total") == n
    assert h.value("llmpulse_remote_write_samples_dropped_total", reason="rejected") == n
    assert h.value("llmpulse_remote_write_samples_retried_total") == 0
    assert h.value("llmpulse_remote_write_samples_sent_total") == _samples(final)
    (record,) = [r for r in caplog.records if "refused" in r.getMessage()]
    assert record.getMessage().endswith(f"with HTTP {status} (dropped, not retried): {message}")


def test_network_errors_are_retried_and_a_stop_leaves_the_rest_on_disk(tmp_path: Path) -> None:
    async def run() -> None:
        dead = "http://127.0.0.1:9/api/v1/write"  # discard port: connection refused
        h = Harness(tmp_path / "data", dead)
        h.record(tokens=7)
        await h.exporter.start()
        await h.exporter.enqueue_snapshot()
        await asyncio.sleep(0.5)
        assert h.value("llmpulse_remote_write_samples_retried_total") > 0
        await h.exporter.stop()  # last snapshot; the final send fails within flush_timeout_s
        assert len(list((tmp_path / "data" / "remote-write" / "test").glob("*-snap-*.rw"))) == 2
        queued = h.value("llmpulse_remote_write_queue_samples")
        assert queued > 0

        # next start, receiver back: the queue goes out in order
        receiver = await Receiver().start()
        h2 = Harness(tmp_path / "data", receiver.url)
        assert h2.value("llmpulse_remote_write_queue_samples") == queued
        await h2.exporter.start()
        got = await receiver.wait_for(2)
        assert sum(_samples(r) for r in got) == queued
        first_ts = {s[0][1] for s in got[0].series().values()}
        second_ts = {s[0][1] for s in got[1].series().values()}
        assert len(first_ts) == len(second_ts) == 1 and max(first_ts) < min(second_ts)
        await h2.exporter.stop()
        await receiver.stop()

    asyncio.run(run())


def test_expired_series_get_final_value_and_stale_marker_and_are_restamped_if_too_old(
    tmp_path: Path,
) -> None:
    async def run() -> None:
        receiver = await Receiver(script=[(204, {}, ""), (400, {}, "out of bounds")]).start()
        h = Harness(tmp_path / "data", receiver.url)
        h.record(model="old", tokens=5)
        await h.exporter.start()
        await h.exporter.enqueue_snapshot()
        await receiver.wait_for(1)
        h.clock.now += 120  # idle past the 60 s timeout
        gone = h.spanmetrics.expire()
        assert {dict(s.labels)["gen_ai_request_model"] for s in gone} == {"old"}
        h.exporter.expired(gone)
        await h.exporter.enqueue_snapshot()  # finals first, then the (now empty) aggregate
        await receiver.wait_for(4)
        rejected, restamped = receiver.received[1], receiver.received[2]
        key = (
            ("__name__", "gen_ai_client_tokens_total"),
            ("gen_ai_operation_name", "chat"),
            ("gen_ai_provider_name", "openai"),
            ("gen_ai_request_model", "old"),
            ("gen_ai_token_type", "input"),
            ("llmpulse_instance", "test-1"),
            ("service_name", "svc"),
        )
        (value, ts), (stale, stale_ts) = rejected.series()[key]
        assert value == 5 and is_stale_nan(stale) and stale_ts == ts + 1
        (value2, ts2), (stale2, stale_ts2) = restamped.series()[key]
        assert value2 == 5 and is_stale_nan(stale2) and stale_ts2 == ts2 + 1 and ts2 > stale_ts
        first_ts = next(iter(receiver.received[0].series().values()))[0][1]
        assert first_ts < ts  # the final comes after the last regular sample
        assert h.value("llmpulse_remote_write_samples_failed_total") == 0
        assert h.value("llmpulse_remote_write_samples_retried_total") == _samples(rejected)
        await h.exporter.stop()
        await receiver.stop()

    asyncio.run(run())


def test_a_batch_that_ages_out_during_an_outage_is_dropped_not_sent_late(tmp_path: Path) -> None:
    async def run() -> tuple[Harness, Receiver]:
        receiver = await Receiver(script=[(503, {}, ""), (503, {}, "")]).start()
        wall = [2_000_000_000.0]
        config = {"max_sample_age_s": 100, "retry": {"initial_interval_s": 0.2, "max_interval_s": 1}}
        h = Harness(tmp_path / "data", receiver.url, config, wall=lambda: wall[0])
        h.record(tokens=3)
        await h.exporter.start()
        await h.exporter.enqueue_snapshot()
        await receiver.wait_for(2)
        wall[0] += 200  # the outage outlasts max_sample_age_s
        h.record(tokens=4)
        await h.exporter.enqueue_snapshot()
        await receiver.wait_for(3)
        await h.exporter.stop()
        await receiver.stop()
        return h, receiver

    h, receiver = asyncio.run(run())
    old, _, fresh = receiver.received[:3]
    assert old.raw == receiver.received[1].raw
    assert h.value("llmpulse_remote_write_samples_dropped_total", reason="too_old") == _samples(old)
    assert h.value("llmpulse_remote_write_samples_failed_total") == 0
    tokens = {
        dict(k)["gen_ai_token_type"]: v[0][0]
        for k, v in fresh.series().items()
        if dict(k)["__name__"] == "gen_ai_client_tokens_total"
    }
    assert tokens == {"input": 7.0, "output": 4.0}  # the newer snapshot carries the whole total


def test_backoff_is_capped_jittered_and_survives_an_endless_outage() -> None:
    from llmpulse.config import RemoteWriteRetryConfig
    from llmpulse.remotewrite import Backoff

    plain = Backoff(RemoteWriteRetryConfig(initial_interval_s=0.5, max_interval_s=30, randomization_factor=0))
    assert [plain.delay(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert plain.delay(100_000) == 30  # days of retries: no float overflow
    jittered = Backoff(
        RemoteWriteRetryConfig(initial_interval_s=1, max_interval_s=60, randomization_factor=0.5)
    )
    delays = {jittered.delay(2) for _ in range(200)}
    assert min(delays) >= 2 and max(delays) <= 6 and len(delays) > 100
    assert plain.retry_after("7") == 7
    assert plain.retry_after("100000") == 300  # capped at max_retry_after_s
    assert plain.retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412500.0) == 10
    assert plain.retry_after("soon") is None and plain.retry_after(None) is None


def test_a_long_outage_stays_within_the_disk_budget_and_the_newest_totals_arrive(tmp_path: Path) -> None:
    async def run() -> tuple[Harness, Receiver, int]:
        receiver = await Receiver(script=[(503, {}, "down")] * 100_000).start()
        budget = 100_000  # about six snapshots
        config = {"queue_capacity_mib": budget / (1 << 20), "retry": {"max_interval_s": 0.05}}
        h = Harness(tmp_path / "data", receiver.url, config)
        await h.exporter.start()
        for i in range(40):
            h.record(tokens=1)
            await h.exporter.enqueue_snapshot()
            queued = h.value("llmpulse_remote_write_queue_bytes")
            assert queued <= budget + 20_000, (i, queued)  # the budget, plus the segment in flight
        assert h.value("llmpulse_remote_write_queue_capacity_bytes") == budget
        assert h.value("llmpulse_remote_write_samples_dropped_total", reason="thinned") > 0
        receiver.script.clear()  # the receiver is back
        deadline = asyncio.get_running_loop().time() + 10
        while h.value("llmpulse_remote_write_queue_samples") and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await h.exporter.stop()
        await receiver.stop()
        return h, receiver, len(list((tmp_path / "data" / "remote-write" / "test").glob("*.rw")))

    _, receiver, left = asyncio.run(run())
    assert left == 0
    accepted = [r for r in receiver.received if r.status == 204]
    inputs = [
        v[0][0]
        for r in accepted
        for k, v in r.series().items()
        if dict(k)["__name__"] == "gen_ai_client_tokens_total" and dict(k)["gen_ai_token_type"] == "input"
    ]
    assert inputs[-1] == 40  # the newest total reached the receiver
    assert inputs == sorted(inputs) and len(inputs) < 40  # in order, thinned
    stamps = [{v[0][1] for v in r.series().values()} for r in accepted]
    assert all(len(s) == 1 for s in stamps)
    assert all(a < b for (a,), (b,) in itertools.pairwise(stamps)), stamps  # strictly increasing
