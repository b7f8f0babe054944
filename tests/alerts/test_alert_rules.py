"""The committed rule files: fresh, valid for promtool, unit-tested alert by alert, and shaped
like a monitoring mixin (names, severities, annotations, runbook links, recording-rule levels)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.generate import (
    ALERT_NAMES,
    ALERTS_FILE,
    RULES_FILE,
    SEVERITIES,
    load_config,
    rule_groups,
    stale_files,
)

ALERTS_DIR = Path(__file__).resolve().parents[2] / "alerts"
UNIT_TESTS = sorted((ALERTS_DIR / "tests").glob("*.yaml"))


def _rules(kind: str) -> list[dict[str, Any]]:
    return [r for g in rule_groups(load_config()) for r in g["rules"] if kind in r]


def _duration_s(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", text))


def test_generated_files_match_the_config() -> None:
    assert stale_files(load_config()) == [], "run `python alerts/generate.py` and commit the result"


def test_promtool_check_rules_accepts_every_file(promtool: str) -> None:
    expected = {RULES_FILE: len(_rules("record")), ALERTS_FILE: len(_rules("alert"))}
    assert expected == {RULES_FILE: 27, ALERTS_FILE: 21}
    for name, count in expected.items():
        out = subprocess.run(
            [promtool, "check", "rules", str(ALERTS_DIR / name)], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"SUCCESS: {count} rules found" in out.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    assert [p.name for p in UNIT_TESTS] == [
        "llm_alerts-test.yaml",
        "pipeline_alerts-test.yaml",
        "recording_rules-test.yaml",
    ]
    out = subprocess.run(
        [promtool, "test", "rules", *map(str, UNIT_TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ALERTS_DIR / "tests",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") == len(UNIT_TESTS)


def test_promtool_unit_tests_catch_a_wrong_expectation(promtool: str, tmp_path: Path) -> None:
    """Guard against tests that cannot fail: the same test with one label changed must fail."""
    (tmp_path / "tests").mkdir()
    for name in (RULES_FILE, ALERTS_FILE):
        shutil.copy(ALERTS_DIR / name, tmp_path / name)
    text = (ALERTS_DIR / "tests" / "llm_alerts-test.yaml").read_text()
    broken = text.replace(
        "{severity: error, gen_ai_provider_name: openai",
        "{severity: warning, gen_ai_provider_name: openai",
        1,
    )
    assert broken != text
    (tmp_path / "tests" / "broken-test.yaml").write_text(broken)
    out = subprocess.run(
        [promtool, "test", "rules", "broken-test.yaml"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path / "tests",
    )
    assert out.returncode == 1
    assert "alertname: LLMRateLimitStorm, time: 3m" in out.stdout + out.stderr


def _unit_cases() -> list[tuple[str, int, dict[str, Any]]]:
    """(test group name, interval seconds, alert test case) for every alert_rule_test."""
    cases = []
    for path in UNIT_TESTS:
        doc = yaml.safe_load(path.read_text())
        for group in doc["tests"]:
            interval = _duration_s(group.get("interval", doc.get("evaluation_interval", "1m")))
            for case in group.get("alert_rule_test", []):
                cases.append((group["name"], interval, case))
    return cases


@pytest.mark.parametrize("rule", _rules("alert"), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_every_alert_tier_is_unit_tested_at_its_for_boundary(rule: dict[str, Any]) -> None:
    """Each alert and severity has a case where it fires exactly when `for` has elapsed, and a
    case one evaluation earlier, in the same input, where that alert is not firing yet."""
    name, severity = rule["alert"], rule["labels"]["severity"]
    firing = [
        (group, interval, case, exp)
        for group, interval, case in _unit_cases()
        if case["alertname"] == name
        for exp in case.get("exp_alerts") or []
        if exp["exp_labels"]["severity"] == severity
    ]
    assert firing, f"no promtool case expects {name} ({severity}) to fire"
    boundary_checked = False
    for group, interval, case, exp in firing:
        at = _duration_s(case["eval_time"])
        before = [
            c
            for g, _, c in _unit_cases()
            if g == group and c["alertname"] == name and _duration_s(c["eval_time"]) == at - interval
        ]
        if before and all(
            exp["exp_labels"] not in [e["exp_labels"] for e in c.get("exp_alerts") or []] for c in before
        ):
            boundary_checked = True
            assert set(exp["exp_annotations"]) == {"summary", "description", "runbook_url"}
    assert boundary_checked, f"{name} ({severity}) is never checked one evaluation before it fires"


def test_all_four_severities_are_used() -> None:
    assert {r["labels"]["severity"] for r in _rules("alert")} == set(SEVERITIES)


@pytest.mark.parametrize("rule", _rules("alert"), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_alert_shape(rule: dict[str, Any]) -> None:
    name = rule["alert"]
    assert re.fullmatch(r"(LLMPulse|LLM)[A-Z][A-Za-z0-9]+", name)
    assert rule["labels"]["severity"] in SEVERITIES
    assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
    assert rule["annotations"]["runbook_url"] == (
        f"https://github.com/llmpulse/llmpulse/blob/main/alerts/runbook.md#{name.lower()}"
    )
    assert re.fullmatch(r"\d+[smh]", rule["for"])
    description = rule["annotations"]["description"]
    if name.startswith("LLMPulse"):
        assert "{{ $labels.llmpulse_instance }}" in description
    elif name == "LLMTenantOverBudget":
        assert "{{ $labels.tenant }}" in description
    else:  # per-model alerts name the model and the service, and fire per both
        assert "{{ $labels.gen_ai_request_model }}" in description
        assert "{{ $labels.service_name }}" in description
        assert "sum by (gen_ai_provider_name, gen_ai_request_model, service_name" in rule["expr"]


def test_every_alert_has_a_runbook_section() -> None:
    headings = set(re.findall(r"^## (\S+)$", (ALERTS_DIR / "runbook.md").read_text(), re.M))
    assert headings == set(ALERT_NAMES)


def test_recording_rules_are_named_level_metric_operations_and_say_why() -> None:
    names = [r["record"] for r in _rules("record")]
    compat = {"model_usage"}  # named like the seed products' series on purpose
    for name in names:
        assert name in compat or re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", name), name
    lines = (ALERTS_DIR / RULES_FILE).read_text().splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("- record:"):
            assert lines[i - 1].lstrip().startswith("#"), f"no comment above {line.strip()}"


def test_replica_level_rules_merge_llmpulse_replicas() -> None:
    llm = [r for r in _rules("record") if r["record"].startswith("llm:")]
    assert len(llm) == 12
    for rule in llm:
        assert rule["expr"].startswith("sum without (llmpulse_instance) (rate(gen_ai_client_"), rule
