"""What receiving a batch over OTLP/gRPC costs grpcio's Python server, before any of llmpulse's work.

A bare server runs in a child process: the receiver's own server options
(``llmpulse.receiver._grpc.server_options`` on the default config) and a TraceService ``Export``
that reads the request's bytes and answers an empty response, served stream-unary on grpcio's aio
server as the receiver serves it (``--server aio-unary`` or ``sync`` for the other two ways grpcio
offers). The load generator's batches are sent from ``--streams`` client threads, one channel
each, raw bytes through a unary call, as ``run_throughput.py`` sends them. The result is the
server process's user + system CPU per request (psutil). It is a floor: ``llmpulse serve`` pays
it, and then decodes, processes and forwards. ``--option name=value`` adds a grpc server option,
``--experiments`` sets ``GRPC_EXPERIMENTS`` in the server only::

    python -m benchmarks.grpc_receive
    python -m benchmarks.grpc_receive --server sync --option grpc.http2.lookahead_bytes=1048576
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import grpc
import psutil

from benchmarks.loadgen import build_load, describe
from benchmarks.run_throughput import EXPORT, free_port
from llmpulse.config import GRPCReceiverConfig
from llmpulse.receiver._grpc import server_options

SERVICE = EXPORT.split("/")[1]


def serve(kind: str, endpoint: str, options: list[tuple[str, Any]]) -> None:
    """The child process: a bare Export that takes the body and answers."""
    if kind == "sync":
        from concurrent import futures

        server = grpc.server(futures.ThreadPoolExecutor(4), options=options)
        handler = grpc.unary_unary_rpc_method_handler(lambda body, _context: b"")
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {"Export": handler})])
        server.add_insecure_port(endpoint)
        server.start()
        server.wait_for_termination()
        return

    async def stream_unary(requests: Any, _context: Any) -> bytes:
        async for _body in requests:  # the receiver reads the one message, then answers
            break
        return b""

    async def unary(_body: bytes, _context: Any) -> bytes:
        return b""

    async def main() -> None:
        server = grpc.aio.server(options=options)
        handler = (
            grpc.unary_unary_rpc_method_handler(unary)
            if kind == "aio-unary"
            else grpc.stream_unary_rpc_method_handler(stream_unary)
        )
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {"Export": handler})])
        server.add_insecure_port(endpoint)
        await server.start()
        await server.wait_for_termination()

    asyncio.run(main())


def _option(text: str) -> tuple[str, Any]:
    name, _, value = text.partition("=")
    if not name or not value:
        raise argparse.ArgumentTypeError(f"--option wants name=value, got {text!r}")
    return name, int(value) if value.lstrip("-").isdigit() else value


def measure(endpoint: str, server: psutil.Process, bodies: list[bytes], requests: int, streams: int) -> float:
    """ms of server CPU per request over ``requests`` sent from ``streams`` threads. Their
    channels share one connection, as grpc does for channels of a process to one target (and as
    in ``run_throughput.send``, whose server this is the floor of)."""
    channels = [grpc.insecure_channel(endpoint) for _ in range(streams)]
    calls = [c.unary_unary(EXPORT) for c in channels]
    for call in calls:  # connect every channel before measuring
        call(bodies[0], timeout=30)
    failures: list[BaseException] = []

    def run(stream: int) -> None:
        try:
            for n in range(stream, requests, streams):
                calls[stream](bodies[n % len(bodies)], timeout=30)
        except BaseException as exc:  # reported after the join
            failures.append(exc)

    before: float = sum(server.cpu_times()[:2])
    threads = [threading.Thread(target=run, args=(s,)) for s in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu: float = sum(server.cpu_times()[:2]) - before
    for channel in channels:
        channel.close()
    if failures:
        raise RuntimeError(f"{len(failures)} client stream(s) failed: {failures[0]!r}")
    return cpu / requests * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="grpcio's server CPU per received OTLP batch")
    parser.add_argument("--server", choices=("aio", "aio-unary", "sync"), default="aio")
    parser.add_argument("--requests", type=int, default=800, help="requests per pass")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--streams", type=int, default=4, help="client threads, one channel each")
    parser.add_argument("--option", type=_option, action="append", default=[], help="extra server option")
    parser.add_argument("--experiments", default=None, help="GRPC_EXPERIMENTS for the server")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    options: list[tuple[str, Any]] = [*server_options(GRPCReceiverConfig()), *args.option]
    if args.child:
        serve(args.server, args.child, [tuple(o) for o in json.loads(os.environ["BENCH_GRPC_OPTIONS"])])
        return 0

    load = build_load(16)
    bodies = [batch.body for batch in load]
    endpoint = f"127.0.0.1:{free_port()}"
    env = dict(os.environ, BENCH_GRPC_OPTIONS=json.dumps(options))
    if args.experiments is not None:
        env["GRPC_EXPERIMENTS"] = args.experiments
    cmd = [sys.executable, "-m", "benchmarks.grpc_receive", "--server", args.server, "--child", endpoint]
    proc = subprocess.Popen(cmd, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with grpc.insecure_channel(endpoint) as probe:
                    grpc.channel_ready_future(probe).result(timeout=1)
                break
            except grpc.FutureTimeoutError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the {args.server} server did not start") from None
        server = psutil.Process(proc.pid)
        print(f"load: {describe(load)}")
        print(f"server: {args.server}, options {options}, GRPC_EXPERIMENTS={args.experiments!r}")
        per_pass = [
            measure(endpoint, server, bodies, args.requests, args.streams) for _ in range(args.passes)
        ]
        print("passes (ms of server CPU per request): " + " ".join(f"{ms:.3f}" for ms in per_pass))
        print(f"receive: best {min(per_pass):.3f}, median {statistics.median(per_pass):.3f} ms per request")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
