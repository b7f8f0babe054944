"""Fixtures for the forwarding tests: the repository root on sys.path and OTLP sinks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.forward.sink import OTLPSink  # noqa: E402


@pytest.fixture
def sink() -> Iterator[OTLPSink]:
    server = OTLPSink().start()
    try:
        yield server
    finally:
        server.stop()
