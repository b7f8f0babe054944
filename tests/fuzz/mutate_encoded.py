"""Random mutations of real trace requests through ``check_traces`` and ``read_span`` (C), for
an AddressSanitizer build of ``_scan.c``: the hypothesis target in ``test_fuzz_decoders.py``
covers the same properties in CI; this runs millions of cases by hand, each input from a block
of exactly its size (``_exact.py``), so that an over-read faults.

A script, not a pytest module. A failure is a request the check vouches for and upb refuses, a
layout of another length than upb's, a span whose head (event key flags included) or attribute
flags differ from the upb twin's, any exception other than ``ValueError``, or a sanitizer
report::

    gcc -shared -fPIC -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined \\
        $(python3-config --includes) processors/llmpulse/otlp/_scan.c -o <copy>/llmpulse/otlp/_scan...so
    ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc \\
        LD_PRELOAD=$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so) \\
        PYTHONPATH=<copy> python tests/fuzz/mutate_encoded.py --seconds 150

Seeds and mutations are the hypothesis target's (every captured trace fixture and the benchmark
load; byte flips, cuts and splices, or UTF-8 broken inside strings), plus a cut at a random byte.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: the repo's root, for tests.fuzz and benchmarks
    sys.path.insert(0, str(ROOT))

from llmpulse.otlp import _scan as native  # noqa: E402  (after the path: see above)
from llmpulse.otlp import _scan_py  # noqa: E402
from llmpulse.otlp._encoded import _SCHEMA  # noqa: E402
from tests.fuzz._exact import exactly_sized  # noqa: E402
from tests.fuzz._strategies import Gen  # noqa: E402
from tests.fuzz.test_fuzz_decoders import SEEDS_PB, mutated, utf8_mutated  # noqa: E402


def classify(key: str) -> int:
    return 1 if len(key) % 3 else 4  # the LLM and content bits, from any key


def one_request(data: bytes, counts: dict[str, int]) -> None:
    try:
        upb = ExportTraceServiceRequest.FromString(data)
    except DecodeError:
        upb = None
    try:
        layout = exactly_sized(data, lambda body: native.check_traces(body, _SCHEMA))
    except ValueError:
        counts["refused by the check"] += 1
        return
    if upb is None:
        raise AssertionError(f"check_traces vouched for a request upb refuses: {data!r}")
    if len(layout) != len(upb.resource_spans):
        raise AssertionError(f"layout of {len(layout)} resources, upb read {len(upb.resource_spans)}")
    counts["kept as bytes"] += 1
    located, _ = native.locate_spans(data, {}, lambda key: 1)
    for *_, start, stop in located[:32]:
        span = data[start:stop]
        counts["spans read"] += 1
        try:
            got = exactly_sized(span, lambda body: native.read_span(body, {}, classify))
        except ValueError:
            counts["spans refused by read_span"] += 1
            continue
        expected = _scan_py.read_span(span, {}, classify)
        if got[1:] != expected[1:]:
            raise AssertionError(f"read_span differs from its twin:\n  C:   {got[1:]}\n  upb: {expected[1:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"C module: {native.__file__}")
    seeds = SEEDS_PB["traces"]
    r = random.Random(args.seed)
    counts = dict.fromkeys(("requests", "kept as bytes", "refused by the check", "spans read"), 0)
    counts["spans refused by read_span"] = 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        gen = Gen(r.randrange(1 << 30))
        seed = gen.r.choice(seeds)
        data = mutated(gen, seed) if gen.r.random() < 0.5 else utf8_mutated(gen, seed)
        if r.random() < 0.2:
            data = data[: r.randrange(len(data) + 1)]
        counts["requests"] += 1
        one_request(data, counts)
    print(", ".join(f"{n} {what}" for what, n in counts.items()) + ": no difference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
