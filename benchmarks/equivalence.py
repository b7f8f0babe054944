"""Old and new code give the same answers: span-metrics state, dedup decisions, exported bytes.

A speed-up of the span-metrics aggregate, its state journal or the deduplicator must not change
one exported byte or one float. This runs the same inputs through two checkouts, each in its own
process (``PYTHONPATH=<checkout>/processors``), and compares what they produce:

- the benchmark load (``loadgen.build_load``, stamped as ``pipeline_inprocess`` sends it) and every
  captured trace fixture through ``Pipeline.consume``: each request's exported encoding, each
  candidate's dedup decision and merged call, the ``/metrics`` text and the exact snapshot;
- a seeded random stream of candidates straight into ``Deduplicator.resolve``: SDK-native
  siblings, model-server spans, nesting across requests, window expiry and eviction at a small
  ``max_entries``;
- a seeded random stream of calls into ``SpanMetrics`` with a small cardinality budget
  (overflow), idle expiry and a restore;
- the durable state across an upgrade: the *before* checkout journals the load (a checkpoint in
  the middle, then a ``kill -9``: snapshot + WAL left behind) and the *after* checkout must
  restore exactly the aggregate the before checkout had.

    python -m benchmarks.equivalence --before /tmp/sm-before/processors
    python -m benchmarks.equivalence --interpreted   # mypyc-compiled against the same source run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent.parent / "shared" / "fixtures" / "genai-captures"


class _Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _exposition(metrics: Any) -> str:
    from prometheus_client import CollectorRegistry, generate_latest

    from llmpulse.spanmetrics import SpanMetricsCollector

    registry = CollectorRegistry()
    registry.register(SpanMetricsCollector(metrics))
    return generate_latest(registry).decode()


def _snapshot(metrics: Any) -> list[str]:
    return sorted(
        repr((s.metric.name, s.labels, s.value, s.bucket_counts, s.total, s.count))
        for s in metrics.snapshot()
    )


def _self_samples(registry: Any, prefix: str) -> list[str]:
    return sorted(
        f"{s.name}{sorted(s.labels.items())} {s.value!r}"
        for family in registry.collect()
        for s in family.samples
        if s.name.startswith(prefix) and not s.name.endswith("_created")
    )


def _hex(span_id: bytes | None) -> str | None:
    return span_id.hex() if span_id is not None else None


def _requests(batches: int, requests: int) -> list[bytes]:
    from benchmarks.loadgen import build_load

    load = build_load(batches)
    bodies = [load[n % len(load)].stamped(n) for n in range(requests)]
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    bodies += [(FIXTURES / f["file"]).read_bytes() for f in manifest["files"] if f["signal"] == "traces"]
    return bodies


def _decode(otlp: Any) -> Any:
    """What the receivers decode with: ``decode_request`` (a trace request kept as its bytes)
    where the checkout has it, else ``decode_protobuf``."""
    return getattr(otlp, "decode_request", otlp.decode_protobuf)


def _pipeline_dump(batches: int, requests: int) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from llmpulse import otlp
    from llmpulse.config import validate
    from llmpulse.normalise import Deduplicator
    from llmpulse.pipeline import Pipeline
    from llmpulse.selfmetrics import SelfMetrics
    from llmpulse.spanmetrics import SpanMetrics
    from llmpulse.spanmetrics._state import decode_batch, encode_batch

    decisions: list[str] = []

    class Recording(Deduplicator):
        def resolve(self, candidates: Any, parents_of: Any) -> None:
            super().resolve(candidates, parents_of)
            decisions.extend(
                f"{c.trace_id.hex()}/{c.span_id.hex()} {_hex(c.duplicate_of)} {c.duplicate_reason} {c.call!r}"
                for c in candidates
            )

    class Capture:
        name = "capture"

        def __init__(self) -> None:
            self.digests: list[str] = []

        def admit(self, signal: str, size: int) -> None:
            return None

        def export(
            self, signal: str, request: Any, encoded: bytes | None = None, exported: Any = None
        ) -> None:
            data = encoded if encoded is not None else request.SerializeToString(deterministic=True)
            self.digests.append(hashlib.sha256(data).hexdigest())
            if exported is not None:  # what the exporters are told: the items, the failed calls
                self.digests.append(repr((exported.items, exported.failed)))

    clock = _Clock()
    registry = CollectorRegistry()
    selfmetrics = SelfMetrics(registry)
    metrics = SpanMetrics(selfmetrics, clock=clock)
    journal: list[str] = []
    metrics.journal = lambda calls: journal.append(repr(decode_batch(encode_batch(calls))))
    capture = Capture()
    pipeline = Pipeline(
        validate({}), selfmetrics, metrics, exporters=[capture], deduplicator=Recording(clock=clock)
    )
    for body in _requests(batches, requests):
        clock.now += 0.75  # the dedup window (60 s) expires along the way
        pipeline.consume("traces", _decode(otlp)("traces", body), protocol="grpc", size=len(body), body=body)
    return {
        "exported": capture.digests,
        "decisions": decisions,
        "journal_rows": journal,
        "exposition": _exposition(metrics),
        "snapshot": _snapshot(metrics),
        "selfmetrics": _self_samples(registry, "llmpulse_"),
    }


def _dedup_dump(seed: int, max_entries: int, window_s: float) -> list[str]:
    from llmpulse.call import LLMCall
    from llmpulse.dialects import DIALECTS
    from llmpulse.normalise import Deduplicator
    from llmpulse.normalise._dedup import Candidate

    by_name = {d.name: d for d in DIALECTS}
    dialects = [by_name[n] for n in ("semconv", "anthropic_sdk", "vllm", "openinference", "openllmetry")]
    rng = random.Random(seed)
    clock = _Clock()
    dedup = Deduplicator(window_s=window_s, max_entries=max_entries, clock=clock)
    out: list[str] = []
    traces = [rng.randbytes(16) for _ in range(40)]
    parent_of: dict[tuple[bytes, bytes], bytes] = {}
    spans_by_trace: dict[bytes, list[bytes]] = {t: [] for t in traces}
    for _ in range(300):
        clock.now += rng.choice((0.01, 0.1, 1.0, 3.0))
        candidates = []
        for _ in range(rng.randint(0, 12)):
            trace = rng.choice(traces)
            known = spans_by_trace[trace]
            span = rng.choice(known) if known and rng.random() < 0.08 else rng.randbytes(8)
            parent = rng.choice(known) if known and rng.random() < 0.6 else b""
            if rng.random() < 0.3:  # an ancestor not in any request (an HTTP client span)
                hidden = rng.randbytes(8)
                parent_of[(trace, hidden)] = parent
                parent = hidden
            known.append(span)
            parent_of.setdefault((trace, span), parent)
            # coarse starts: equally near partners happen (the first one must win)
            start = 1_780_000_000 * 10**9 + int(clock.now * 1e9) + rng.randint(-5, 5) * 10**7
            end = start + rng.choice((-1, 0, 1, 10**6, 10**8, 5 * 10**8))
            model = rng.choice((None, "gpt-4o", "claude-3-5-sonnet"))
            call = LLMCall(
                dialect="x",
                operation="chat",
                request_model=model,
                input_tokens=rng.choice((None, 3, 17)),
                output_tokens=rng.choice((None, 5)),
                duration_s=rng.choice((None, 0.25)),
                dimensions=rng.choice(({}, {"tenant": "a"})),
            )
            resource = rng.choice((("svc-a", "", "", ""), ("svc-b", "i", "h", "p")))
            candidates.append(
                Candidate(call, rng.choice(dialects), resource, trace, span, parent, start, end, extras={})
            )

        def parents_of(shared: set[bytes]) -> dict[tuple[bytes, bytes], bytes]:
            return {key: parent for key, parent in parent_of.items() if key[0] in shared}

        dedup.resolve(candidates, parents_of)
        out.extend(
            f"{c.trace_id.hex()}/{c.span_id.hex()} {_hex(c.duplicate_of)} {c.duplicate_reason} {c.call!r}"
            for c in candidates
        )
    return out


def _spanmetrics_dump(seed: int) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from llmpulse.call import LLMCall
    from llmpulse.selfmetrics import SelfMetrics
    from llmpulse.spanmetrics import SpanMetrics

    rng = random.Random(seed)
    clock = _Clock()
    registry = CollectorRegistry()
    metrics = SpanMetrics(SelfMetrics(registry), cardinality_limit=25, idle_timeout_s=30.0, clock=clock)
    expired: list[str] = []

    def maybe(value: Any) -> Any:
        return value if rng.random() < 0.7 else None

    for step in range(400):
        clock.now += rng.choice((0.1, 1.0, 7.0))
        calls = [
            LLMCall(
                dialect="semconv",
                operation=maybe(rng.choice(("chat", "embeddings"))),
                provider=maybe(rng.choice(("openai", "anthropic", ""))),
                request_model=maybe(f"m{rng.randint(0, 12)}"),
                response_model=maybe(f"r{rng.randint(0, 3)}"),
                service_name=maybe("svc"),
                dimensions=rng.choice(({}, {"tenant": "t1"}, {"tenant": "t2", "ns": "x"}, {"tenant": ""})),
                duration_s=maybe(rng.choice((0.0, 0.01, 0.3333, 81.92, 1e9, rng.random() * 3))),
                error_class=rng.choice((None, None, "", "rate_limit", "timeout")),
                input_tokens=maybe(rng.randint(0, 70_000_000)),
                output_tokens=maybe(rng.choice((0, 1, 2, rng.randint(0, 5000)))),
                cache_read_tokens=maybe(rng.randint(0, 100)),
                cache_write_tokens=maybe(rng.randint(0, 100)),
                reasoning_tokens=maybe(rng.randint(0, 100)),
                streaming=rng.choice((None, True, False)),
                ttft_s=maybe(rng.random() * 70),
                cost_usd=maybe(rng.random() / 1000),
            )
            for _ in range(rng.randint(0, 20))
        ]
        metrics.record(calls)
        if step % 50 == 49:
            expired.extend(_snapshot_list(metrics.expire()))
        if step == 250:
            metrics.restore(metrics.snapshot())
    return {
        "exposition": _exposition(metrics),
        "snapshot": _snapshot(metrics),
        "expired": expired,
        "selfmetrics": _self_samples(registry, "llmpulse_"),
    }


def _snapshot_list(snaps: Any) -> list[str]:
    return [repr((s.metric.name, s.labels, s.value, s.bucket_counts, s.total, s.count)) for s in snaps]


def _journal_write(directory: Path, batches: int, requests: int) -> dict[str, Any]:
    """Journal the pipeline load with a checkpoint halfway, then die without a final one."""
    from prometheus_client import CollectorRegistry

    from llmpulse import otlp
    from llmpulse.config import validate
    from llmpulse.pipeline import Pipeline
    from llmpulse.selfmetrics import SelfMetrics
    from llmpulse.spanmetrics import SpanMetrics, StateStore

    selfmetrics = SelfMetrics(CollectorRegistry())
    metrics = SpanMetrics(selfmetrics)
    store = StateStore(directory, metrics, selfmetrics, fsync="never")
    store.open()
    pipeline = Pipeline(validate({}), selfmetrics, metrics)
    bodies = _requests(batches, requests)
    for n, body in enumerate(bodies):
        pipeline.consume("traces", _decode(otlp)("traces", body), protocol="grpc", size=len(body), body=body)
        if n == len(bodies) // 2:
            store.checkpoint()
    store.release()  # kill -9: snapshot + the WAL after it stay behind
    return {"exposition": _exposition(metrics), "snapshot": _snapshot(metrics)}


def _journal_read(directory: Path) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from llmpulse.selfmetrics import SelfMetrics
    from llmpulse.spanmetrics import SpanMetrics, StateStore

    selfmetrics = SelfMetrics(CollectorRegistry())
    metrics = SpanMetrics(selfmetrics)
    store = StateStore(directory, metrics, selfmetrics, fsync="never")
    store.open()
    result = {
        "exposition": _exposition(metrics),
        "snapshot": _snapshot(metrics),
        "replayed": store.replayed_batches,
        "corrupt": store.corrupt_lines,
    }
    store.release()
    return result


def _child(args: argparse.Namespace) -> int:
    import llmpulse
    import llmpulse.pipeline

    print(f"{args.mode}: llmpulse from {llmpulse.__file__}", file=sys.stderr)
    print(f"{args.mode}: pipeline from {llmpulse.pipeline.__file__}", file=sys.stderr)
    if args.mode == "dump":
        result: dict[str, Any] = {
            "pipeline": _pipeline_dump(args.batches, args.requests),
            "dedup": [
                _dedup_dump(seed, m, w) for seed, m, w in ((1, 50_000, 60.0), (2, 40, 5.0), (3, 7, 2.0))
            ],
            "spanmetrics": [_spanmetrics_dump(seed) for seed in (1, 2, 3)],
        }
    elif args.mode == "journal-write":
        result = _journal_write(Path(args.state), args.batches, args.requests)
    else:
        result = _journal_read(Path(args.state))
    json.dump(result, sys.stdout)
    return 0


def _run(processors: str, *argv: str, interpreted: bool = False) -> Any:
    env = {**os.environ, "PYTHONPATH": processors}
    env.pop("LLMPULSE_PURE_PYTHON", None)
    if interpreted:  # the mypyc-compiled modules imported from their source (llmpulse._compiled)
        env["LLMPULSE_PURE_PYTHON"] = "1"
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.equivalence", *argv],
        env=env,
        cwd=HERE.parent,
        check=True,
        capture_output=True,
    )
    sys.stderr.write(out.stderr.decode())
    return json.loads(out.stdout)


def _diff(name: str, before: Any, after: Any) -> int:
    if before == after:
        return 0
    if isinstance(before, dict) and isinstance(after, dict):
        return sum(_diff(f"{name}.{k}", before.get(k), after.get(k)) for k in sorted({*before, *after}))
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            if b != a:
                if isinstance(b, dict | list):
                    return _diff(f"{name}[{i}]", b, a)
                print(f"DIFF {name}[{i}]:\n  before {str(b)[:400]}\n  after  {str(a)[:400]}")
                return 1
    print(f"DIFF {name}: before {str(before)[:300]} / after {str(after)[:300]}")
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", help="the old checkout's processors dir")
    parser.add_argument(
        "--interpreted",
        action="store_true",
        help="before = the --after checkout with its mypyc-compiled modules run from source",
    )
    parser.add_argument("--after", default=str(HERE.parent / "processors"))
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--requests", type=int, default=160, help="load requests (the fixtures follow)")
    parser.add_argument("--mode", choices=("dump", "journal-write", "journal-read"), help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mode:
        return _child(args)
    if args.interpreted:
        args.before = args.before or args.after
    if not args.before:
        parser.error("--before (or --interpreted) is required")
    pure = args.interpreted
    sizes = ("--batches", str(args.batches), "--requests", str(args.requests))
    before = _run(args.before, "--mode", "dump", *sizes, interpreted=pure)
    after = _run(args.after, "--mode", "dump", *sizes)
    failures = _diff("dump", before, after)
    counts = (
        len(before["pipeline"]["exported"]),
        len(before["pipeline"]["decisions"]),
        sum(len(d) for d in before["dedup"]),
        sum(s["exposition"].count("\n") for s in before["spanmetrics"]),
    )
    print(
        "compared: {} exported requests, {} pipeline candidates, {} random dedup candidates, "
        "{} random-calls exposition lines".format(*counts)
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n, (writer, reader) in enumerate(((args.before, args.after), (args.after, args.after))):
            state = Path(tmp) / f"state-{n}"
            written = _run(
                writer, "--mode", "journal-write", "--state", str(state), *sizes, interpreted=pure and n == 0
            )
            read = _run(reader, "--mode", "journal-read", "--state", str(state))
            label = "old journal, new reader" if n == 0 else "new journal, new reader"
            failures += _diff(f"{label}: exposition", written["exposition"], read["exposition"])
            failures += _diff(f"{label}: snapshot", written["snapshot"], read["snapshot"])
            print(f"{label}: {read['replayed']} batches replayed, {read['corrupt']} corrupt lines")
    print("identical" if not failures else f"{failures} difference(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
