"""alerts/config.yaml drives the rules: overrides land in the PromQL, bad configs fail loudly with
the key named, and non-default settings (per-tenant budgets, selectors) produce rules that real
promtool evaluates as intended."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.generate import (
    ALERTS_FILE,
    RULES_FILE,
    ConfigError,
    load_config,
    merge,
    render,
    rule_groups,
    validate,
    write,
)

ALERTS_DIR = Path(__file__).resolve().parents[2] / "alerts"


def _alert(config: dict[str, Any], name: str, severity: str) -> dict[str, Any]:
    rules: list[dict[str, Any]] = [
        r
        for g in rule_groups(config)
        for r in g["rules"]
        if r.get("alert") == name and r["labels"]["severity"] == severity
    ]
    assert len(rules) == 1
    return rules[0]


def test_defaults_validate() -> None:
    validate(load_config())


def test_override_changes_threshold_for_and_window() -> None:
    config = merge(
        load_config(),
        {
            "windows": {"short": "15s"},
            "alerts": {"rate_limit_storm": {"severities": {"error": {"threshold": 0.5, "for": "5s"}}}},
        },
    )
    rule = _alert(config, "LLMRateLimitStorm", "error")
    assert rule["for"] == "5s"
    assert ") > 0.5\n" in rule["expr"]
    assert (
        'llm:gen_ai_client_operation_duration_seconds_count:rate15s{error_type="rate_limit"}' in rule["expr"]
    )
    assert "(threshold 50%)" in rule["annotations"]["description"]
    records = {r["record"] for g in rule_groups(config) for r in g["rules"] if "record" in r}
    assert "llm:gen_ai_client_operation_duration_seconds_count:rate15s" in records
    assert "llm:gen_ai_client_operation_duration_seconds_count:rate1m" not in records
    # merge() leaves the base untouched
    assert load_config()["windows"]["short"] == "1m"


def test_a_severity_tier_can_be_added_or_removed() -> None:
    config = merge(
        load_config(),
        {
            "alerts": {
                "rate_limit_storm": {
                    "severities": {
                        "warning": {"threshold": 0.02, "for": "10m"},
                    }
                }
            }
        },
    )
    assert _alert(config, "LLMRateLimitStorm", "warning")["for"] == "10m"
    assert _alert(config, "LLMRateLimitStorm", "error")["for"] == "2m"
    config["alerts"]["unpriced_model"]["severities"] = {}
    names = {r.get("alert") for g in rule_groups(config) for r in g["rules"]}
    assert "LLMUnpricedModel" not in names


def test_selector_and_replica_labels_reach_every_raw_query() -> None:
    config = merge(
        load_config(), {"selector": 'job="llmpulse"', "replica_labels": ["llmpulse_instance", "instance"]}
    )
    text = "".join(render(config).values())
    assert 'rate(gen_ai_client_tokens_total{job="llmpulse"}[5m])' in text
    assert 'rate(llmpulse_remote_write_samples_failed_total{job="llmpulse"}[5m])' in text
    assert "sum without (llmpulse_instance, instance) (rate(gen_ai_client_cost_usd_total" in text
    assert 'gen_ai_token_type=~"input|output", gen_ai_request_model!="", job="llmpulse"}' in text


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"treshold": 1}, "`treshold`: unknown key"),
        (
            {"alerts": {"rate_limit_storm": {"windw": "short"}}},
            "`alerts.rate_limit_storm.windw`: unknown key",
        ),
        (
            {"alerts": {"rate_limit_storm": {"severities": {"page": {"threshold": 1, "for": "1m"}}}}},
            "`alerts.rate_limit_storm.severities.page`: severity must be one of info, warning, error, "
            "critical",
        ),
        (
            {"alerts": {"quota_exhausted": {"severities": {"critical": {"threshold": 1, "for": "soon"}}}}},
            "`alerts.quota_exhausted.severities.critical.for`: 'soon' is not a duration like 5m",
        ),
        (
            {"alerts": {"high_latency": {"window": "medium"}}},
            "`alerts.high_latency.window`: 'medium' must be short or long",
        ),
        ({"alert_labels": ["gen_ai_request_model"]}, "`alert_labels`: must contain service_name"),
        (
            {"alert_labels": ["gen_ai_request_model", "service_name", "api_key"]},
            "`alert_labels`: ['api_key'] must also be in `aggregation_labels`",
        ),
        ({"windows": {"short": "1 minute"}}, "`windows.short`: '1 minute' is not a Prometheus duration"),
        (
            {"runbook_url_pattern": "https://example.com/runbooks"},
            "`runbook_url_pattern`: must contain exactly one %s",
        ),
        (
            {"alerts": {"tenant_over_budget": {"tenants_usd_per_hour": {"acme": -1}}}},
            "`alerts.tenant_over_budget.tenants_usd_per_hour.acme`: -1 must be a positive number",
        ),
    ],
)
def test_bad_config_names_the_key(override: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(merge(load_config(), override))
    assert message in str(err.value)


def test_every_problem_is_reported_at_once() -> None:
    config = merge(
        load_config(),
        {
            "windows": {"long": "five minutes"},
            "alerts": {"traffic_stopped": {"lookback": "an hour"}, "bogus_alert": {}},
        },
    )
    del config["alerts"]["cardinality_overflow"]
    with pytest.raises(ConfigError) as err:
        validate(config)
    assert err.value.problems == [
        "`windows.long`: 'five minutes' is not a Prometheus duration like 5m",
        "`alerts.bogus_alert`: unknown alert (known: " + ", ".join(load_config()["alerts"]) + ")",
        "`alerts.traffic_stopped.lookback`: 'an hour' is not a Prometheus duration like 1h",
        "`alerts.cardinality_overflow`: required mapping is missing",
    ]


def test_missing_top_level_key_fails() -> None:
    config = load_config()
    del config["selector"]
    with pytest.raises(ConfigError, match="`selector`: required key is missing"):
        rule_groups(config)


def test_cli_check_detects_stale_files(tmp_path: Path) -> None:
    script = str(ALERTS_DIR / "generate.py")
    fresh = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True, timeout=60)
    assert fresh.returncode == 0, fresh.stderr
    write(load_config(), tmp_path)
    (tmp_path / ALERTS_FILE).write_text((tmp_path / ALERTS_FILE).read_text().replace("for: 2m", "for: 3m"))
    stale = subprocess.run(
        [sys.executable, script, "--check", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stale.returncode == 1
    assert stale.stderr == f"{tmp_path / ALERTS_FILE} is stale: run python alerts/generate.py\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text("selector: ''\n")
    invalid = subprocess.run(
        [sys.executable, script, "--config", str(bad), "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert invalid.returncode == 2
    assert "`replica_labels`: required key is missing" in invalid.stderr


def test_per_tenant_budgets_fire_in_promtool(promtool: str, tmp_path: Path) -> None:
    """Listed tenants get their own budget; others the default; no tenant, no budget."""
    config = merge(
        load_config(),
        {
            "alerts": {
                "tenant_over_budget": {
                    "default_usd_per_hour": 5,
                    "tenants_usd_per_hour": {"acme": 20, "big.corp": 100},
                }
            }
        },
    )
    expr = _alert(config, "LLMTenantOverBudget", "error")["expr"]
    assert 'llm:gen_ai_client_cost_usd:rate5m{tenant="acme"}) * 3600 / 20' in expr
    assert 'llm:gen_ai_client_cost_usd:rate5m{tenant!="", tenant!~"acme|big\\\\.corp"}) * 3600 / 5' in expr
    write(config, tmp_path)
    # 0.25 USD/min = 15 USD/h for each tenant: under acme's 20 and big.corp's 100; 300% of the
    # default 5 for beta and for bigXcorp (the budget regex must escape the dot in big.corp).
    labels = 'llmpulse_instance="a", gen_ai_request_model="gpt-4o", service_name="checkout"'
    runbook = "https://github.com/llmpulse/llmpulse/blob/main/alerts/runbook.md#llmtenantoverbudget"
    description = "spends at 300% of its hourly budget (USD/hour from the last 5m; threshold 100% of budget)."
    unit_test = {
        "rule_files": [RULES_FILE, ALERTS_FILE],
        "evaluation_interval": "1m",
        "group_eval_order": [g["name"] for g in rule_groups(config)],
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": f'gen_ai_client_cost_usd_total{{{labels}, tenant="{t}"}}',
                        "values": "0+0.25x30",
                    }
                    for t in ("acme", "big.corp", "beta", "bigXcorp")
                ],
                "alert_rule_test": [
                    {"alertname": "LLMTenantOverBudget", "eval_time": "16m"},
                    {
                        "alertname": "LLMTenantOverBudget",
                        "eval_time": "17m",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "error", "tenant": t},
                                "exp_annotations": {
                                    "summary": f"Tenant {t} is over its LLM budget.",
                                    "description": f"Tenant {t} {description}",
                                    "runbook_url": runbook,
                                },
                            }
                            for t in ("beta", "bigXcorp")
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "budget-test.yaml").write_text(yaml.safe_dump(unit_test, sort_keys=False))
    out = subprocess.run(
        [promtool, "test", "rules", "budget-test.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_without_replica_labels_rates_keep_every_label() -> None:
    config = merge(load_config(), {"replica_labels": []})
    first = rule_groups(config)[0]["rules"][0]
    assert first == {
        "record": "llm:gen_ai_client_operation_duration_seconds_count:rate1m",
        "expr": "rate(gen_ai_client_operation_duration_seconds_count[1m])",
    }
