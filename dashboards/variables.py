"""Template variables, and the label selector they make, shared by every dashboard.

Each filter variable is multi-select with "All" = ``.*``: a regex that also matches series
*without* the label, so dimensions llmpulse omits when unknown (DESIGN.md: "unknown values are
omitted, never invented"), and optional ones like ``tenant``, never hide data.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders.dashboard import DatasourceVariable, QueryVariable
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from .config import CONFIG, Config

DATASOURCE_VAR = "datasource"
#: What every panel and query points at: whichever Prometheus the viewer picked.
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${" + DATASOURCE_VAR + "}")

#: The series every llmpulse replica writes for every call; label values are read from it.
_CALLS_SERIES = "gen_ai_client_operation_duration_seconds_count"


@dataclass(frozen=True)
class Filter:
    """One dashboard filter: a variable name bound to the label it selects on."""

    name: str
    label: str
    title: str
    help: str


def genai_filters(config: Config = CONFIG) -> tuple[Filter, ...]:
    """The filters of the GenAI dashboards, in the order they chain (each narrows the next)."""
    return (
        Filter("service", "service_name", "Service", "OpenTelemetry service.name of the calling app."),
        Filter("provider", "gen_ai_provider_name", "Provider", "gen_ai.provider.name, e.g. openai."),
        Filter("model", "gen_ai_request_model", "Model", "Model the app asked for (gen_ai.request.model)."),
        Filter(config.tenant_label, config.tenant_label, "Tenant", "Tenant dimension, if configured."),
        Filter("namespace", config.namespace_label, "Namespace", "Kubernetes namespace of the caller."),
    )


def _matchers(filters: tuple[Filter, ...], extra: str) -> str:
    parts = [f'{f.label}=~"${f.name}"' for f in filters]
    if extra:
        parts.insert(0, extra)
    return ", ".join(parts)


def genai_selector(config: Config = CONFIG) -> str:
    """Label matchers (without braces) that apply every GenAI filter variable."""
    return _matchers(genai_filters(config), config.genai_selector)


def datasource_variable() -> DatasourceVariable:
    return (
        DatasourceVariable(DATASOURCE_VAR)
        .label("Data source")
        .type("prometheus")
        .description("Prometheus that receives llmpulse's remote write (or scrapes its /metrics).")
    )


def _filter_variable(f: Filter, previous: tuple[Filter, ...], config: Config) -> QueryVariable:
    narrowing = _matchers(previous, config.genai_selector)
    return (
        QueryVariable(f.name)
        .label(f.title)
        .description(f.help)
        .datasource(DATASOURCE)
        .query(f"label_values({_CALLS_SERIES}{{{narrowing}}}, {f.label})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def genai_variables(config: Config = CONFIG) -> list[DatasourceVariable | QueryVariable]:
    """Datasource first, then the filters; each filter's choices respect the ones before it."""
    filters = genai_filters(config)
    out: list[DatasourceVariable | QueryVariable] = [datasource_variable()]
    for i, f in enumerate(filters):
        out.append(_filter_variable(f, filters[:i], config))
    return out
