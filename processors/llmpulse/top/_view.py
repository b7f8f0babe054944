"""Rendering of ``llmpulse top``: a rich table for people, JSON for scripts. No numbers computed here."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

from rich.table import Table
from rich.text import Text

from ._compute import ModelStats

#: Failure-rate colours: the LLMHighFailureRate tiers of alerts/config.yaml, as on the dashboards
#: (a test fails if they drift apart).
FAILURE_WARNING = 0.05
FAILURE_CRITICAL = 0.25

COLUMNS = ("Model", "RPM", "TPM", "p95 duration", "p95 TTFT", "Failure rate", "Spend")


@dataclass(frozen=True)
class Result:
    """One refresh: where the numbers come from, over which window, and the rows."""

    mode: str  # "metrics" or "prometheus"
    source: str
    window: str  # "5.02 s" (measured between scrapes) or a PromQL duration
    window_s: float | None  # seconds the rates are over, when measured
    rows: list[ModelStats]
    total: ModelStats
    taken_at: datetime


def fmt_number(x: float) -> str:
    """Rates: whole numbers when large, two decimals when small (0.25 calls/min is real traffic)."""
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_seconds(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.2f} %"


def fmt_usd_per_hour(x: float) -> str:
    return f"${x:,.2f}/h" if x >= 1 else f"${x:.4f}/h"


def cells(row: ModelStats) -> tuple[str, ...]:
    """The row as the table prints it, column by column (see :data:`COLUMNS`)."""
    return (
        row.model,
        fmt_number(row.rpm),
        fmt_number(row.tpm),
        fmt_seconds(row.p95_duration_s),
        fmt_seconds(row.p95_ttft_s),
        fmt_ratio(row.failure_ratio),
        fmt_usd_per_hour(row.spend_usd_per_hour),
    )


def _failure_style(x: float | None) -> str:
    if x is None:
        return ""
    if x >= FAILURE_CRITICAL:
        return "bold red"
    return "yellow" if x >= FAILURE_WARNING else "green"


def active(rows: list[ModelStats]) -> list[ModelStats]:
    """Models with traffic in the window; idle ones would bury the busy ones."""
    return [r for r in rows if r.rpm > 0 or r.tpm > 0 or r.spend_usd_per_hour > 0]


def table(result: Result) -> Table:
    t = Table(
        title="llmpulse top",
        caption=f"{result.mode} {result.source} · rates over {result.window} · "
        f"{result.taken_at:%Y-%m-%d %H:%M:%S}",
        caption_justify="left",
    )
    t.add_column(COLUMNS[0], justify="left", style="bold")
    for name in COLUMNS[1:]:
        t.add_column(name, justify="right")
    rows = active(result.rows)
    for row in rows:
        c = cells(row)
        t.add_row(*c[:5], Text(c[5], style=_failure_style(row.failure_ratio)), c[6])
    if not rows:
        t.add_row(Text("no LLM calls in this window", style="dim"), *[""] * (len(COLUMNS) - 1))
    t.add_section()
    c = cells(result.total)
    t.add_row(*c[:5], Text(c[5], style=_failure_style(result.total.failure_ratio)), c[6], style="bold")
    return t


def to_json(result: Result) -> str:
    """Full-precision numbers for scripts and tests; ``null`` where there were no calls to judge."""
    doc = {
        "mode": result.mode,
        "source": result.source,
        "window": result.window,
        "window_s": result.window_s,
        "taken_at": result.taken_at.isoformat(),
        "rows": [asdict(r) for r in active(result.rows)],
        "total": asdict(result.total),
    }
    return json.dumps(doc, indent=2)
