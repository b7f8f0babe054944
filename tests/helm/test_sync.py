"""The chart's copies of rules, dashboards and collector configs are the sources' bytes, and the
sync step picks up whatever exists at sync time (new files in, removed files out)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from tests.helm.conftest import CHART, ROOT


def _sync_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llmpulse_helm_sync", ROOT / "helm" / "sync.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sync = _sync_module()


def test_the_chart_copies_match_their_sources() -> None:
    assert sync.stale_items() == [], "run `python helm/sync.py` and commit the result"
    copies = {p.relative_to(CHART / "files").as_posix() for p in (CHART / "files").rglob("*") if p.is_file()}
    assert "alerts/prometheus_rules.yaml" in copies and "collector/gateway.yaml" in copies
    assert "alerts/config.yaml" not in copies and "alerts/alertmanager.yaml" not in copies  # not rule files
    assert "collector/builder-config.yaml" not in copies  # an ocb manifest, not a collector config
    assert {p.name for p in (ROOT / "dashboards").glob("*.json")} == {
        Path(c).name for c in copies if c.startswith("dashboards/")
    }


def test_sync_adds_new_files_and_removes_stale_copies(tmp_path: Path) -> None:
    root, chart = tmp_path / "repo", tmp_path / "repo" / "helm" / "llmpulse"
    for folder in ("alerts", "dashboards", "collector-config"):
        (root / folder).mkdir(parents=True)
    (root / "alerts" / "team_rules.yaml").write_text("groups:\n- name: g\n  rules: []\n")
    (root / "alerts" / "config.yaml").write_text("alerts: {}\n")
    (root / "dashboards" / "new-board.json").write_text('{"title": "new"}\n')
    (root / "collector-config" / "gateway.yaml").write_text("receivers: {}\nservice: {}\n")
    files = chart / "files"
    (files / "dashboards").mkdir(parents=True)
    (files / "dashboards" / "removed-board.json").write_text("{}")
    schema = chart / "values.schema.json"
    schema.write_text(json.dumps({"type": "object", "$defs": {"resources": {"type": "object"}}}))

    changed = sync.sync(root, files, schema)
    assert "files/dashboards/removed-board.json has no source any more" in changed
    assert sorted(p.relative_to(files).as_posix() for p in files.rglob("*") if p.is_file()) == [
        "alerts/team_rules.yaml",
        "collector/gateway.yaml",
        "dashboards/new-board.json",
    ]
    generated = json.loads(schema.read_text())["$defs"]
    assert "resources" in generated and "llmpulse.KubernetesConfig" in generated
    assert sync.stale_items(root, files, schema) == []
    (root / "dashboards" / "new-board.json").write_text('{"title": "changed"}\n')
    assert sync.stale_items(root, files, schema) == [
        "files/dashboards/new-board.json is missing or differs from its source"
    ]


def test_the_config_schema_follows_the_config_model() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    config = schema["$defs"]["llmpulse.Config"]
    from llmpulse.config import Config

    assert set(config["properties"]) == set(Config.model_fields)
    assert schema["properties"]["config"] == {"$ref": "#/$defs/llmpulse.Config"}
