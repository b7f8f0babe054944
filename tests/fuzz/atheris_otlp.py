"""Coverage-guided fuzzing (atheris, i.e. libFuzzer for Python) of what a receiver does with a
request body: gunzip → OTLP protobuf or OTLP/JSON decode → the whole pipeline.

A script, not a pytest module (pytest only collects ``test_*.py``). The llmpulse modules are
instrumented, so libFuzzer keeps inputs that reach new branches of the decoders, the dialect
recognisers, enrichment and the access-log stage. Bounded by ``-runs``/``-max_total_time``;
the seed corpus is every captured fixture plus the benchmark load::

    pip install atheris
    python tests/fuzz/atheris_otlp.py -runs=200000 -max_total_time=300

Any exception other than ``DecodeError`` (with a non-empty message), a negative or non-finite
span-metrics value, or a hang past ``-timeout`` is a crash: libFuzzer stops and writes the
input to ``crash-<sha1>`` for replay (``python tests/fuzz/atheris_otlp.py crash-<sha1>``).
"""

from __future__ import annotations

import gzip
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports(include=["llmpulse"]):
    from prometheus_client import CollectorRegistry

    from llmpulse.config import validate
    from llmpulse.otlp import SIGNALS, DecodeError, decode_json, decode_protobuf, gunzip, request_to_json
    from llmpulse.pipeline import Pipeline
    from llmpulse.selfmetrics import SelfMetrics
    from llmpulse.spanmetrics import SpanMetrics

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "genai-captures"
LIMIT = 1 << 20


class _Encodings:
    """An exporter that keeps the encoding the pipeline hands over (its LLM spans rewritten in
    their bytes and spliced into the received ones): it must decode, with every accepted span."""

    name = "encodings"

    def __init__(self) -> None:
        self.last: bytes | None = None

    def admit(self, signal: str, size: int) -> None:
        return None

    def export(self, signal: str, request: Any, encoded: bytes | None = None, exported: Any = None) -> None:
        self.last = encoded


_selfmetrics = SelfMetrics(CollectorRegistry())
_spanmetrics = SpanMetrics(_selfmetrics, cardinality_limit=200)
_encodings = _Encodings()
PIPELINE = Pipeline(validate({}), _selfmetrics, _spanmetrics, exporters=[_encodings])
_runs = 0


def one_input(data: bytes) -> None:
    """First byte: signal (bits 0–1), JSON (bit 2), gzip (bit 3); the rest is the body."""
    global _runs
    if not data:
        return
    mode, body = data[0], data[1:]
    signal = SIGNALS[(mode & 3) % 3]
    try:
        if mode & 8:
            body = gunzip(body, LIMIT)
        request = (decode_json if mode & 4 else decode_protobuf)(signal, body)
    except DecodeError as exc:
        if not str(exc).strip():
            raise AssertionError("DecodeError without a message") from exc
        return
    _encodings.last = None
    # the protobuf body as received, as the receivers hand it over (JSON has none)
    received = None if mode & 4 else body
    outcome = PIPELINE.consume(signal, request, protocol="http", size=len(data), body=received)
    if outcome.rejected and not outcome.message:
        raise AssertionError("rejected items without a message")
    request.SerializeToString()
    if signal == "traces" and _encodings.last is not None:
        exported = decode_protobuf("traces", _encodings.last)
        spans = sum(len(ss.spans) for rs in exported.resource_spans for ss in rs.scope_spans)  # type: ignore[attr-defined]
        if spans != outcome.accepted:
            raise AssertionError(f"{spans} spans exported, {outcome.accepted} accepted")
    _runs += 1
    if _runs % 256 == 0:
        for series in _spanmetrics.snapshot():
            if not (math.isfinite(series.value) and series.value >= 0 and math.isfinite(series.total)):
                raise AssertionError(f"non-finite or negative series {series}")


def seed_corpus(directory: Path) -> None:
    """Each captured fixture as protobuf and JSON, plain and gzipped, with its mode byte."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.loadgen import build_load

    bodies: list[tuple[int, bytes]] = []
    for path in sorted(FIXTURES.glob("*/*.pb")):
        signal = path.name.split(".")[-2]
        bodies.append((SIGNALS.index(signal), path.read_bytes()))  # type: ignore[arg-type]
    bodies += [(0, b.body) for b in build_load(batches=2, spans_per_batch=16, seed=9)]
    for n, (index, body) in enumerate(bodies):
        request: Any = decode_protobuf(SIGNALS[index], body)
        as_json = request_to_json(request)
        for mode, payload in ((index, body), (index | 4, as_json), (index | 8, gzip.compress(body))):
            (directory / f"seed-{n:03d}-{mode}").write_bytes(bytes([mode]) + payload)


def main() -> None:
    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):  # no corpus or input given: use the seeds
        corpus = Path(tempfile.mkdtemp(prefix="llmpulse-atheris-"))
        seed_corpus(corpus)
        argv.append(str(corpus))
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
