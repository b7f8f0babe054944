"""The one place for what a deployment may want to change: selectors, thresholds, refresh, UIDs.

Queries interpolate these values instead of repeating literals. Thresholds are not repeated at
all: they are read from ``alerts/config.yaml``, the settings the alerting rules are generated
from, so a panel turns orange or red exactly where the matching alert fires
(kubernetes-mixin ``config.libsonnet``: one config for alerts, rules and dashboards).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import yaml

#: The alerts' settings; their ``alerts.<name>.severities`` are the panels' colours.
ALERTS_CONFIG = Path(__file__).resolve().parent.parent / "alerts" / "config.yaml"
#: Severity tiers of alerts/config.yaml, as panel colours.
_ORANGE_TIERS = ("info", "warning")
_RED_TIERS = ("error", "critical")


@dataclass(frozen=True)
class Steps:
    """Where a panel turns orange and red; ``None`` when the alert has no such tier."""

    warning: float | None = None
    critical: float | None = None


@dataclass(frozen=True)
class Thresholds:
    """Panel colours, each from the alert in alerts/config.yaml that watches the same number."""

    #: Share of calls that failed, 0..1 (LLMHighFailureRate).
    failure_ratio: Steps
    #: Share of calls refused with error_type="rate_limit", 0..1 (LLMRateLimitStorm).
    rate_limited_ratio: Steps
    #: p95 call duration, seconds (LLMHighLatency).
    duration_p95_s: Steps
    #: p95 time to first token, seconds (LLMSlowTimeToFirstToken).
    ttft_p95_s: Steps
    #: Exporter queue bytes over capacity, 0..1 (LLMPulseRemoteWriteQueueFilling).
    queue_fill: Steps
    #: Seconds without a successful remote write while samples wait (LLMPulseRemoteWriteStalled).
    remote_write_delay_s: Steps
    #: Counts where any occurrence is a problem (unpriced calls, drops, refusals, overflow): their
    #: alerts fire on "> 0", and 1 is the first whole occurrence a count panel can show.
    any_count: float = 1.0


def _steps(alerts: dict[str, Any], name: str) -> Steps:
    try:
        tiers: dict[str, Any] = alerts[name]["severities"]
    except (KeyError, TypeError) as e:
        raise KeyError(
            f"{ALERTS_CONFIG}: `alerts.{name}.severities` is missing; the dashboards colour by it"
        ) from e
    orange = [float(t["threshold"]) for sev, t in tiers.items() if sev in _ORANGE_TIERS]
    red = [float(t["threshold"]) for sev, t in tiers.items() if sev in _RED_TIERS]
    return Steps(min(orange) if orange else None, min(red) if red else None)


def thresholds_from_alerts(path: Path = ALERTS_CONFIG) -> Thresholds:
    """Panel colours from the alerts' config; a disabled alert (``severities: {}``) leaves its
    panels uncoloured."""
    alerts: dict[str, Any] = yaml.safe_load(path.read_text())["alerts"]
    return Thresholds(
        failure_ratio=_steps(alerts, "high_failure_rate"),
        rate_limited_ratio=_steps(alerts, "rate_limit_storm"),
        duration_p95_s=_steps(alerts, "high_latency"),
        ttft_p95_s=_steps(alerts, "slow_time_to_first_token"),
        queue_fill=_steps(alerts, "remote_write_queue_filling"),
        remote_write_delay_s=_steps(alerts, "remote_write_stalled"),
    )


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
    thresholds: Thresholds = field(default_factory=thresholds_from_alerts)
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
