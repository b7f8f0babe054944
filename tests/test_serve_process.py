"""``llmpulse serve`` as users run it: a real process, demo traffic through the OTel SDK, and a
graceful stop on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.promstack import free_port


def _wait_ready(url: str, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"llmpulse exited early: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("llmpulse did not become ready")


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_serve_demo_traffic_and_sigterm(tmp_path: Path) -> None:
    grpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmpulse",
            "serve",
            "--otlp-grpc-endpoint",
            f"127.0.0.1:{grpc_port}",
            "--otlp-http-endpoint",
            f"127.0.0.1:{http_port}",
            "--metrics-endpoint",
            f"127.0.0.1:{metrics_port}",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{metrics_port}/readyz", proc)
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/healthz").text == "ok\n"
        demo = subprocess.run(
            [
                sys.executable,
                "-m",
                "llmpulse",
                "demo-traffic",
                "--endpoint",
                f"127.0.0.1:{grpc_port}",
                "--calls",
                "26",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert demo.returncode == 0, demo.stderr
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        # 26 calls = two rounds of the 13 demo scenarios (11 semconv, 1 OpenInference, 1 OpenLLMetry;
        # two 429 rate limits and one 429 quota error each)
        assert _metric(text, "gen_ai_client_operation_duration_seconds_count") == 26
        assert _metric(text, 'llmpulse_calls_recognised_total{dialect="semconv"}') == 22
        assert _metric(text, 'llmpulse_calls_recognised_total{dialect="openinference"}') == 2
        assert _metric(text, 'llmpulse_calls_recognised_total{dialect="openllmetry"}') == 2
        rate_limited = [
            line
            for line in text.splitlines()
            if line.startswith("gen_ai_client_operation_duration_seconds_count")
            and 'error_type="rate_limit"' in line
        ]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in rate_limited) == 4
        assert _metric(text, "gen_ai_client_unpriced_operations_total") == 0
        assert (tmp_path / "data" / "instance-id").read_text().strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "signal received: shutting down" in output
    assert "llmpulse stopped" in output
