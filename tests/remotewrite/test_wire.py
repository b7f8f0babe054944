"""What goes on the wire, decoded in the test: protocol headers nothing can override, auth and
tenant headers, label rules, per-series timestamps strictly increasing (also across restarts
and a wall clock that jumps back), and several targets with their own queues."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from llmpulse.config import ConfigError, validate
from tests.remotewrite.receiver import Harness, Receiver


def _check_labels(received: list[object]) -> None:
    for r in received:
        for ts in r.request.timeseries:  # type: ignore[attr-defined]
            names = [lb.name for lb in ts.labels]
            assert names == sorted(names), names
            assert len(set(names)) == len(names)
            assert names[0] == "__name__"
            assert all(lb.name and lb.value for lb in ts.labels)
            labels = {lb.name: lb.value for lb in ts.labels}
            assert labels["llmpulse_instance"] == "test-1"
            assert labels["region"] == "eu-west"


def test_headers_labels_and_increasing_timestamps_across_a_restart(tmp_path: Path) -> None:
    async def run() -> list[object]:
        receiver = await Receiver().start()
        config = {
            "external_labels": {"region": "eu-west"},
            "targets": [
                {
                    "url": receiver.url,
                    "name": "test",
                    "headers": {"X-Scope-OrgID": "tenant-a"},
                    "bearer_token": "s3cret",
                }
            ],
        }
        wall = [2_000_000_000.0]
        h = Harness(tmp_path / "data", receiver.url, config, wall=lambda: wall[0])
        h.record(tokens=3)
        h.record(model="gpt-4o", error="rate_limit")
        await h.exporter.start()
        for _ in range(3):
            await h.exporter.enqueue_snapshot()  # same wall clock: timestamps still advance
        await receiver.wait_for(3)
        await h.exporter.stop()
        wall[0] -= 3600  # the clock jumps an hour back; a restart must not follow it
        h2 = Harness(tmp_path / "data", receiver.url, config, wall=lambda: wall[0])
        h2.record(tokens=4)
        await h2.exporter.start()
        await h2.exporter.enqueue_snapshot()
        await receiver.wait_for(5)
        await h2.exporter.stop()
        await receiver.stop()
        return list(receiver.received)

    received = asyncio.run(run())
    for r in received:
        h = r.headers  # type: ignore[attr-defined]
        assert h["Content-Encoding"] == "snappy"
        assert h["Content-Type"] == "application/x-protobuf"
        assert h["X-Prometheus-Remote-Write-Version"] == "0.1.0"
        assert h["User-Agent"] == "llmpulse/0.1.0"
        assert h["X-Scope-OrgID"] == "tenant-a"
        assert h["Authorization"] == "Bearer s3cret"
    _check_labels(received)
    last: dict[tuple[tuple[str, str], ...], int] = {}
    for r in received:
        for key, samples in r.series().items():  # type: ignore[attr-defined]
            for _, ts in samples:
                assert ts > last.get(key, 0), key
                last[key] = ts
    names = {dict(k)["__name__"] for k in received[0].series()}  # type: ignore[attr-defined]
    assert {
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_operation_duration_seconds_sum",
        "gen_ai_client_operation_duration_seconds_count",
        "gen_ai_client_token_usage_bucket",
        "gen_ai_client_tokens_total",
        "gen_ai_client_cost_usd_total",
        "llmpulse_state_wal_bytes",
        "llmpulse_remote_write_queue_capacity_bytes",
    } <= names
    after_restart = {
        dict(k).get("gen_ai_token_type"): v
        for k, v in received[4].series().items()  # type: ignore[attr-defined]
        if dict(k)["__name__"] == "gen_ai_client_tokens_total"
    }
    assert [v for v, _ in after_restart["input"]] == [4.0]


def test_two_targets_each_with_its_own_queue_auth_and_tenant(tmp_path: Path) -> None:
    async def run() -> tuple[Receiver, Receiver, Harness]:
        up, down = await Receiver().start(), await Receiver(script=[(503, {}, "")] * 1000).start()
        config = {
            "targets": [
                {"url": up.url, "name": "test", "basic_auth": {"username": "u", "password": "p"}},
                {"url": down.url, "name": "mimir", "headers": {"X-Scope-OrgID": "t1"}},
            ]
        }
        h = Harness(tmp_path / "data", up.url, config)
        h.record(tokens=5)
        await h.exporter.start()
        await h.exporter.enqueue_snapshot()
        await h.exporter.enqueue_snapshot()
        await up.wait_for(2)
        await down.wait_for(3)
        await h.exporter.stop()
        await up.stop()
        await down.stop()
        return up, down, h

    up, down, h = asyncio.run(run())
    assert up.received[0].headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert "X-Scope-OrgID" not in up.received[0].headers
    assert down.received[0].headers["X-Scope-OrgID"] == "t1"
    assert "Authorization" not in down.received[0].headers
    # the healthy target is not held up by the failing one; the failing one keeps its queue
    assert h.registry.get_sample_value("llmpulse_remote_write_queue_samples", {"target": "test"}) == 0
    assert (h.registry.get_sample_value("llmpulse_remote_write_queue_samples", {"target": "mimir"}) or 0) > 0
    assert len(list((tmp_path / "data" / "remote-write" / "mimir").glob("*.rw"))) == 3


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        (
            {"url": "http://p/api/v1/write", "headers": {"User-Agent": "x"}},
            "may not set the remote-write protocol",
        ),
        (
            {"url": "http://p/w", "headers": {"content-encoding": "gzip"}},
            "protocol headers ['content-encoding']",
        ),
        ({"url": "http://p/w", "bearer_token": "a", "basic_auth": {"username": "u"}}, "choose one of"),
        ({"url": "http://p/w", "bearer_token": "a", "headers": {"Authorization": "x"}}, "clashes with"),
        ({"url": "ftp://p/w"}, "must be an http:// or https:// URL"),
        ({"url": "http://p/w", "tls": {"cert_file": "/c.pem"}}, "`cert_file` and `key_file` go together"),
    ],
)
def test_target_config_errors_name_the_rule(target: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate({"remote_write": {"targets": [target]}})
    assert problem in str(err.value)
    assert "remote_write.targets.0" in str(err.value)


def test_config_rules_and_secrets_stay_out_of_repr() -> None:
    with pytest.raises(ConfigError, match="distinct names"):
        validate({"remote_write": {"targets": [{"url": "http://p:9/a"}, {"url": "http://p:9/b"}]}})
    with pytest.raises(ConfigError, match="llmpulse_instance"):
        validate({"remote_write": {"external_labels": {"llmpulse_instance": "x"}}})
    with pytest.raises(ConfigError, match="__bad"):
        validate({"remote_write": {"external_labels": {"__bad": "x"}}})
    with pytest.raises(ConfigError, match="unknown key"):
        validate({"remote_write": {"targets": [{"url": "http://p/w", "password": "x"}]}})
    config = validate(
        {
            "remote_write": {
                "targets": [
                    {"url": "http://p/w", "bearer_token": "tok-123", "headers": {"X-Key": "hdr-456"}},
                    {"url": "http://q/w", "basic_auth": {"username": "u", "password": "pw-789"}},
                ]
            }
        }
    )
    text = repr(config) + str(config)
    assert "tok-123" not in text and "hdr-456" not in text and "pw-789" not in text
    assert [t.display_name() for t in config.remote_write.targets] == ["p", "q"]
    flags = validate({"remote_write": {"targets": [{"url": "http://127.0.0.1:9090/api/v1/write"}]}})
    assert flags.remote_write.targets[0].display_name() == "127.0.0.1:9090"
    inline = validate({"remote_write": {"targets": [{"url": "https://bob:hunter2@mimir:443/api/v1/push"}]}})
    assert inline.remote_write.targets[0].display_name() == "mimir:443"  # the target label: no password


def test_requests_hold_at_most_max_samples_per_request(tmp_path: Path) -> None:
    async def run() -> tuple[Receiver, int]:
        receiver = await Receiver().start()
        h = Harness(tmp_path / "data", receiver.url, {"max_samples_per_request": 10})
        h.record(tokens=3)
        h.record(model="o3", tokens=8)
        encoded = h.exporter._encode(1_800_000_000_000)
        await h.exporter.start()
        await h.exporter.enqueue_snapshot()
        await receiver.wait_for(-(-encoded.samples // 10))
        h.clock.now += 120
        h.exporter.expired(h.spanmetrics.expire())  # finals: 2 samples per series
        await h.exporter.stop()
        await receiver.stop()
        return receiver, encoded.samples

    receiver, samples = asyncio.run(run())
    sizes = [sum(len(ts.samples) for ts in r.request.timeseries) for r in receiver.received]
    assert max(sizes) <= 10 and min(sizes) >= 1
    first_snapshot = sizes[: -(-samples // 10)]
    assert sum(first_snapshot) == samples
    finals = [r for r in receiver.received if any(len(ts.samples) == 2 for ts in r.request.timeseries)]
    assert finals and all(len(r.request.timeseries) <= 5 for r in finals)
