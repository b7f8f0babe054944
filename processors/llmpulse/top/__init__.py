"""``llmpulse top``: per-model RPM, TPM, p95 duration, p95 TTFT, failure rate and spend in a terminal.

Reads llmpulse's ``/metrics`` (two scrapes → rates) or a Prometheus (the dashboards' PromQL).
The numbers come from :mod:`._compute` (pure, tested against Prometheus), the table from
:mod:`._view`, the loop and flags from :mod:`._run`.

>>> rows, total = compute(before, after, elapsed_s=5.0)   # two parsed /metrics snapshots
"""

from ._compute import ModelStats, compute, histogram_quantile, increases
from ._prom import PromQueries, fetch
from ._run import register, run
from ._scrape import metrics_url, parse, scrape
from ._view import Result, cells, table, to_json

__all__ = [
    "ModelStats",
    "PromQueries",
    "Result",
    "cells",
    "compute",
    "fetch",
    "histogram_quantile",
    "increases",
    "metrics_url",
    "parse",
    "register",
    "run",
    "scrape",
    "table",
    "to_json",
]
