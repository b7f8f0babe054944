"""Overload: a real llmpulse with a memory limit, flooded by clients that never back off with
requests of 2048 spans (about 1.7 MB each, several times what one process can take in).

It must stay under its memory limit, refuse only retryably (RESOURCE_EXHAUSTED with RetryInfo),
count every accepted span exactly, and accept again by itself once the flood stops.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import httpx
import psutil
import pytest
import yaml
from google.rpc import error_details_pb2, status_pb2

from benchmarks.loadgen import build_load
from tests.support.process import start_serve

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LIMIT_MIB = 170
CLIENTS = 16
SECONDS = 6.0


@pytest.mark.slow
def test_flood_stays_under_the_memory_limit_and_recovers(tmp_path: Path) -> None:
    load = build_load(batches=4, spans_per_batch=2048, llm_share=0.2)
    config = tmp_path / "llmpulse.yaml"
    config.write_text(yaml.safe_dump({"limits": {"memory_limit_mib": LIMIT_MIB, "retry_after_s": 1}}))
    proc, ports = start_serve(tmp_path / "data", "--config", str(config))
    server = psutil.Process(proc.pid)
    peak = 0
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not sampling.is_set():
            peak = max(peak, server.memory_info().rss)
            time.sleep(0.005)

    accepted: list[int] = []
    refusals: list[tuple[grpc.StatusCode, bool]] = []
    lock = threading.Lock()

    def flood(index: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{ports['grpc']}") as channel:
            export = channel.unary_unary(TRACES)
            deadline = time.monotonic() + SECONDS
            n = index
            while time.monotonic() < deadline:
                batch = load[n % len(load)]
                n += 1
                try:
                    export(batch.body, timeout=30)
                except grpc.RpcError as exc:
                    details = dict(exc.trailing_metadata() or ()).get("grpc-status-details-bin")
                    hinted = False
                    if details:
                        retry = error_details_pb2.RetryInfo()
                        hinted = status_pb2.Status.FromString(details).details[0].Unpack(retry)
                    with lock:
                        refusals.append((exc.code(), hinted))
                else:
                    with lock:
                        accepted.append(batch.spans)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        threads = [threading.Thread(target=flood, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sampling.set()
        sampler.join()

        assert peak < LIMIT_MIB << 20, f"peak RSS {peak >> 20} MiB over the {LIMIT_MIB} MiB limit"
        assert accepted, "nothing was accepted under load"
        assert all(code == grpc.StatusCode.RESOURCE_EXHAUSTED and hinted for code, hinted in refusals), (
            refusals[:3]
        )

        metrics = f"http://127.0.0.1:{ports['metrics']}/metrics"
        text = httpx.get(metrics, timeout=10).text
        received = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith('llmpulse_received_items_total{protocol="grpc",signal="traces"}')
        )
        assert received == sum(accepted)  # every accepted span counted, none silently dropped

        # the flood is over: a normal request is accepted again without any intervention
        deadline = time.monotonic() + 15
        while True:
            try:
                with grpc.insecure_channel(f"127.0.0.1:{ports['grpc']}") as channel:
                    channel.unary_unary(TRACES)(load[0].body, timeout=10)
                break
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        print(
            f"accepted {len(accepted)} requests ({sum(accepted)} spans), refused {len(refusals)}, "
            f"peak RSS {peak / 2**20:.1f} MiB (limit {LIMIT_MIB})"
        )
    finally:
        sampling.set()
        proc.terminate()
        proc.communicate(timeout=30)
