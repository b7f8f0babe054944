"""What one LLM span costs llmpulse, and what it may cost at 0.5× Rotel: two ``run_throughput``
runs, one on the mixed load and one on the same load without LLM spans.

An ordinary span costs about the same in both loads (the scan, its bytes decoded and forwarded),
so the LLM-free run prices the ordinary spans of a mixed batch and the rest is the LLM spans'.
The budget is what a mixed batch may cost at half Rotel's spans per CPU-second on the same load,
less its ordinary spans, per LLM span. Both are estimates: an LLM-free batch's spans are not the
mixed batch's ordinary spans byte for byte, and a per-request cost is shared out over the spans.
Arguments other than ``--llm-share`` and ``--json`` go to both runs as they are::

    python -m benchmarks.llm_span_cost --requests 300 --warmup 30 --rounds 2 --forward
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks import run_throughput
from benchmarks.loadgen import build_load

#: the issue's target: this share of Rotel's spans per CPU-second
TARGET = 0.5


@dataclass(frozen=True)
class SpanCost:
    """Per-batch and per-LLM-span CPU, in microseconds."""

    batch_us: float  # a mixed batch, as measured
    ordinary_us: float  # its ordinary spans, priced by the LLM-free run
    per_llm_span_us: float
    budget_per_llm_span_us: float  # at ``target`` × Rotel on the mixed load


def span_cost(
    spans: int,
    llm_spans: float,
    mixed_rate: float,
    plain_rate: float,
    rotel_rate: float,
    target: float = TARGET,
) -> SpanCost:
    """``spans`` and ``llm_spans`` per mixed batch; rates in spans per CPU-second: llmpulse on the
    mixed load, llmpulse on the LLM-free load, Rotel on the mixed load."""
    if not 0 < llm_spans <= spans:
        raise ValueError("a mixed batch needs LLM spans")
    batch = spans / mixed_rate * 1e6
    ordinary = (spans - llm_spans) / plain_rate * 1e6
    allowed = spans / (target * rotel_rate) * 1e6
    return SpanCost(batch, ordinary, (batch - ordinary) / llm_spans, (allowed - ordinary) / llm_spans)


def _rates(argv: list[str], share: float, out: Path) -> dict[str, float]:
    if run_throughput.main([*argv, "--llm-share", str(share), "--json", str(out)]) != 0:
        raise SystemExit(f"run_throughput failed at --llm-share {share}")
    rates: dict[str, float] = json.loads(out.read_text())["spans_per_cpu_s"]
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llm-share", type=float, default=0.2)
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--spans", type=int, default=512)
    # declared to be refused in any spelling (``--json=f``, ``--js f``), not passed on
    parser.add_argument("--only", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.only is not None or args.json is not None:
        parser.error("--only and --json are this script's to set: it needs both targets, and writes its own")
    passed = [*rest, "--batches", str(args.batches), "--spans", str(args.spans)]
    load = build_load(args.batches, args.spans, args.llm_share)
    llm_spans = sum(b.llm_spans for b in load) / len(load)
    with tempfile.TemporaryDirectory(prefix="llmpulse-cost-") as tmp:
        mixed = _rates(passed, args.llm_share, Path(tmp) / "mixed.json")
        plain = _rates(passed, 0.0, Path(tmp) / "plain.json")
    cost = span_cost(args.spans, llm_spans, mixed["llmpulse"], plain["llmpulse"], mixed["rotel"])
    print(
        f"mixed batch ({args.spans} spans, {llm_spans:.1f} LLM): {cost.batch_us:,.0f} µs of CPU, of which "
        f"its ordinary spans ~{cost.ordinary_us:,.0f} µs (priced by the LLM-free run)"
    )
    print(
        f"per LLM span: {cost.per_llm_span_us:.1f} µs all in; at {TARGET}× Rotel "
        f"({TARGET * mixed['rotel']:,.0f} spans/CPU-s) the budget is {cost.budget_per_llm_span_us:.1f} µs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
