"""Remote-write encoding throughput, in series per second.

Builds a realistic aggregate (models × services × tenants × error classes: histograms and
counters of the DESIGN.md contract), then times ``Encoder.encode_snapshot`` with cached label
encodings (every series changed since the last send: the worst case; 10 %; none), cold (first
send, every label set encoded), the same ``WriteRequest`` built with the protobuf runtime for
comparison, and snappy. Times are CPU seconds, best of ``--repeat`` (the machine is shared).
Nothing is asserted: the numbers go to benchmarks/README.md.

    python benchmarks/remote_write_encode.py [--series-target 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import platform
import time

import cramjam
from prometheus_client import CollectorRegistry

from llmpulse.call import LLMCall
from llmpulse.remotewrite import Encoder, WriteRequest
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SeriesSnapshot, SpanMetrics


def build(series_target: int) -> tuple[SpanMetrics, list[SeriesSnapshot]]:
    metrics = SpanMetrics(SelfMetrics(CollectorRegistry()), cardinality_limit=10_000_000)
    models = [f"model-{i}" for i in range(40)]
    errors = [None, "rate_limit", "timeout", "server_error"]
    calls: list[LLMCall] = []
    for service, tenant in itertools.product(range(1000), range(1000)):
        for model, error in itertools.product(models, errors):
            calls.append(
                LLMCall(
                    dialect="semconv",
                    operation="chat",
                    provider="openai",
                    request_model=model,
                    response_model=model + "-2024",
                    input_tokens=None if error else 500,
                    output_tokens=None if error else 80,
                    cache_read_tokens=None if error else 128,
                    duration_s=1.2,
                    error_class=error,
                    cost_usd=None if error else 0.0004,
                    service_name=f"svc-{service}",
                    dimensions={"tenant": f"tenant-{tenant}"},
                )
            )
        if len(calls) >= 5000:
            metrics.record(calls, journal=False)
            calls.clear()
            snaps = metrics.snapshot()
            rows = sum(len(s.bucket_counts) + 2 if s.bucket_counts else 1 for s in snaps)
            if rows >= series_target:
                return metrics, snaps
    metrics.record(calls, journal=False)
    return metrics, metrics.snapshot()


def reference(encoder: Encoder, snaps: list[SeriesSnapshot], ts: int) -> bytes:
    """The same request through the protobuf runtime (no caching), for comparison."""
    from llmpulse.remotewrite._encode import le

    request = WriteRequest()
    for s in snaps:
        d = s.metric
        base = d.name + (f"_{d.unit}" if d.unit else "")
        rows: list[tuple[str, tuple[tuple[str, str], ...], float]] = []
        if d.kind == "counter":
            rows.append((base + "_total", s.labels, s.value))
        else:
            cumulative = 0
            for bound, count in zip((*d.buckets, float("inf")), s.bucket_counts, strict=True):
                cumulative += count
                rows.append((base + "_bucket", (*s.labels, ("le", le(bound))), float(cumulative)))
            rows.append((base + "_sum", s.labels, s.total))
            rows.append((base + "_count", s.labels, float(s.count)))
        for name, labels, value in rows:
            ts_msg = request.timeseries.add()
            merged = {**encoder.external, **dict(labels), "__name__": name}
            for key in sorted(merged):
                ts_msg.labels.add(name=key, value=merged[key])
            ts_msg.samples.add(value=value, timestamp=ts)
    return bytes(request.SerializeToString())


def best(fn: object, repeat: int) -> float:
    """Fastest of ``repeat`` runs, in CPU seconds of this process: the machine is shared, and
    encoding is single-threaded and CPU-bound, so CPU time is the stable measure."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()  # type: ignore[operator]
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series-target", type=int, default=200_000, help="remote-write series to build")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    _, snaps = build(args.series_target)
    # the same series with every value moved on: each send then finds every series changed
    moved = [dataclasses.replace(x, value=x.value + 1, count=x.count + 1, total=x.total + 1.0) for x in snaps]
    tenth = [m if i % 10 == 0 else x for i, (x, m) in enumerate(zip(snaps, moved, strict=True))]
    ts = int(time.time() * 1000)
    encoder = Encoder({"llmpulse_instance": "bench-0", "region": "eu-west"}, max_cache_bytes=1 << 30)
    start = time.process_time()
    first = encoder.encode_snapshot(snaps, ts)
    cold = time.process_time() - start
    n = first.series
    flip = itertools.cycle([moved, snaps])
    changed = best(lambda: encoder.encode_snapshot(next(flip), ts + 1000), args.repeat)
    encoder.encode_snapshot(snaps, ts)
    flip10 = itertools.cycle([tenth, snaps])
    some = best(lambda: encoder.encode_snapshot(next(flip10), ts + 1000), args.repeat)
    encoder.encode_snapshot(snaps, ts)
    idle = best(lambda: encoder.encode_snapshot(snaps, ts + 1000), args.repeat)
    proto = best(lambda: reference(encoder, snaps, ts), max(1, args.repeat // 2))
    data = encoder.encode_snapshot(snaps, ts).data
    snappy = best(lambda: cramjam.snappy.compress_raw(data), args.repeat)
    compressed = len(cramjam.snappy.compress_raw(data))

    print(f"python {platform.python_version()} on {platform.machine()}, {len(snaps)} aggregate series")
    print(f"remote-write series per snapshot: {n} ({len(data) / n:.0f} bytes each, {len(data) >> 20} MiB)")
    for what, secs in (
        ("encode, cached, every series changed:", changed),
        ("encode, cached, 10% of series changed:", some),
        ("encode, cached, no series changed:", idle),
    ):
        print(f"{what:<40}{n / secs / 1e6:6.2f} M series/s  ({secs * 1000:.0f} ms)")
    print(f"{'encode, cold cache (first send):':<40}{n / cold / 1e6:6.2f} M series/s  ({cold * 1000:.0f} ms)")
    print(
        f"{'protobuf runtime, same request:':<40}{n / proto / 1e6:6.2f} M series/s  ({proto * 1000:.0f} ms)"
    )
    print(
        f"{'snappy block compression:':<40}{n / snappy / 1e6:6.2f} M series/s  "
        f"({snappy * 1000:.0f} ms, ratio {len(data) / compressed:.1f})"
    )


if __name__ == "__main__":
    main()
