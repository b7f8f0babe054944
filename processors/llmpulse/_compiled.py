"""The modules ``setup.py`` compiles with mypyc, and the guard that keeps a stale build from
shadowing their sources.

The hot per-span path (recognition, dedup, enrichment, span metrics, the pipeline loop) is plain
typed Python; mypyc turns those modules into C extensions (native attribute access and calls
between them, no interpreter loop), with the same source as the one reference. Python imports an
extension module before a ``.py`` of the same name, so after a source is edited without a
rebuild its old compiled code would still run: when any compiled module is older than its
source, every module of the list is imported from its source instead (the compiled ones call
each other directly, so one stale module means the whole group is), with a warning.
``LLMPULSE_PURE_PYTHON=1`` imports them all from source on purpose (to debug, or to compare);
``LLMPULSE_REQUIRE_NATIVE=1`` (the test run) makes a missing or stale build an ``ImportError``.

This file imports nothing of llmpulse: ``setup.py`` reads ``COMPILED`` from it before the
package is built.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

#: compiled together (one mypyc group): modules of the per-span path and what they call per span
COMPILED = (
    "llmpulse.call",
    "llmpulse.pipeline",
    "llmpulse.normalise._recognise",
    "llmpulse.normalise._dedup",
    "llmpulse.normalise._values",
    "llmpulse.enrich._cost",
    "llmpulse.enrich._dimensions",
    "llmpulse.enrich._errors",
    "llmpulse.enrich._writeback",
    "llmpulse.spanmetrics._aggregate",
    "llmpulse.otlp._encoded",
)

_PACKAGE = Path(__file__).resolve().parent


def _source(name: str) -> Path:
    return _PACKAGE.joinpath(*name.split(".")[1:]).with_suffix(".py")


def _extension(source: Path) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_name(source.stem + suffix)
        if candidate.exists():
            return candidate
    return None


def compiled_modules() -> list[str]:
    """The modules of ``COMPILED`` that have a built extension beside their source."""
    return [name for name in COMPILED if _extension(_source(name)) is not None]


def _in_checkout() -> bool:
    """Whether this is a source checkout built in place (``processors/llmpulse`` beside
    ``setup.py``), the only place a build goes stale. An installed wheel's files get the time
    they were unpacked, a source possibly after its module: times say nothing there."""
    return (_PACKAGE.parent.parent / "setup.py").is_file() and _PACKAGE.parent.name == "processors"


def stale_modules() -> list[str]:
    """Compiled modules whose source changed after the build (in a source checkout)."""
    if not _in_checkout():
        return []
    stale = []
    for name in COMPILED:
        source = _source(name)
        extension = _extension(source)
        if extension is not None and source.exists() and source.stat().st_mtime > extension.stat().st_mtime:
            stale.append(name)
    return stale


class _SourceFinder:
    """Finds the listed modules as their ``.py`` source, ahead of the path finder."""

    def __init__(self, names: Sequence[str]) -> None:
        self._names = frozenset(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in self._names:
            return None
        return importlib.util.spec_from_file_location(fullname, _source(fullname))


def use_sources_when_needed() -> bool:
    """Import the compiled modules from source when asked to or when the build is stale;
    returns whether it does. Runs once, from ``llmpulse/__init__.py``, before any of them."""
    pure = os.environ.get("LLMPULSE_PURE_PYTHON", "") not in ("", "0")
    compiled = compiled_modules()
    stale = stale_modules() if compiled and not pure else []
    if os.environ.get("LLMPULSE_REQUIRE_NATIVE") == "1" and not pure:
        # as llmpulse.otlp.scan does for the C scanner: the test run and the image check that
        # what they measure and ship is the build, not the fallback
        missing = [name for name in COMPILED if name not in compiled]
        if missing or stale:
            raise ImportError(
                f"LLMPULSE_REQUIRE_NATIVE=1 but the mypyc build is {'missing' if missing else 'stale'}"
                f" ({', '.join(missing or stale)}): pip install -e . (or python setup.py"
                " build_ext --inplace) rebuilds it"
            )
    if not compiled or not (pure or stale):
        return False
    if not any(isinstance(finder, _SourceFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder(COMPILED))  # type: ignore[arg-type]
    if stale:
        warnings.warn(
            f"llmpulse: {', '.join(stale)} changed after the mypyc build; running every compiled "
            "module from source (rebuild: pip install -e . or python setup.py build_ext --inplace)",
            RuntimeWarning,
            stacklevel=3,
        )
    return True
