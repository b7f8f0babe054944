"""``llmpulse serve`` as users run it: a real process, demo traffic through the OTel SDK, and a
graceful stop on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.process import start_serve


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_serve_demo_traffic_and_sigterm(tmp_path: Path) -> None:
    proc, ports = start_serve(tmp_path / "data")
    grpc_port, metrics_port = ports["grpc"], ports["metrics"]
    try:
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
