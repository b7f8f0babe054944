"""Write the dashboards' JSON next to this file, or check that the committed JSON is current.

    python -m dashboards.generate           # rewrite dashboards/llmpulse-*.json
    python -m dashboards.generate --check   # exit 1 and name the stale files (CI, tests)

The JSON is always generated, never edited by hand: edit queries/panels/boards and rerun.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard, RowPanel

from .boards import BOARDS

HERE = Path(__file__).resolve().parent


def _number_panels(dashboard: Dashboard) -> None:
    """Give every panel (rows included) a unique id in layout order; Grafana keys state on it."""
    next_id = 1
    for panel in dashboard.panels or []:
        panel.id_val = next_id
        next_id += 1
        if isinstance(panel, RowPanel):
            for inner in panel.panels or []:
                inner.id_val = next_id
                next_id += 1


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard, deterministic byte for byte."""
    encoder = JSONEncoder(sort_keys=True, indent=2)
    out: dict[str, str] = {}
    for board in BOARDS:
        model: Dashboard = board.build().build()
        _number_panels(model)
        out[board.FILE] = encoder.encode(model) + "\n"
    return out


def stale(directory: Path = HERE) -> list[str]:
    """Names of dashboard files that are missing or differ from what the code generates."""
    return [name for name, text in render().items() if _read(directory / name) != text]


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def panels_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every non-row panel of a dashboard JSON document, rows' nested panels included."""
    out: list[dict[str, Any]] = []
    for panel in doc.get("panels", []):
        if panel.get("type") == "row":
            out.extend(panel.get("panels", []))
        else:
            out.append(panel)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dashboards.generate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--check", action="store_true", help="fail if a committed JSON file is stale")
    parser.add_argument("--out", type=Path, default=HERE, help="directory to write into (default: here)")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale(args.out)
        for name in bad:
            print(f"{args.out / name} is stale: run `python -m dashboards.generate`", file=sys.stderr)
        return 1 if bad else 0
    for name, text in render().items():
        (args.out / name).write_text(text)
        print(args.out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
