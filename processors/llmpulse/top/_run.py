"""The ``top`` subcommand: arguments, the refresh loop, exit codes.

Exit codes: 0 done (``--once``, or Ctrl-C in live mode), 1 the source could not be read
(``--once``), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import datetime

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from ._compute import SeriesKey, compute
from ._http import FetchError
from ._prom import fetch
from ._scrape import metrics_url, scrape
from ._view import Result, table, to_json

DEFAULT_METRICS_URL = "http://127.0.0.1:9464/metrics"
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``llmpulse top`` to the CLI (called by llmpulse.cli for each module it lists)."""
    p = subparsers.add_parser(
        "top",
        help="live per-model table of RPM, TPM, p95 duration, p95 TTFT, failure rate and spend",
        description="Per-model LLM traffic in the terminal, from llmpulse's /metrics (two scrapes "
        "--interval apart) or from Prometheus (the dashboards' PromQL), for servers without Grafana.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--metrics-url",
        help="llmpulse /metrics to scrape (host:port is enough; default: $LLMPULSE_METRICS_ENDPOINT, "
        f"the endpoint serve uses, else {DEFAULT_METRICS_URL})",
    )
    src.add_argument("--prometheus-url", help="Prometheus base URL, e.g. http://prometheus:9090")
    p.add_argument(
        "--interval",
        type=float,
        default=5.0,
        help="seconds between refreshes; with --metrics-url also the window the rates are over (default 5)",
    )
    p.add_argument(
        "--window", default="5m", help="PromQL range the rates are over (--prometheus-url; default 5m)"
    )
    p.add_argument("--at", help="evaluation time, unix seconds or RFC 3339 (--prometheus-url; default now)")
    p.add_argument("--selector", default="", help='extra PromQL label matchers, e.g. job="llmpulse"')
    p.add_argument("--once", action="store_true", help="print one table and exit (scripts, tests)")
    p.add_argument("--json", action="store_true", help="print JSON with full-precision numbers, not a table")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> str | None:
    if not args.interval > 0:
        return f"--interval must be a positive number of seconds, got {args.interval}"
    if args.prometheus_url is None and (args.at or args.selector or args.window != "5m"):
        return "--window, --at and --selector apply to --prometheus-url only"
    if not _DURATION.match(args.window):
        return f"--window must be a PromQL duration like 30s, 5m or 1h, got {args.window!r}"
    return None


class _MetricsSource:
    """Two scrapes ``interval`` apart; in live mode each refresh reuses the previous scrape."""

    def __init__(self, url: str, interval: float, on_first: Callable[[str], None]) -> None:
        self.url = metrics_url(url)
        self.interval = interval
        self.on_first = on_first
        self.prev: tuple[dict[SeriesKey, float], float] | None = None

    def _scrape(self) -> tuple[dict[SeriesKey, float], float]:
        started = time.monotonic()
        snap = scrape(self.url)
        return snap, (started + time.monotonic()) / 2  # the exposition was built mid-request

    def sample(self) -> Result:
        if self.prev is None:
            self.prev = self._scrape()
            self.on_first(
                f"llmpulse top: first scrape of {self.url} done; rates over the next {self.interval:g} s"
            )
        time.sleep(self.interval)
        now = self._scrape()
        before, t0 = self.prev
        self.prev = now
        elapsed = now[1] - t0
        rows, total = compute(before, now[0], elapsed)
        return Result("metrics", self.url, f"{elapsed:.2f} s", elapsed, rows, total, datetime.now())


class _PromSource:
    def __init__(self, url: str, window: str, at: str | None, selector: str, interval: float) -> None:
        self.url, self.window, self.at, self.selector, self.interval = url, window, at, selector, interval
        self.first = True

    def sample(self) -> Result:
        if not self.first:
            time.sleep(self.interval)
        self.first = False
        rows, total = fetch(self.url, self.window, self.at, self.selector)
        return Result("prometheus", self.url, self.window, None, rows, total, datetime.now())


def run(args: argparse.Namespace) -> int:
    """Entry point of ``llmpulse top``; returns the process exit code."""
    problem = _check(args)
    if problem:
        print(f"llmpulse top: {problem}", file=sys.stderr)
        return 2
    # Piped output (scripts, tests) gets room for long model names instead of rich's 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=200)
    err = Console(stderr=True)
    source: _MetricsSource | _PromSource
    if args.prometheus_url:
        source = _PromSource(args.prometheus_url, args.window, args.at, args.selector, args.interval)
    else:
        url = args.metrics_url or os.environ.get("LLMPULSE_METRICS_ENDPOINT") or DEFAULT_METRICS_URL
        source = _MetricsSource(
            url, args.interval, lambda msg: err.print(msg, highlight=False, soft_wrap=True)
        )
    if args.once:
        try:
            result = source.sample()
        except FetchError as e:
            err.print(f"llmpulse top: {e}", highlight=False, soft_wrap=True)
            return 1
        if args.json:
            print(to_json(result), flush=True)
        else:
            console.print(table(result))
        return 0
    return _live(source, console, args.json)


def _live(source: _MetricsSource | _PromSource, console: Console, as_json: bool) -> int:
    if isinstance(source, _MetricsSource):
        source.on_first = lambda msg: None  # the Live display says it instead
    waiting = Text(f"llmpulse top: reading {source.url} …", style="dim")
    try:
        if as_json:
            while True:
                try:
                    print(to_json(source.sample()), flush=True)
                except FetchError as e:
                    print(f"llmpulse top: {e}", file=sys.stderr, flush=True)
                    time.sleep(source.interval)
        with Live(waiting, console=console, auto_refresh=False) as live:
            while True:
                try:
                    live.update(table(source.sample()), refresh=True)
                except FetchError as e:
                    live.update(Group(Text(f"llmpulse top: {e}", style="red"), waiting), refresh=True)
                    time.sleep(source.interval)
    except KeyboardInterrupt:
        return 0
