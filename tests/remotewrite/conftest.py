"""Fixtures for the remote-write tests: a fresh real Prometheus per test, and clean-up of every
llmpulse process and OTel SDK client a test starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.remotewrite.helpers import LLMClient, LLMPulse
from tests.support.promstack import Prometheus


@pytest.fixture
def prom(tmp_path: Path) -> Iterator[Prometheus]:
    """A fresh real Prometheus (own TSDB) with the remote-write receiver, on a free port."""
    server = Prometheus.start(tmp_path / "prom")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def processes() -> Iterator[list[LLMPulse]]:
    """Every llmpulse a test starts; killed at the end whatever happened."""
    started: list[LLMPulse] = []
    try:
        yield started
    finally:
        for p in started:
            p.kill()


@pytest.fixture
def clients() -> Iterator[list[LLMClient]]:
    made: list[LLMClient] = []
    try:
        yield made
    finally:
        for c in made:
            c.close()
