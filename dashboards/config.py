"""The one place for what a deployment may want to change: selectors, thresholds, refresh, UIDs.

Queries interpolate these values instead of repeating literals. What the alerts also use is not
repeated at all: thresholds, the series selector, the tenant label and the recording-rule window
are read from ``alerts/config.yaml``, the settings the rules are generated from, so a panel
turns orange or red exactly where the matching alert fires and reads the series the rules read
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


def _alerts_config(path: Path = ALERTS_CONFIG) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def _setting(key: str) -> Any:
    try:
        return _alerts_config()[key]
    except KeyError as e:
        raise KeyError(f"{ALERTS_CONFIG}: `{key}` is missing; the dashboards read it") from e


def thresholds_from_alerts(path: Path = ALERTS_CONFIG) -> Thresholds:
    """Panel colours from the alerts' config; a disabled alert (``severities: {}``) leaves its
    panels uncoloured."""
    alerts: dict[str, Any] = _alerts_config(path)["alerts"]
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
    #: Default: the alerts' ``selector``, so dashboards and rules read the same series.
    genai_selector: str = field(default_factory=lambda: str(_setting("selector")))
    #: Extra label matchers for llmpulse's own ``llmpulse_*`` series (pipeline dashboard).
    pipeline_selector: str = field(default_factory=lambda: str(_setting("selector")))
    #: Optional tenant dimensions configured in llmpulse; the tenant one is the alerts' ``tenant_label``.
    tenant_label: str = field(default_factory=lambda: str(_setting("tenant_label")))
    namespace_label: str = "k8s_namespace_name"
    #: Window of the alerts/ recording rules the trend panels read (``llm:…:rate5m``): the
    #: alerts' ``windows.long``, the smoother of the two windows they record.
    rules_window: str = field(default_factory=lambda: str(_setting("windows")["long"]))
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
