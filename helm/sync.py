"""Copy the chart's generated inputs from their one source of truth into ``helm/llmpulse/``.

* ``alerts/*.yaml`` that are Prometheus rule files (a top-level ``groups`` list; not the
  alert-generator config nor the Alertmanager example) → ``files/alerts/``
* ``dashboards/*.json`` → ``files/dashboards/``
* ``collector-config/*.yaml`` → ``files/collector/``
* the llmpulse config model (``llmpulse.config.Config``) → the ``config`` part of
  ``values.schema.json`` (``$defs/llmpulse.*``), so Helm rejects a bad config key at install

Whatever exists at sync time is picked up; copies whose source is gone are removed. The copies are
byte-identical (``tests/helm/test_sync.py`` checks it)::

    python helm/sync.py           # rewrite the chart's copies
    python helm/sync.py --check   # exit 1 and list what is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "llmpulse"
FILES = CHART / "files"
SCHEMA = CHART / "values.schema.json"
#: Prefix of the generated definitions in values.schema.json (the hand-written ones have none).
DEF_PREFIX = "llmpulse."


def is_rule_file(path: Path) -> bool:
    """A Prometheus rule file: a mapping whose ``groups`` is a list of named rule groups."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    groups = document.get("groups") if isinstance(document, dict) else None
    return isinstance(groups, list) and all(isinstance(g, dict) and "rules" in g for g in groups)


def is_collector_config(path: Path) -> bool:
    """A Collector config or overlay (top-level component sections or ``service``), not e.g. the
    OpenTelemetry Collector Builder manifest (``dist:``)."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    return (
        isinstance(document, dict)
        and "dist" not in document
        and bool({"receivers", "exporters", "service"} & set(document))
    )


@dataclass(frozen=True)
class Source:
    """One kind of synced file: where it comes from, which files, where the copies go."""

    directory: Path
    pattern: str
    target: Path
    keep: Callable[[Path], bool] = lambda path: True

    def files(self) -> Iterator[Path]:
        if self.directory.is_dir():
            yield from sorted(p for p in self.directory.glob(self.pattern) if p.is_file() and self.keep(p))


def sources(root: Path = ROOT, files: Path = FILES) -> list[Source]:
    return [
        Source(root / "alerts", "*.yaml", files / "alerts", is_rule_file),
        Source(root / "dashboards", "*.json", files / "dashboards"),
        Source(root / "collector-config", "*.yaml", files / "collector", is_collector_config),
    ]


def plan(root: Path = ROOT, files: Path = FILES) -> tuple[dict[Path, bytes], list[Path]]:
    """What the copies must be (target → content) and which stale copies must go."""
    wanted: dict[Path, bytes] = {}
    stale: list[Path] = []
    for source in sources(root, files):
        names = set()
        for path in source.files():
            wanted[source.target / path.name] = path.read_bytes()
            names.add(path.name)
        if source.target.is_dir():
            stale += [p for p in sorted(source.target.iterdir()) if p.is_file() and p.name not in names]
    return wanted, stale


def config_schema_defs() -> dict[str, Any]:
    """JSON Schema of the llmpulse config, with references renamed into the chart's ``$defs``."""
    sys.path.insert(0, str(ROOT / "processors"))
    from llmpulse.config import Config

    schema = Config.model_json_schema(ref_template="#/$defs/" + DEF_PREFIX + "{model}")
    defs = {DEF_PREFIX + name: body for name, body in schema.pop("$defs", {}).items()}
    schema.pop("title", None)
    schema["description"] = (
        "The llmpulse configuration (`llmpulse serve --config`); generated from the config model "
        "by helm/sync.py. Receivers, metrics endpoint, data_dir, auth file, collector target and "
        "kubernetes are set by the chart on top of it."
    )
    defs[DEF_PREFIX + "Config"] = schema
    return defs


def schema_with_config(schema: dict[str, Any]) -> dict[str, Any]:
    updated = dict(schema)
    defs = {k: v for k, v in schema.get("$defs", {}).items() if not k.startswith(DEF_PREFIX)}
    defs.update(config_schema_defs())
    updated["$defs"] = dict(sorted(defs.items()))
    return updated


def dump_schema(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def stale_items(root: Path = ROOT, files: Path = FILES, schema_path: Path = SCHEMA) -> list[str]:
    """Every difference between the sources and the chart's copies, as readable lines."""
    wanted, stale = plan(root, files)
    problems = [
        f"{target.relative_to(files.parent)} is missing or differs from its source"
        for target, content in wanted.items()
        if not target.is_file() or target.read_bytes() != content
    ]
    problems += [f"{path.relative_to(files.parent)} has no source any more" for path in stale]
    current = schema_path.read_text()
    if dump_schema(schema_with_config(json.loads(current))) != current:
        problems.append(f"{schema_path.name}: the `config` schema differs from the llmpulse config model")
    return problems


def sync(root: Path = ROOT, files: Path = FILES, schema_path: Path = SCHEMA) -> list[str]:
    """Bring the copies in line; returns what changed."""
    changed = stale_items(root, files, schema_path)
    wanted, stale = plan(root, files)
    for target, content in wanted.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_bytes() != content:
            target.write_bytes(content)
    for path in stale:
        path.unlink()
    schema_path.write_text(dump_schema(schema_with_config(json.loads(schema_path.read_text()))))
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report what is stale (exit 1 if any)")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale_items()
        for problem in problems:
            print(f"stale: {problem}")
        if problems:
            print("run `python helm/sync.py` and commit the result")
        return 1 if problems else 0
    for change in sync():
        print(f"synced: {change}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
