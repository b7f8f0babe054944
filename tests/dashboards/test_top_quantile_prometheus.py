"""``top``'s histogram_quantile gives what a real Prometheus gives, edge cases included.

Prometheus scrapes a fixed exposition of several bucket sets; the same buckets go through
:func:`llmpulse.top.histogram_quantile`. A drift in the port (bucket search, interpolation,
+Inf handling, monotonic repair, NaN cases) shows up as a mismatch here.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llmpulse.top import histogram_quantile
from tests.support.promstack import Prometheus, wait_until

INF = math.inf
DURATION = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
CASES: dict[str, list[tuple[float, float]]] = {
    "spread": [(0.1, 2), (0.2, 5), (0.4, 9), (INF, 10)],
    "all_in_inf": [(0.1, 0), (0.2, 0), (INF, 4)],
    "all_in_first": [(0.1, 4), (0.2, 4), (INF, 4)],
    "empty": [(0.1, 0), (INF, 0)],
    "non_monotonic": [(0.1, 4), (0.2, 3), (0.4, 6), (INF, 7)],
    "empty_lowest": [(0.1, 0), (0.2, 5), (INF, 5)],
    "semconv": [
        (b, c)
        for b, c in zip(
            (*DURATION, INF), (0, 0, 1, 3, 7, 19, 40, 77, 96, 99, 100, 101, 101, 101, 103), strict=True
        )
    ],
}
QUANTILES = (0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0)


def _exposition() -> bytes:
    lines = ["# TYPE h histogram"]
    for case, buckets in CASES.items():
        for le, count in buckets:
            le_s = "+Inf" if math.isinf(le) else repr(le)
            lines.append(f'h_bucket{{case="{case}",le="{le_s}"}} {count}')
        lines.append(f'h_count{{case="{case}"}} {buckets[-1][1]}')
        lines.append(f'h_sum{{case="{case}"}} 0')
    return ("\n".join(lines) + "\n").encode()


class _Handler(BaseHTTPRequestHandler):
    body = _exposition()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    target = f"127.0.0.1:{server.server_address[1]}"
    work: Path = tmp_path_factory.mktemp("prom-quantile")
    try:
        with Prometheus.start(
            work, scrape_configs=[{"job_name": "static", "static_configs": [{"targets": [target]}]}]
        ) as p:
            wait_until(lambda: p.query('h_count{case="spread"}'), timeout=30, what="first scrape")
            yield p
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_quantiles_as_prometheus(prom: Prometheus, case: str) -> None:
    for q in QUANTILES:
        got = prom.query_value(f'histogram_quantile({q}, h_bucket{{case="{case}"}})')
        assert got is not None
        mine = histogram_quantile(q, CASES[case])
        if math.isnan(got):
            assert math.isnan(mine), (case, q, mine)
        else:
            assert mine == pytest.approx(got, rel=1e-12, abs=0), (case, q)
