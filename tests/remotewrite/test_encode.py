"""The hand-written encoder against the protobuf reference: same messages, label rules, classic
histograms, stale markers, re-stamping, record splitting; and the package surface."""

from __future__ import annotations

import itertools
import math

import pytest
from prometheus_client import CollectorRegistry

import llmpulse.remotewrite as rw
from llmpulse.call import LLMCall
from llmpulse.remotewrite import (
    Encoder,
    WriteRequest,
    is_stale_nan,
    parse_write_request,
    restamp,
    split_records,
)
from llmpulse.remotewrite._proto import STALE_NAN
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics, SpanMetricsCollector

TS = 1_763_900_000_123


def _aggregate() -> tuple[SpanMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = SpanMetrics(SelfMetrics(registry))
    registry.register(SpanMetricsCollector(metrics))
    metrics.record(
        [
            LLMCall(
                dialect="semconv",
                operation="chat",
                provider="openai",
                request_model="gpt-4o-mini",
                response_model="gpt-4o-mini-2024-07-18",
                input_tokens=300,
                output_tokens=40,
                cache_read_tokens=128,
                duration_s=0.7,
                cost_usd=0.0001,
                service_name="svc",
                dimensions={"Tenant": "acme", "api_key": ""},  # upper-case sorts before __name__
            ),
            LLMCall(
                dialect="semconv",
                operation="chat",
                request_model="o3",
                duration_s=12.0,
                error_class="timeout",
            ),
        ]
    )
    return metrics, registry


def _reference(
    registry: CollectorRegistry, external: dict[str, str]
) -> dict[tuple[tuple[str, str], ...], float]:
    """What /metrics exposes (prometheus-client's own rendering), with the external labels."""
    out = {}
    for family in registry.collect():
        if not family.name.startswith("gen_ai"):
            continue
        for s in family.samples:
            labels = {**external, **{k: v for k, v in s.labels.items() if v}, "__name__": s.name}
            out[tuple(sorted(labels.items()))] = float(s.value)
    return out


def test_encoding_matches_the_metrics_endpoint_and_parses_as_a_write_request() -> None:
    metrics, registry = _aggregate()
    external = {"llmpulse_instance": "pod-a", "region": "eu"}
    encoded = Encoder(external).encode_snapshot(metrics.snapshot(), TS)
    request = parse_write_request(encoded.data)
    got = {}
    for ts in request.timeseries:
        names = [lb.name for lb in ts.labels]
        assert names == sorted(names) and len(set(names)) == len(names)
        assert all(lb.name and lb.value for lb in ts.labels)
        ((value, stamp),) = [(s.value, s.timestamp) for s in ts.samples]
        assert stamp == TS
        got[tuple((lb.name, lb.value) for lb in ts.labels)] = value
    assert got == _reference(registry, external)
    assert encoded.series == encoded.samples == len(got) == len(request.timeseries)
    assert next(iter(got))[0] == ("Tenant", "acme")  # byte order: upper case first
    # byte for byte what the reference library would write for the same message
    again = WriteRequest()
    again.ParseFromString(encoded.data)
    assert parse_write_request(again.SerializeToString()) == request


def test_cache_gives_the_same_bytes_and_new_values() -> None:
    metrics, registry = _aggregate()
    enc = Encoder({"llmpulse_instance": "a"})
    first = enc.encode_snapshot(metrics.snapshot(), TS)
    assert enc.encode_snapshot(metrics.snapshot(), TS).data == first.data
    metrics.record([LLMCall(dialect="semconv", operation="chat", request_model="o3", duration_s=1.0)])
    later = parse_write_request(enc.encode_snapshot(metrics.snapshot(), TS + 1000).data)
    # changed series re-encoded, unchanged ones from the cache: together exactly /metrics
    assert {
        tuple((lb.name, lb.value) for lb in ts.labels): ts.samples[0].value for ts in later.timeseries
    } == _reference(registry, {"llmpulse_instance": "a"})
    counts = {
        dict((lb.name, lb.value) for lb in ts.labels).get("error_type", "-"): ts.samples[0].value
        for ts in later.timeseries
        if ts.labels[0].value == "gen_ai_client_operation_duration_seconds_count"
        and any(lb.value == "o3" for lb in ts.labels)
    }
    assert counts == {"timeout": 1.0, "-": 1.0}
    assert {ts.samples[0].timestamp for ts in later.timeseries} == {TS + 1000}
    # a timestamp whose varint is longer rebuilds every cached header
    far = parse_write_request(enc.encode_snapshot(metrics.snapshot(), 2**49).data)
    assert {ts.samples[0].timestamp for ts in far.timeseries} == {2**49}


def test_finals_carry_value_then_stale_marker_and_restamp_keeps_them_1ms_apart() -> None:
    metrics, _ = _aggregate()
    snaps = [s for s in metrics.snapshot() if s.metric.name == "gen_ai_client_tokens"]
    final = Encoder({"llmpulse_instance": "a"}).encode_final(snaps, TS)
    assert final.samples == 2 * final.series == 2 * 3  # input, output, cache_read
    request = parse_write_request(final.data)
    for ts in request.timeseries:
        (v, t1), (stale, t2) = [(s.value, s.timestamp) for s in ts.samples]
        assert not math.isnan(v) and t1 == TS
        assert is_stale_nan(stale) and t2 == TS + 1
    assert not is_stale_nan(float("nan"))  # an ordinary NaN is not a stale marker
    again = parse_write_request(restamp(final.data, TS + 5000))
    assert [[s.timestamp for s in ts.samples] for ts in again.timeseries] == [[TS + 5000, TS + 5001]] * 3
    assert [ts.samples[0].value for ts in again.timeseries] == [
        ts.samples[0].value for ts in request.timeseries
    ]
    assert is_stale_nan(STALE_NAN)


def test_split_records_cuts_requests_out_of_a_segment() -> None:
    metrics, _ = _aggregate()
    data = Encoder({"llmpulse_instance": "a"}).encode_snapshot(metrics.snapshot(), TS).data
    bounds = list(split_records(data))
    assert bounds[0][0] == 0 and bounds[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    part = data[bounds[3][0] : bounds[9][1]]
    assert len(parse_write_request(part).timeseries) == 7
    assert next(iter(split_records(data, bounds[5][0]))) == bounds[5]
    with pytest.raises(ValueError, match="truncated"):
        list(split_records(data[:-1]))


def test_self_metrics_families_exclude_span_metrics() -> None:
    _metrics, registry = _aggregate()
    names = {f.name for f in rw.self_metric_families(registry)}
    assert names and all(n.startswith("llmpulse_") for n in names)
    assert "llmpulse_state_wal_bytes" in names


def test_public_surface_matches_all() -> None:
    public = {n for n in dir(rw) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if n.startswith("_") or type(getattr(rw, n)).__name__ == "module"}
    assert set(rw.__all__) == public - modules
