"""alerts/alertmanager.yaml: valid for amtool, each severity reaches the intended receivers, the
receivers are the advertised kinds, and a real Alertmanager inhibits as documented."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.support.promstack import Alertmanager, http_post, wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "alerts" / "alertmanager.yaml"
MODEL = {"gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o", "service_name": "checkout"}


def test_amtool_check_config(amtool: str) -> None:
    out = subprocess.run([amtool, "check-config", str(EXAMPLE)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout
    assert " - 2 inhibit rules\n - 6 receivers\n" in out.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (
            {"alertname": "LLMQuotaExhausted", "severity": "critical", **MODEL},
            "archive-webhook,urgent-oncall",
        ),
        ({"alertname": "LLMRateLimitStorm", "severity": "error", **MODEL}, "archive-webhook,team-dingtalk"),
        ({"alertname": "LLMHighLatency", "severity": "warning", **MODEL}, "archive-webhook,team-wecom"),
        ({"alertname": "LLMUnpricedModel", "severity": "info", **MODEL}, "archive-webhook,general-email"),
        (
            {"alertname": "LLMPulseRemoteWriteStalled", "severity": "critical", "llmpulse_instance": "gw-0"},
            "archive-webhook,urgent-oncall",
        ),
        ({"alertname": "SomethingElse"}, "default-webhook"),
    ],
)
def test_amtool_routes_each_severity(amtool: str, labels: dict[str, str], receivers: str) -> None:
    out = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={EXAMPLE}",
            f"--verify.receivers={receivers}",
            *(f"{k}={v}" for k, v in labels.items()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == receivers


def test_receivers_cover_webhook_email_wecom_and_dingtalk() -> None:
    config = yaml.safe_load(EXAMPLE.read_text())
    kinds = {r["name"]: sorted(k for k in r if k.endswith("_configs")) for r in config["receivers"]}
    assert kinds == {
        "default-webhook": ["webhook_configs"],
        "archive-webhook": ["webhook_configs"],
        "urgent-oncall": ["email_configs", "webhook_configs", "wechat_configs"],
        "team-dingtalk": ["webhook_configs"],
        "team-wecom": ["wechat_configs"],
        "general-email": ["email_configs"],
    }
    dingtalk = next(r for r in config["receivers"] if r["name"] == "team-dingtalk")
    assert dingtalk["webhook_configs"][0]["url"].startswith("http://prometheus-webhook-dingtalk.")
    assert dingtalk["webhook_configs"][0]["url"].endswith("/send")
    assert config["route"]["group_by"] == ["alertname", "gen_ai_request_model", "service_name"]


def _post_alerts(am: Alertmanager, alerts: list[dict[str, str]]) -> None:
    now = datetime.now(UTC)
    body = [
        {
            "labels": labels,
            "annotations": {"summary": "test"},
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(minutes=10)).isoformat(),
        }
        for labels in alerts
    ]
    status, text = http_post(am.url + "/api/v2/alerts", json.dumps(body).encode())
    assert status == 200, text


@pytest.mark.integration
def test_critical_inhibits_warning_and_error_of_the_same_model_and_service(tmp_path: Path) -> None:
    other_service = {**MODEL, "service_name": "search"}
    posted = {
        "critical": {"alertname": "LLMHighFailureRate", "severity": "critical", **MODEL},
        "warning-same": {"alertname": "LLMHighFailureRate", "severity": "warning", **MODEL},
        "error-same": {"alertname": "LLMRateLimitStorm", "severity": "error", **MODEL},
        "info-same": {"alertname": "LLMUnpricedModel", "severity": "info", **MODEL},
        "warning-other-service": {"alertname": "LLMHighFailureRate", "severity": "warning", **other_service},
        "pipeline-critical": {
            "alertname": "LLMPulseRemoteWriteStalled",
            "severity": "critical",
            "llmpulse_instance": "gw-0",
            "target": "prometheus",
        },
        "pipeline-warning-same": {
            "alertname": "LLMPulseRemoteWriteQueueFilling",
            "severity": "warning",
            "llmpulse_instance": "gw-0",
            "target": "prometheus",
        },
        "pipeline-warning-other": {
            "alertname": "LLMPulseRemoteWriteQueueFilling",
            "severity": "warning",
            "llmpulse_instance": "gw-1",
            "target": "prometheus",
        },
        # No model, no replica: a critical pipeline alert must not silence it.
        "budget-error": {"alertname": "LLMTenantOverBudget", "severity": "error", "tenant": "acme"},
    }
    with Alertmanager.start(tmp_path / "am", config_text=EXAMPLE.read_text()) as am:
        _post_alerts(am, list(posted.values()))

        def states() -> dict[str, list[str]] | None:
            got = {json.dumps(a["labels"], sort_keys=True): a["status"]["inhibitedBy"] for a in am.alerts()}
            return got if len(got) == len(posted) else None

        got = wait_until(states, timeout=20, what="Alertmanager to hold the posted alerts")
        inhibited = {key for key, labels in posted.items() if got[json.dumps(labels, sort_keys=True)]}
        assert inhibited == {"warning-same", "error-same", "pipeline-warning-same"}
