"""The one place for what a deployment may want to change: selectors, thresholds, refresh, UIDs.

Queries interpolate these values instead of repeating literals, so a threshold shown on a panel
and the number used elsewhere cannot drift (kubernetes-mixin ``config.libsonnet``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath


@dataclass(frozen=True)
class Thresholds:
    """Where panels turn orange (warning) and red (critical); units as the panel shows them."""

    #: Share of calls that failed (0..1). 1 % is noticeable for users, 5 % is an incident.
    failure_ratio_warning: float = 0.01
    failure_ratio_critical: float = 0.05
    #: p95 call duration in seconds; long completions are normal, tens of seconds are not.
    duration_p95_warning_s: float = 10.0
    duration_p95_critical_s: float = 30.0
    #: p95 time to first token in seconds, what a streaming user waits before text appears.
    ttft_p95_warning_s: float = 2.0
    ttft_p95_critical_s: float = 5.0
    #: Share of calls refused by a provider for rate limits or quota (0..1).
    throttled_ratio_warning: float = 0.01
    throttled_ratio_critical: float = 0.05
    #: Calls without a price: any is a hole in the spend numbers.
    unpriced_calls_warning: float = 1.0


@dataclass(frozen=True)
class Config:
    """Everything the dashboards interpolate. ``CONFIG`` is the instance the generator uses."""

    #: Extra label matchers ANDed into every GenAI query, e.g. ``job="llmpulse"`` when other
    #: exporters write the same semconv metric names into the same Prometheus. Empty = none.
    genai_selector: str = ""
    #: Extra label matchers for llmpulse's own ``llmpulse_*`` series (pipeline dashboard).
    pipeline_selector: str = ""
    #: Label each llmpulse replica puts on its series; queries sum it away (DESIGN.md).
    instance_label: str = "llmpulse_instance"
    #: Optional tenant dimensions configured in llmpulse (``tenant``, ``k8s_namespace_name``).
    tenant_label: str = "tenant"
    namespace_label: str = "k8s_namespace_name"
    #: Window of the alerts/ recording rules the trend panels read (``llm:…:rate5m``); must be
    #: one of the windows alerts/config.yaml records.
    rules_window: str = "5m"
    thresholds: Thresholds = Thresholds()
    refresh: str = "30s"
    time_from: str = "now-6h"
    tags: tuple[str, ...] = ("llmpulse", "genai")
    uid_prefix: str = ""


CONFIG = Config()


def uid_for(file_name: str, config: Config = CONFIG) -> str:
    """Stable dashboard UID derived from its file name, so links and bookmarks survive regeneration.

    >>> uid_for("llmpulse-overview.json")
    'llmpulse-overview'
    """
    uid = config.uid_prefix + PurePath(file_name).stem
    if len(uid) > 40:  # Grafana rejects longer UIDs
        raise ValueError(f"dashboard UID {uid!r} from {file_name!r} is longer than Grafana's 40 characters")
    return uid
