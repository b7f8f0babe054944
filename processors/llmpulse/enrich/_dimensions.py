"""Extra metric dimensions (tenant, namespace, hashed API key) read from resource/span attributes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from llmpulse.config import DimensionConfig
from llmpulse.normalise._values import as_str


class DimensionReader:
    """Reads the configured dimensions; hashed ones never store the raw value anywhere."""

    def __init__(self, dimensions: Sequence[DimensionConfig], salt: str = "") -> None:
        self._salt = salt.encode()
        #: (label, ((from the resource?, key), ...), hashed) per dimension
        self._plan: list[tuple[str, tuple[tuple[bool, str], ...], bool]] = []
        for dim in dimensions:
            sources: list[tuple[bool, str]] = []
            for source in dim.sources:
                if source.startswith("resource."):
                    sources.append((True, source[len("resource.") :]))
                elif source.startswith("span."):
                    sources.append((False, source[len("span.") :]))
                else:
                    sources.extend(((False, source), (True, source)))
            self._plan.append((dim.name, tuple(sources), dim.hash))

    @property
    def span_keys(self) -> frozenset[str]:
        """The span attributes a dimension may be read from."""
        return frozenset(
            key for _, sources, _ in self._plan for from_resource, key in sources if not from_resource
        )

    def read(self, resource: Mapping[str, Any], span: Mapping[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, sources, hashed in self._plan:
            for from_resource, key in sources:
                raw = (resource if from_resource else span).get(key)
                if raw is None:  # the usual case: most sources are absent
                    continue
                value = as_str(raw)
                if value is None:
                    continue
                out[name] = self.hash(value) if hashed else value
                break
        return out

    def hash(self, value: str) -> str:
        token = value.split()[-1] if value.lower().startswith("bearer ") else value
        return hashlib.sha256(self._salt + token.encode()).hexdigest()[:16]
