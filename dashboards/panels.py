"""How each kind of panel looks, so every dashboard reads the same without editing in Grafana.

Helpers take the PromQL from ``queries.py`` and set unit, thresholds, legend, description and
datasource in one place. Units are Grafana unit ids; custom suffix units (``suffix: tok/min``)
cover what Grafana has no id for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import heatmap as hm
from grafana_foundation_sdk.builders import stat as st
from grafana_foundation_sdk.builders import table as tb
from grafana_foundation_sdk.builders import timeseries as ts
from grafana_foundation_sdk.builders.common import (
    GraphThresholdsStyleConfig,
    ReduceDataOptions,
    StackingConfig,
    TableSortByFieldState,
    VizLegendOptions,
    VizTooltipOptions,
)
from grafana_foundation_sdk.builders.dashboard import ThresholdsConfig
from grafana_foundation_sdk.builders.heatmap import CellValues, HeatmapColorOptions, YAxisConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    BigValueTextMode,
    GraphThresholdsStyleMode,
    HeatmapCellLayout,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    StackingMode,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import (
    DataTransformerConfig,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
)
from grafana_foundation_sdk.models.heatmap import HeatmapColorMode, HeatmapColorScale
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from .config import Steps
from .variables import DATASOURCE

NO_STEPS = Steps()

# Units (Grafana ids). Token and dollar rates have no built-in id, hence suffix units.
SECONDS = "s"
PERCENT = "percentunit"
USD = "currencyUSD"
USD_PER_HOUR = "suffix:$/h"
CALLS_PER_MINUTE = "reqpm"
CALLS_PER_SECOND = "reqps"
TOKENS_PER_MINUTE = "suffix: tok/min"
TOKENS = "short"
COUNT = "short"
BYTES = "bytes"
PER_SECOND = "suffix:/s"

GREEN, ORANGE, RED, BLUE = "green", "orange", "red", "blue"


@dataclass(frozen=True)
class Target:
    """One query of a panel and how Grafana should label its series."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False


def thresholds(steps: Steps, base: str = GREEN) -> ThresholdsConfig:
    """Absolute steps: ``base`` below the warning, orange from it, red from the critical one."""
    out = [Threshold(value=None, color=base)]
    if steps.warning is not None:
        out.append(Threshold(value=steps.warning, color=ORANGE))
    if steps.critical is not None:
        out.append(Threshold(value=steps.critical, color=RED))
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(out)


def _coloured(steps: Steps) -> bool:
    return steps.warning is not None or steps.critical is not None


def _query(t: Target, ref: str) -> Dataquery:
    q = Dataquery().expr(t.expr).ref_id(ref).datasource(DATASOURCE)
    if t.legend:
        q = q.legend_format(t.legend)
    q = q.instant() if t.instant else q.range()
    if t.table:
        q = q.format(PromQueryFormat.TABLE)
    return q


def _ref(i: int) -> str:
    return chr(ord("A") + i)


def stat(
    title: str,
    description: str,
    expr: str,
    unit: str,
    *,
    steps: Steps = NO_STEPS,
    decimals: int | None = None,
    width: int = 4,
    height: int = 4,
    color: str = BLUE,
) -> st.Panel:
    """A big number over the dashboard's range (instant query), coloured by thresholds."""
    p = (
        st.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(_query(Target(expr, instant=True), "A"))
        .unit(unit)
        .span(width)
        .height(height)
        .thresholds(thresholds(steps, base=GREEN if _coloured(steps) else color))
        .color_mode(BigValueColorMode.VALUE)
        .graph_mode(BigValueGraphMode.NONE)
        .text_mode(BigValueTextMode.VALUE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if unit not in (SECONDS, PERCENT):
        # Nothing counted is 0 calls, tokens or dollars; a latency or a ratio of nothing stays "No data".
        p = p.no_value("0")
    if decimals is not None:
        p = p.decimals(decimals)
    return p


def timeseries(
    title: str,
    description: str,
    targets: Sequence[Target],
    unit: str,
    *,
    steps: Steps = NO_STEPS,
    stacked: bool = False,
    width: int = 12,
    height: int = 8,
    legend_calcs: Sequence[str] = ("mean", "max", "lastNotNull"),
) -> ts.Panel:
    """Lines per series with a table legend (mean/max/last), sorted tooltip, threshold lines."""
    p = (
        ts.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .span(width)
        .height(height)
        .line_width(1)
        .fill_opacity(10 if not stacked else 30)
        .legend(
            VizLegendOptions()
            .display_mode(LegendDisplayMode.TABLE)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(list(legend_calcs))
            .sort_by("Mean")
            .sort_desc(True)
        )
        .tooltip(VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING))
        .thresholds(thresholds(steps))
        .thresholds_style(
            GraphThresholdsStyleConfig().mode(
                GraphThresholdsStyleMode.DASHED if _coloured(steps) else GraphThresholdsStyleMode.OFF
            )
        )
    )
    if stacked:
        p = p.stacking(StackingConfig().mode(StackingMode.NORMAL))
    for i, t in enumerate(targets):
        p = p.with_target(_query(t, _ref(i)))
    return p


def heatmap(
    title: str, description: str, expr: str, unit: str, *, width: int = 12, height: int = 8
) -> hm.Panel:
    """Distribution over time from a Prometheus histogram's ``le`` buckets (no re-bucketing)."""
    q = Dataquery().expr(expr).ref_id("A").datasource(DATASOURCE).legend_format("{{le}}")
    q = q.format(PromQueryFormat.HEATMAP).range()
    return (
        hm.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(q)
        .span(width)
        .height(height)
        .calculate(False)
        .y_axis(YAxisConfig().unit(unit).decimals(2))
        .cell_values(CellValues().unit(CALLS_PER_SECOND))
        .color(
            HeatmapColorOptions()
            .mode(HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .scale(HeatmapColorScale.EXPONENTIAL)
            .exponent(0.5)
            .steps(64)
        )
        .rows_frame(hm.RowsHeatmapOptions().layout(HeatmapCellLayout.LE))
        .show_legend()
    )


@dataclass(frozen=True)
class Column:
    """One value column of a table: an instant query returning one series per row key."""

    header: str
    expr: str
    unit: str
    decimals: int | None = None


def table(
    title: str,
    description: str,
    key_labels: Sequence[str],
    columns: Sequence[Column],
    *,
    sort_by: str,
    width: int = 24,
    height: int = 8,
) -> tb.Panel:
    """Rows keyed by ``key_labels``, one column per instant query, merged and renamed."""
    p = (
        tb.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(width)
        .height(height)
        .sort_by([TableSortByFieldState().display_name(sort_by).desc(True)])
    )
    rename: dict[str, str] = {}
    order: dict[str, int] = {label: i for i, label in enumerate(key_labels)}
    for i, c in enumerate(columns):
        ref = _ref(i)
        p = p.with_target(_query(Target(c.expr, instant=True, table=True), ref))
        rename[f"Value #{ref}"] = c.header
        order[f"Value #{ref}"] = len(key_labels) + i
        props = [DynamicConfigValue(id_val="unit", value=c.unit)]
        if c.decimals is not None:
            props.append(DynamicConfigValue(id_val="decimals", value=c.decimals))
        p = p.override_by_name(c.header, props)
    p = p.with_transformation(DataTransformerConfig(id_val="merge", options={}))
    p = p.with_transformation(
        DataTransformerConfig(
            id_val="organize",
            options={
                # Everything but the key labels and the values is noise in a table.
                "excludeByName": {"Time": True},
                "includeByName": {k: True for k in order},
                "indexByName": order,
                "renameByName": rename,
            },
        )
    )
    return p
