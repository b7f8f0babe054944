"""Shared fixtures: an in-process gateway on free ports, the captured fixtures, metric readers."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from llmpulse.server import Gateway  # noqa: E402
from tests.support.gateway import CaptureExporter, gateway_config, running_gateway  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures" / "genai-captures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not (FIXTURES / "manifest.json").exists():
        raise FileNotFoundError(
            f"captured fixtures not found at {FIXTURES} (shared/ must sit beside the repo)"
        )
    return FIXTURES


@pytest.fixture(scope="session")
def manifest(fixtures_dir: Path) -> dict[str, Any]:
    return json.loads((fixtures_dir / "manifest.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture
def capture() -> CaptureExporter:
    return CaptureExporter()


@pytest.fixture
def gateway(tmp_path: Path, capture: CaptureExporter) -> Iterator[Gateway]:
    """A real gateway (receivers, pipeline, /metrics) in-process; ``capture`` sees its exports."""
    with running_gateway(gateway_config(tmp_path / "data"), capture) as gw:
        yield gw
