"""Make the repository root importable: the dashboards generator (``dashboards``) and the shared
Prometheus helpers (``tests.support.promstack``) live outside the installed package."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
