"""The mypyc build of the per-span path (``llmpulse._compiled``): it is what runs when built, it
gives exactly what the source gives, and a stale build never shadows an edited source."""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmpulse import _compiled

ROOT = Path(__file__).resolve().parent.parent
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
BUILT = _compiled.compiled_modules() == list(_compiled.COMPILED)
needs_build = pytest.mark.skipif(
    not BUILT and os.environ.get("LLMPULSE_REQUIRE_NATIVE") != "1",
    reason="the mypyc build is not there (LLMPULSE_REQUIRE_NATIVE=1 makes this a failure)",
)


def _fake_package(tmp_path: Path, stale: set[str], *, checkout: bool = True) -> Path:
    """A package directory holding each compiled module's source and extension, with the sources
    in ``stale`` written after their extension; laid out as a source checkout (``setup.py`` beside
    ``processors/llmpulse``) or as an install (``site-packages/llmpulse``)."""
    root = tmp_path / "repo"
    package = root / "processors" / "llmpulse" if checkout else tmp_path / "site-packages" / "llmpulse"
    package.mkdir(parents=True)
    if checkout:
        (root / "setup.py").write_text("")
    for name in _compiled.COMPILED:
        source = package.joinpath(*name.split(".")[1:]).with_suffix(".py")
        source.parent.mkdir(parents=True, exist_ok=True)
        extension = source.with_name(source.stem + SUFFIX)
        source.write_text(f"WHERE = {name!r}\n")
        extension.write_bytes(b"")
        built, edited = 1_000_000_000, 1_000_000_000 + (60 if name in stale else -60)
        os.utime(extension, (built, built))
        os.utime(source, (edited, edited))
    return package


def test_a_source_edited_after_the_build_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_compiled, "_PACKAGE", _fake_package(tmp_path, {"llmpulse.normalise._dedup"}))
    assert _compiled.compiled_modules() == list(_compiled.COMPILED)
    assert _compiled.stale_modules() == ["llmpulse.normalise._dedup"]


def test_an_installed_package_is_never_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pip unpacks a wheel's files in order: ``call.py`` after ``call.cpython-*.so``."""
    installed = _fake_package(tmp_path, set(_compiled.COMPILED), checkout=False)
    monkeypatch.setattr(_compiled, "_PACKAGE", installed)
    assert _compiled.compiled_modules() == list(_compiled.COMPILED)
    assert _compiled.stale_modules() == []


def test_without_extensions_nothing_is_compiled_or_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _fake_package(tmp_path, set(_compiled.COMPILED))
    for extension in package.rglob(f"*{SUFFIX}"):
        extension.unlink()
    monkeypatch.setattr(_compiled, "_PACKAGE", package)
    assert _compiled.compiled_modules() == []
    assert _compiled.stale_modules() == []


def test_the_source_finder_serves_every_compiled_module_from_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _fake_package(tmp_path, set())
    monkeypatch.setattr(_compiled, "_PACKAGE", package)
    finder = _compiled._SourceFinder(_compiled.COMPILED)
    for name in _compiled.COMPILED:
        spec = finder.find_spec(name)
        assert spec is not None and spec.origin is not None
        assert Path(spec.origin) == package.joinpath(*name.split(".")[1:]).with_suffix(".py")
        assert isinstance(spec.loader, importlib.machinery.SourceFileLoader)
    assert finder.find_spec("llmpulse.otlp.scan") is None  # anything else: the usual finders


def _origins(env: dict[str, str]) -> tuple[list[str], str]:
    code = (
        "import importlib, warnings\n"
        "warnings.simplefilter('always')\n"
        "from llmpulse._compiled import COMPILED\n"
        "print(' '.join(importlib.import_module(n).__file__ for n in COMPILED))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.split(), done.stderr


@needs_build
def test_the_built_modules_run_compiled_unless_asked_for_the_source() -> None:
    env = {k: v for k, v in os.environ.items() if k != "LLMPULSE_PURE_PYTHON"}
    compiled, stderr = _origins(env)
    assert [Path(p).name.endswith(SUFFIX) for p in compiled] == [True] * len(_compiled.COMPILED), compiled
    assert "changed after the mypyc build" not in stderr
    interpreted, stderr = _origins({**env, "LLMPULSE_PURE_PYTHON": "1"})
    assert [Path(p).suffix for p in interpreted] == [".py"] * len(_compiled.COMPILED), interpreted
    assert "changed after the mypyc build" not in stderr  # asked for: no warning


@needs_build
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_compiled_and_interpreted_give_identical_results() -> None:
    """``benchmarks.equivalence --interpreted``: the benchmark load and every captured fixture
    through the pipeline (exported bytes, dedup decisions, /metrics, snapshot), seeded random
    dedup and span-metrics streams, and the state journal written by one and read by the other."""
    env = {k: v for k, v in os.environ.items() if k != "LLMPULSE_PURE_PYTHON"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.equivalence",
            "--interpreted",
            "--batches",
            "8",
            "--requests",
            "48",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=850,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.strip().endswith("identical"), done.stdout
    origins = [line.split(" from ", 1)[1] for line in done.stderr.splitlines() if ": pipeline from " in line]
    assert origins and origins[0].endswith("pipeline.py")  # the interpreted run
    assert any(o.endswith(f"pipeline{SUFFIX}") for o in origins[1:]), origins
