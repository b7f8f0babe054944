"""Coverage-guided fuzzing (atheris) of the span scanner: the C module ``llmpulse.otlp._scan``
against its Python twin on libFuzzer's mutations of real trace requests. Each input is also read
as a span and rewritten with ``edit_attributes`` (edits derived from its bytes).

A script, not a pytest module. The twin is instrumented (gcc builds of the C module are not), so
libFuzzer keeps inputs that reach new branches of the shared wire walk; each input goes through
both. A crash is any exception other than ``ValueError``, a different result, ``key_flags`` or
classify sequence, a different ``ValueError`` message, or a fault in the C code::

    pip install atheris
    python tests/fuzz/atheris_scan.py -max_total_time=300 -rss_limit_mb=2048

Seeds: every captured ``*.traces.pb`` fixture and a few benchmark batches. For memory errors,
run it against an AddressSanitizer build of ``_scan.c`` (``gcc -shared -fPIC
-fsanitize=address,undefined``, then ``LD_PRELOAD=$(gcc -print-file-name=libasan.so)
PYTHONMALLOC=malloc``); inputs are copied to exactly-sized buffers so that a one-byte over-read
is caught.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports(include=["llmpulse"]):
    from llmpulse.otlp import _scan_py

from llmpulse.otlp import _scan as native

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "genai-captures"
if str(ROOT) not in sys.path:  # run as a script: the repo's root, for tests.fuzz and benchmarks
    sys.path.insert(0, str(ROOT))

from tests.fuzz._exact import exactly_sized  # noqa: E402  (needs the root on the path)


def classify(key: bytes) -> int:
    return (1 if key.startswith((b"gen_ai.", b"llm.")) else 0) | (2 if b"key" in key else 0)


def outcome(fn: Any, body: Any, traces: set[bytes]) -> tuple[Any, ...]:
    key_flags: dict[bytes, int] = {b"http.method": 0}
    calls: list[bytes] = []

    def counting(key: bytes) -> int:
        calls.append(key)
        return classify(key)

    try:
        result = (fn.scan_spans(body, key_flags, counting), fn.parents(body, traces))
    except ValueError as exc:
        result = ("ValueError", str(exc))
    return result, list(key_flags.items()), calls


#: keys an edit may name: common ones, so that edits by key and copies hit attributes
_EDIT_KEYS = ("gen_ai.request.model", "llm.model_name", "http.method", "k", "")


def edits_from(data: bytes) -> tuple[dict[Any, Any], list[Any]]:
    """Edits of a span, derived from the input's first bytes: positions (dropped or replaced),
    keys (upserted or dropped), appends and copies of values."""
    head = data[:8].ljust(8, b"\0")
    values: tuple[Any, ...] = ("v", 7, -1, 2.5, True, b"\x00", ["a", 1], {"m": [None]}, None)
    edits: dict[Any, Any] = {head[0] % 8: values[head[1] % len(values)], head[2] % 5 - 1: None}
    edits[_EDIT_KEYS[head[3] % len(_EDIT_KEYS)]] = values[head[4] % len(values)]
    appends: list[Any] = [("llmpulse.counted", True)]
    if head[5] % 2:
        appends.append(("llmpulse.original.x", None, _EDIT_KEYS[head[6] % len(_EDIT_KEYS)]))
    return edits, appends


def edit_outcome(fn: Any, body: Any, edits: dict[Any, Any], appends: list[Any]) -> Any:
    try:
        return fn.edit_attributes(body, dict(edits), list(appends))
    except ValueError as exc:
        return ("ValueError", str(exc))


def one_input(data: bytes) -> None:
    traces = {data[i : i + 16] for i in range(0, min(len(data), 256), 8)}
    expected = outcome(_scan_py, data, traces)
    got = exactly_sized(data, lambda body: outcome(native, body, traces))
    if got != expected:
        raise AssertionError(f"C and Python scanners differ:\n  C:      {got}\n  Python: {expected}")
    edits, appends = edits_from(data)
    expected = edit_outcome(_scan_py, data, edits, appends)
    got = exactly_sized(data, lambda body: edit_outcome(native, body, edits, appends))
    if got != expected:
        raise AssertionError(f"C and Python edit_attributes differ:\n  C:      {got}\n  Python: {expected}")


def seed_corpus(directory: Path) -> None:
    from benchmarks.loadgen import build_load

    bodies = [path.read_bytes() for path in sorted(FIXTURES.glob("*/*.traces.pb"))]
    bodies += [b.body for b in build_load(batches=2, spans_per_batch=16, seed=9)]
    for body in bodies[-2:]:  # and LLM spans alone, for edit_attributes
        hits, _ = native.locate_spans(body, {}, classify)
        bodies += [body[start:stop] for *_, start, stop in hits[:8]]
    for n, body in enumerate(bodies):
        (directory / f"seed-{n:03d}").write_bytes(body)


def main() -> None:
    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):  # no corpus or input given: use the seeds
        corpus = Path(tempfile.mkdtemp(prefix="llmpulse-atheris-scan-"))
        seed_corpus(corpus)
        argv.append(str(corpus))
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
