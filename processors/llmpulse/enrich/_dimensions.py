"""Extra metric dimensions (tenant, namespace, hashed API key) read from resource/span attributes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
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
        return self.for_resource(resource)(span)

    def for_resource(self, resource: Mapping[str, Any]) -> ResourceDimensions:
        """``read`` with the resource's part done once, for all the spans under one resource."""
        plan: list[tuple[str, tuple[str, ...], bool]] = []
        resolved: dict[str, str] = {}
        for name, sources, hashed in self._plan:
            # span sources up to the first resource source that holds a value: a span value
            # found among them wins, else that resource value (hashed here, once)
            before: list[str] = []
            for from_resource, key in sources:
                if not from_resource:
                    before.append(key)
                    continue
                raw = resource.get(key)
                value = None if raw is None else as_str(raw)
                if value is not None:
                    resolved[name] = self.hash(value) if hashed else value
                    break
            if before or name in resolved:
                plan.append((name, tuple(before), hashed))
        return ResourceDimensions(self.hash, tuple(plan), resolved)

    def hash(self, value: str) -> str:
        token = value.split()[-1] if value.lower().startswith("bearer ") else value
        return hashlib.sha256(self._salt + token.encode()).hexdigest()[:16]


class ResourceDimensions:
    """The dimensions of the spans under one resource (``DimensionReader.for_resource``): only
    the span sources that can still win are read per span; hashed values are kept hashed."""

    __slots__ = ("_hash", "_plan", "_resolved")

    def __init__(
        self,
        hash_value: Callable[[str], str],
        plan: tuple[tuple[str, tuple[str, ...], bool], ...],
        resolved: dict[str, str],
    ) -> None:
        self._hash = hash_value
        self._plan = plan
        self._resolved = resolved

    def __call__(self, span: Mapping[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, keys, hashed in self._plan:
            for key in keys:
                raw = span.get(key)
                if raw is None:  # the usual case: most sources are absent
                    continue
                value = as_str(raw)
                if value is None:
                    continue
                out[name] = self._hash(value) if hashed else value
                break
            else:
                resolved = self._resolved.get(name)
                if resolved is not None:
                    out[name] = resolved
        return out
