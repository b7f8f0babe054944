"""The committed dashboard JSON is what the code generates, and it reads well in Grafana as is."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import generate, queries
from dashboards.config import CONFIG, Steps, thresholds_from_alerts, uid_for
from dashboards.generate import panels_of

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
FILES = sorted(generate.render())


def _load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DASHBOARDS / name).read_text())
    return doc


def test_committed_json_equals_generated() -> None:
    assert generate.stale() == [], "run `python -m dashboards.generate` and commit the JSON"
    on_disk = sorted(p.name for p in DASHBOARDS.glob("*.json"))
    assert on_disk == FILES, "a dashboard JSON file has no generator (or the other way round)"


def test_check_mode_fails_on_a_hand_edit(tmp_path: Path) -> None:
    for name, text in generate.render().items():
        (tmp_path / name).write_text(text)
    assert generate.main(["--check", "--out", str(tmp_path)]) == 0
    edited = tmp_path / FILES[0]
    edited.write_text(edited.read_text().replace('"refresh": "30s"', '"refresh": "5s"'))
    assert generate.main(["--check", "--out", str(tmp_path)]) == 1


def test_five_dashboards_with_uids_from_file_names() -> None:
    assert FILES == [
        "llmpulse-errors-safety.json",
        "llmpulse-latency.json",
        "llmpulse-overview.json",
        "llmpulse-pipeline.json",
        "llmpulse-tokens-cost.json",
    ]
    for name in FILES:
        doc = _load(name)
        assert doc["uid"] == name.removesuffix(".json") == uid_for(name)
        assert doc["schemaVersion"] == 41  # Grafana 11.6
        assert doc["editable"] is False  # generated: edit the code, not the dashboard


@pytest.mark.parametrize("name", FILES)
def test_every_panel_is_ready_to_read(name: str) -> None:
    doc = _load(name)
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels_of(doc):
        title = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        assert len(panel["description"]) > 20, title
        assert panel["targets"], title
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs) and all(refs), title
        for t in panel["targets"]:
            assert t["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        if panel["type"] == "table":
            units = [o["properties"][0] for o in panel["fieldConfig"]["overrides"]]
            assert units and all(u["id"] == "unit" and u["value"] for u in units), title
        elif panel["type"] == "heatmap":
            assert panel["options"]["yAxis"]["unit"] == "s", title
        else:
            assert panel["fieldConfig"]["defaults"]["unit"], title
            assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"], title
        if panel["type"] == "timeseries":
            assert all(t.get("legendFormat") for t in panel["targets"]), title
            assert panel["options"]["legend"]["displayMode"] == "table", title


def test_genai_dashboards_filter_on_every_variable() -> None:
    for name in FILES:
        doc = _load(name)
        names = [v["name"] for v in doc["templating"]["list"]]
        if name == "llmpulse-pipeline.json":
            assert names == ["datasource"]
            continue
        assert names == ["datasource", "service", "provider", "model", "tenant", "namespace"]
        for var in doc["templating"]["list"][1:]:
            assert var["includeAll"] and var["multi"] and var["allValue"] == ".*"
        for panel in panels_of(doc):
            for t in panel["targets"]:
                if "otel_metric_overflow" in t["expr"]:
                    continue  # folded series have lost the labels the filters match
                for var in names[1:]:
                    assert f'=~"${var}"' in t["expr"], (panel["title"], var)


def test_thresholds_are_the_alerts_tiers() -> None:
    alerts = yaml.safe_load((ROOT / "alerts" / "config.yaml").read_text())["alerts"]
    failure = alerts["high_failure_rate"]["severities"]
    doc = _load("llmpulse-overview.json")
    panel = next(p for p in panels_of(doc) if p["title"] == "Failure rate")
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [
        None,
        failure["warning"]["threshold"],
        failure["critical"]["threshold"],
    ]
    assert [s["color"] for s in steps] == ["green", "orange", "red"]
    assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"
    latency = next(p for p in panels_of(doc) if p["title"] == "p95 duration")
    steps = latency["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, alerts["high_latency"]["severities"]["warning"]["threshold"]]


def test_thresholds_follow_edits_of_the_alerts_config(tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "alerts" / "config.yaml").read_text())
    config["alerts"]["high_failure_rate"]["severities"] = {"info": {"threshold": 0.02, "for": "1m"}}
    config["alerts"]["high_latency"]["severities"] = {}  # disabled: the panel is not coloured
    edited = tmp_path / "config.yaml"
    edited.write_text(yaml.safe_dump(config))
    t = thresholds_from_alerts(edited)
    assert t.failure_ratio == Steps(warning=0.02, critical=None)
    assert t.duration_p95_s == Steps()
    del config["alerts"]["slow_time_to_first_token"]
    edited.write_text(yaml.safe_dump(config))
    with pytest.raises(KeyError, match=re.escape("`alerts.slow_time_to_first_token.severities`")):
        thresholds_from_alerts(edited)


def test_recording_rules_used_exist_in_alerts() -> None:
    """Every ``llm:`` series a panel reads is recorded by alerts/prometheus_rules.yaml."""
    rules = yaml.safe_load((ROOT / "alerts" / "prometheus_rules.yaml").read_text())
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    used: set[str] = set()
    for name in FILES:
        for panel in panels_of(_load(name)):
            for t in panel["targets"]:
                used |= set(re.findall(r"\b[a-z_]+:[a-z_]+:[a-z0-9_]+\b", t["expr"]))
    assert used == set(queries.recorded_rates().values())
    assert used <= recorded, f"not recorded by alerts/: {sorted(used - recorded)}"


def test_top_colours_failures_like_the_dashboards() -> None:
    from llmpulse.top import _view

    assert CONFIG.thresholds.failure_ratio == Steps(_view.FAILURE_WARNING, _view.FAILURE_CRITICAL)
