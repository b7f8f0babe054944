"""Fixtures for the alert tests: the repository root on sys.path (the ``alerts`` generator and
``tests.support`` live outside the installed package) and the promtool/amtool binaries, which
must exist: a missing binary fails these tests rather than skipping them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.promstack import find_binary  # noqa: E402

ALERTS_DIR = ROOT / "alerts"


@pytest.fixture(scope="session")
def promtool() -> str:
    return find_binary("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return find_binary("amtool")
