"""One module per dashboard; each exposes ``FILE`` (its JSON name, hence its UID) and ``build()``."""

from __future__ import annotations

from types import ModuleType

from . import errors, latency, overview, pipeline, tokens_cost

#: In the order they appear in the dashboards' link menu.
BOARDS: tuple[ModuleType, ...] = (overview, tokens_cost, latency, errors, pipeline)

__all__ = ["BOARDS"]
