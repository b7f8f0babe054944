"""``--workers N``: processes share the ports, one merged /metrics, no double count, no loss,
clean shutdown of every worker."""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from prometheus_client.parser import text_string_to_metric_families

from llmpulse.config import validate
from llmpulse.workers import Supervisor, merge_expositions
from tests.support.process import start_serve


def _total(text: str, name: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def test_merge_sums_series_and_keeps_latest_timestamps() -> None:
    a = 'x_total{m="a"} 2\nx_total{m="b"} 1\ny_last_success_timestamp_seconds 100\n'
    b = 'x_total{m="a"} 3\ny_last_success_timestamp_seconds 250\n'
    merged = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in merge_expositions([a, b])
        for s in f.samples
    }
    assert merged == {
        ("x_total", (("m", "a"),)): 5.0,
        ("x_total", (("m", "b"),)): 1.0,
        ("y_last_success_timestamp_seconds", ()): 250.0,
    }


def _send(grpc_port: int, calls: int, model: str) -> None:
    """One exporter (one connection) sending ``calls`` LLM spans."""
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True))
    )
    tracer = provider.get_tracer("t")
    for _ in range(calls):
        with tracer.start_as_current_span(
            f"chat {model}",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 3,
            },
        ):
            pass
    provider.shutdown()


def test_two_workers_share_ports_and_merge_metrics(tmp_path: Path) -> None:
    proc, ports = start_serve(tmp_path, "--workers", "2")
    grpc_port, base = ports["grpc"], f"http://127.0.0.1:{ports['metrics']}"
    try:
        for _ in range(16):  # 16 connections: the kernel spreads them over both workers
            _send(grpc_port, 5, "gpt-4o-mini")
        merged = httpx.get(f"{base}/metrics").text
        assert _total(merged, "gen_ai_client_operation_duration_seconds_count") == 80
        assert _total(merged, "gen_ai_client_tokens_total") == 80 * 13
        workers = httpx.get(f"{base}/workers").json()["workers"]
        per_worker = [
            _total(
                httpx.get(f"http://127.0.0.1:{w['metrics_port']}/metrics").text,
                "gen_ai_client_operation_duration_seconds_count",
            )
            for w in workers
        ]
        assert sum(per_worker) == 80
        assert all(count > 0 for count in per_worker), per_worker
        root = (tmp_path / "instance-id").read_text().strip()
        assert [w["instance"] for w in workers] == [f"{root}-w0", f"{root}-w1"]
        assert all((tmp_path / f"worker-{i}").is_dir() for i in range(2))
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert output.count("llmpulse stopped") == 3


def test_a_worker_that_reports_ready_late_still_counts_as_ready(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker slow to start (a loaded machine) must not stay "not ready" for good once the
    supervisor's first wait has passed; one that dies before reporting ends the wait at once."""
    supervisor = Supervisor(validate({"workers": 2, "data_dir": str(tmp_path)}))
    supervisor.ready_poll_s = 0.05
    late_reader, late_writer = multiprocessing.Pipe(duplex=False)
    waiting = threading.Thread(target=supervisor._await_port, args=(0, late_reader))
    with caplog.at_level(logging.WARNING, logger="llmpulse.workers"):
        waiting.start()
        time.sleep(0.3)  # six waits have passed
        assert supervisor._ports[0] is None
        late_writer.send(43117)
        waiting.join(5)
    assert not waiting.is_alive() and supervisor._ports == [43117, None]
    assert "worker 0 has not reported ready after 0.05 s; still waiting" in caplog.text
    dead_reader, dead_writer = multiprocessing.Pipe(duplex=False)
    dead_writer.close()  # the worker died: its end is closed
    started = time.monotonic()
    supervisor._await_port(1, dead_reader)
    assert time.monotonic() - started < 1 and supervisor._ports == [43117, None]
