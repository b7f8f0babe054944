"""What every llmpulse dashboard shares: UID from the file name, tags, time, links, variables."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DashboardLink,
    DatasourceVariable,
    QueryVariable,
    Row,
)
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, DashboardLinkType, Panel

from .. import panels as p
from .. import queries as q
from ..config import CONFIG, uid_for


def dashboard(
    file_name: str, title: str, description: str, variables: list[DatasourceVariable | QueryVariable]
) -> Dashboard:
    """A dashboard with a stable UID, shared crosshair, and a menu linking the other llmpulse boards."""
    d = (
        Dashboard(title)
        .uid(uid_for(file_name))
        .description(
            f"{description} Trend panels show {CONFIG.rules_window} rates from the alerts/ recording "
            "rules; the top row and the tables cover the selected time range."
        )
        .tags(list(CONFIG.tags))
        .refresh(CONFIG.refresh)
        .time(CONFIG.time_from, "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .readonly()
        .link(
            DashboardLink("llmpulse")
            .type(DashboardLinkType.DASHBOARDS)
            .tags([CONFIG.tags[0]])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    for v in variables:
        d = d.with_variable(v)
    return d


def section(d: Dashboard, title: str, panels: Sequence[Builder[Panel]]) -> Dashboard:
    """Append a row titled ``title`` followed by ``panels`` (laid out left to right, then down)."""
    d = d.with_row(Row(title))
    for panel in panels:
        d = d.with_panel(panel)
    return d


def p95_ttft_stat() -> Builder[Panel]:
    """The range's p95 time to first token, on the overview and on the latency board alike."""
    return p.stat(
        "p95 time to first token",
        "95th percentile of the wait before the first streamed chunk (streaming calls only).",
        q.quantile(0.95, q.TTFT, window=q.RANGE),
        p.SECONDS,
        steps=CONFIG.thresholds.ttft_p95_s,
        decimals=2,
    )
