"""The forwarding path alone, in this process: ``ForwardExporter.export`` → queue → sender → gRPC.

``run_throughput.py --forward`` measures forwarding inside the whole server, where it is a few
milliseconds of CPU among ~14 per batch and the shared machine's noise is as large as it. Here the
batches first go through the real pipeline (so the forwarded bytes are the enriched ones, with
alert events to add); then, in the measured passes, the main thread hands them to the exporter at
``--rate`` per second, as the receiver would, and the target's sender thread sends them to a Rotel
blackhole over OTLP/gRPC. A pass ends when the queue has drained; its CPU is this process's user +
system time over all threads (exporter, sender, gRPC's own threads), per batch; the wall time of
a pass until drained is printed too (``--rate 100000`` hands all batches over at once, so it is the
time to drain a backlog; ``--consumers`` sets ``forward.queue.consumers``, ``--protocol`` the
target's ``protocol``). Rotel runs in its
own process and is not counted. To compare two builds, point ``PYTHONPATH`` at a checkout's
``processors``::

    python -m benchmarks.forward_inprocess
    PYTHONPATH=/tmp/before/processors python -m benchmarks.forward_inprocess
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from prometheus_client import CollectorRegistry

import llmpulse
from benchmarks.loadgen import build_load, describe
from benchmarks.run_throughput import rotel_server
from llmpulse.config import validate
from llmpulse.forward import ForwardExporter
from llmpulse.otlp import Signal, decode_protobuf
from llmpulse.pipeline import Exported, Pipeline
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics


class Recorder:
    """An exporter that keeps what the pipeline hands to exporters, to replay it."""

    name = "recorder"

    def __init__(self) -> None:
        self.exports: list[tuple[Signal, Message, bytes | None, Exported | None]] = []

    def admit(self, signal: Signal, size: int) -> None:
        pass

    def export(
        self, signal: Signal, request: Message, encoded: bytes | None = None, exported: Exported | None = None
    ) -> None:
        self.exports.append((signal, request, encoded, exported))

    def close(self, drain_s: float = 0.0) -> None:
        pass


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ForwardExporter CPU per batch, in-process, to Rotel")
    parser.add_argument("--requests", type=int, default=200, help="batches per measured pass")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--rate", type=float, default=25.0, help="batches handed over per second")
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument(
        "--consumers", type=int, help="forward.queue.consumers (default: the config's default)"
    )
    parser.add_argument("--protocol", choices=("grpc", "http/protobuf"), default="grpc")
    args = parser.parse_args(argv)

    load = build_load(args.batches)
    selfmetrics = SelfMetrics(CollectorRegistry())
    recorder = Recorder()
    pipeline = Pipeline(validate({}), selfmetrics, SpanMetrics(selfmetrics), exporters=[recorder])
    for number in range(3 * len(load)):
        body = load[number % len(load)].stamped(number)
        request = decode_protobuf("traces", body)
        pipeline.consume("traces", request, protocol="grpc", size=len(body), body=body)
    exports = recorder.exports
    print(f"llmpulse from {llmpulse.__file__}")
    print(f"load: {describe(load)}; {args.rate:g} batches/s")
    with tempfile.TemporaryDirectory(prefix="llmpulse-fwd-") as tmp, rotel_server(Path(tmp), "sink") as sink:
        endpoint = sink.grpc_endpoint if args.protocol == "grpc" else sink.http_endpoint
        target = {"name": "sink", "endpoint": endpoint, "protocol": args.protocol}
        forward: dict[str, Any] = {"targets": [target]}
        if args.consumers is not None:
            forward["queue"] = {"consumers": args.consumers}
        exporter = ForwardExporter(
            validate({"forward": forward}).forward, Path(tmp) / "data", SelfMetrics(CollectorRegistry())
        )
        queue = exporter.targets[0].queue

        def run(requests: int) -> None:
            start = time.perf_counter()
            for n in range(requests):
                exporter.export(*exports[n % len(exports)])
                ahead = start + (n + 1) / args.rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
            while queue.requests:
                time.sleep(0.05)

        exporter.start()
        try:
            run(len(load))  # connect, warm caches
            costs, walls = [], []
            for _ in range(args.passes):
                before, started = cpu_s(), time.perf_counter()
                run(args.requests)
                costs.append((cpu_s() - before) / args.requests * 1000)
                walls.append(time.perf_counter() - started)
        finally:
            exporter.close(0)
    print("passes (ms CPU per batch):", " ".join(f"{c:.2f}" for c in costs))
    print(f"forwarding: best {min(costs):.2f}, median {statistics.median(costs):.2f} ms of CPU per batch")
    print(f"wall time until drained: median {statistics.median(walls):.2f} s per pass")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
