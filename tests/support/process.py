"""Running ``llmpulse serve`` as a real process in tests."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.promstack import free_port


def wait_ok(url: str, proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers 200; fail early (with the output) if the process exits."""
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
    raise AssertionError(f"{url} did not answer 200 within {timeout} s")


def start_serve(data_dir: Path, *extra: str) -> tuple[subprocess.Popen[str], dict[str, int]]:
    """``llmpulse serve`` on free loopback ports; returns the process (stdout piped) and its ports."""
    ports = {"grpc": free_port(), "http": free_port(), "metrics": free_port()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmpulse", "serve",
         "--otlp-grpc-endpoint", f"127.0.0.1:{ports['grpc']}",
         "--otlp-http-endpoint", f"127.0.0.1:{ports['http']}",
         "--metrics-endpoint", f"127.0.0.1:{ports['metrics']}",
         "--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wait_ok(f"http://127.0.0.1:{ports['metrics']}/readyz", proc)
    return proc, ports
