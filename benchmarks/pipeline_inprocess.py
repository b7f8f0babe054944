"""``Pipeline.consume`` alone, in this process: decode (as the receivers do) + pipeline, no gRPC, no asyncio.

Separates the pipeline's cost from the server's (``run_throughput.py`` measures both). The
garbage collector is tuned as the server tunes it (``tune_collector``). Each
measured pass is ``--requests`` stamped batches from ``benchmarks.loadgen``; the result is the
best and the median of ``--passes`` passes in CPU seconds (the machine is shared, so the best pass
is the least disturbed one). To compare two builds, point ``PYTHONPATH`` at a checkout's
``processors``::

    python -m benchmarks.pipeline_inprocess
    PYTHONPATH=/tmp/before/processors python -m benchmarks.pipeline_inprocess
"""

from __future__ import annotations

import argparse
import statistics
import time

from prometheus_client import CollectorRegistry

import llmpulse
from benchmarks.loadgen import build_load, describe
from benchmarks.run_throughput import build_line
from llmpulse import otlp
from llmpulse.config import validate
from llmpulse.pipeline import Pipeline
from llmpulse.receiver._admission import tune_collector
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Pipeline.consume spans per CPU-second, in-process")
    parser.add_argument("--requests", type=int, default=32, help="requests per measured pass")
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--batches", type=int, default=16)
    args = parser.parse_args(argv)

    decode = getattr(otlp, "decode_request", otlp.decode_protobuf)  # what the receivers call
    load = build_load(args.batches)
    selfmetrics = SelfMetrics(CollectorRegistry())
    pipeline = Pipeline(validate({}), selfmetrics, SpanMetrics(selfmetrics))
    number = 0

    def run(requests: int) -> int:
        nonlocal number
        spans = 0
        for _ in range(requests):
            batch = load[number % len(load)]
            body = batch.stamped(number)
            number += 1
            outcome = pipeline.consume(
                "traces", decode("traces", body), protocol="grpc", size=len(body), body=body
            )
            spans += outcome.accepted
        return spans

    print(f"llmpulse from {llmpulse.__file__}")
    print(build_line())
    print(f"load: {describe(load)}")
    run(len(load))  # warm caches (key flags, scope dialects, price lookups)
    tune_collector()  # the collector as ``llmpulse serve`` sets it up after start-up
    rates = []
    for _ in range(args.passes):
        start = time.process_time()
        spans = run(args.requests)
        rates.append(spans / (time.process_time() - start))
    print(f"Pipeline.consume: best {max(rates):,.0f}, median {statistics.median(rates):,.0f} spans/CPU-s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
