"""``llmpulse top`` without ``--once``: it refreshes until Ctrl-C, then exits 0.

A small HTTP server plays llmpulse's /metrics, adding 3 calls of one model per scrape, so every
refresh has traffic to show.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

CALLS_PER_SCRAPE = 3


@pytest.fixture
def metrics_url() -> Iterator[str]:
    registry = CollectorRegistry()
    duration = Histogram(
        "gen_ai_client_operation_duration_seconds",
        "Duration of LLM calls.",
        ["gen_ai_request_model"],
        registry=registry,
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            for _ in range(CALLS_PER_SCRAPE):
                duration.labels("gpt-4o-mini").observe(0.3)
            body = generate_latest(registry)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def _sigint_default() -> None:
    """Ctrl-C as a terminal delivers it: a shell that starts the suite in the background (``cmd &``
    without job control) leaves SIGINT ignored, and Python keeps an ignored SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while needle not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
    return out


def test_live_table_refreshes_until_ctrl_c(metrics_url: str) -> None:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmpulse", "top", "--metrics-url", metrics_url, "--interval", "0.5"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "140", "LINES": "40", "TERM": "xterm"},
        preexec_fn=_sigint_default,
    )
    os.close(follower)
    try:
        shown = _read_until(leader, b"all models", timeout=30)
        assert b"gpt-4o-mini" in shown and b"llmpulse top" in shown
        assert proc.poll() is None  # still refreshing
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)


def test_live_json_streams_one_document_per_refresh(metrics_url: str) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmpulse",
            "top",
            "--metrics-url",
            metrics_url,
            "--interval",
            "0.5",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_default,
    )
    try:
        assert proc.stdout is not None
        docs: list[dict[str, object]] = []
        buf = ""
        while len(docs) < 2:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            buf += line
            if line.rstrip() == "}":
                docs.append(json.loads(buf))
                buf = ""
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for doc in docs:
        rows = doc["rows"]
        assert isinstance(rows, list) and [r["model"] for r in rows] == ["gpt-4o-mini"]
        # Each refresh covers exactly one scrape's worth of new calls.
        window = doc["window_s"]
        assert isinstance(window, float)
        assert rows[0]["rpm"] * window / 60 == pytest.approx(CALLS_PER_SCRAPE, rel=1e-9)
