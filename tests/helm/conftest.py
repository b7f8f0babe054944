"""Render the chart with the Helm SDK (no helm binary, no cluster) for the tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "llmpulse"
CRDS = Path(__file__).resolve().parent / "crds"
VALUE_SETS = ("default", "ha", "statefulset", "agent", "minimal")
RELEASE, NAMESPACE = "demo", "obs"


def ci_values(name: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text()) or {}


@dataclass
class Rendered:
    """The objects of one render, and NOTES.txt."""

    objects: list[dict[str, Any]]
    notes: str

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [o for o in self.of(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, (
            f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
        )
        return found[0]

    def config(self, name: str = f"{RELEASE}-llmpulse") -> dict[str, Any]:
        return yaml.safe_load(self.one("ConfigMap", name)["data"]["config.yaml"])  # type: ignore[no-any-return]


def render(values: dict[str, Any] | None = None) -> Rendered:
    with helm_python.Chart.load(CHART) as chart:
        chart.validate_schema(values or {})
        manifests = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = [
        doc
        for path, text in sorted(manifests.items())
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    ]
    notes = next((text for path, text in manifests.items() if path.endswith("NOTES.txt")), "")
    return Rendered(objects, notes)


@pytest.fixture(scope="session")
def rendered() -> Iterator[dict[str, Rendered]]:
    """Every ci/*-values.yaml rendered once for the session."""
    helm_python.disable_logging()
    yield {name: render(ci_values(name)) for name in VALUE_SETS}
