"""llmpulse with 1 and 2 workers against Rotel: spans per CPU-second, saturated throughput,
added latency at a fixed offered rate, and peak memory, all on the same pre-serialised load.

Every target is a real process (tree) on free loopback ports:

- ``python -m llmpulse serve --workers N`` (N = 1, 2; fresh ``--data-dir`` each) with the full
  pipeline: recognise, dedup, enrich, write-back, redaction, span metrics + state journal, AND
  forwarding (``--forward-otlp-endpoint``) to a second Rotel with the blackhole exporter, so
  every request is also queued, gzip-compressed and re-exported over gRPC;
- ``rotel-agent start --exporter blackhole`` as the reference (decode, batch, drop).

Per target it measures, one target at a time (the others idle):

1. saturation: ``--requests`` requests from ``--streams`` client threads (own channel each) as
   fast as the target answers → wall-clock spans/s, and the user+system CPU of the whole process
   tree (supervisor + workers, found through psutil's ``children(recursive=True)``) → spans per
   CPU-second. For llmpulse the CPU window closes only after the forward queue has drained, so
   forwarding is paid for in full;
2. latency: open-loop paced sending at fixed offered rates (50k spans/s ≈ 98 requests/s of 512
   spans, then lower rates) from ``--latency-threads`` threads; each request has a scheduled send
   time and its latency is counted from that time to the Export reply, so a target that falls
   behind shows it (no coordinated omission). The Rotel run at the same rates is the baseline;
3. peak RSS: the sum of every process's VmHWM in the tree (an upper bound of the tree's peak).

It then checks llmpulse's merged ``/metrics`` (received spans and recognised calls equal what was
sent) and writes a PNG chart of throughput against workers.

    python -m benchmarks.run_scaling                        # 200 measured requests per target
    python -m benchmarks.run_scaling --requests 200 --chart benchmarks/scaling.png

The load generator and the Rotel/readiness helpers are ``benchmarks.loadgen`` and
``benchmarks.run_throughput``'s; this adds the multi-process CPU/RSS accounting and the pacing.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc
import psutil

from benchmarks.loadgen import Batch, build_load, describe
from benchmarks.run_throughput import (
    EXPORT,
    Server,
    _stop,
    _wait,
    build_line,
    check_llmpulse,
    forward_args,
    free_port,
    platform_line,
    rotel_server,
    send,
)

# -- process-tree accounting ---------------------------------------------------------------------


def tree(pid: int) -> list[psutil.Process]:
    """The process and all its live descendants (llmpulse's supervisor spawns the workers)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_cpu(pid: int) -> dict[int, float]:
    """user+system CPU seconds per live process of the tree (keyed by pid, so a process that
    appears mid-window is counted from zero and none is counted twice)."""
    out: dict[int, float] = {}
    for p in tree(pid):
        with suppress(psutil.Error):
            t = p.cpu_times()
            out[p.pid] = float(t.user + t.system)
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def tree_peak_rss_mib(pid: int) -> float:
    total = 0
    for p in tree(pid):
        with suppress(OSError, psutil.Error):
            for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return total / 1024


# -- servers -------------------------------------------------------------------------------------


@contextmanager
def llmpulse(workdir: Path, workers: int, sink: Server, protocol: str) -> Iterator[Server]:
    """``llmpulse serve --workers N`` forwarding to ``sink`` over ``protocol``, fresh data dir."""
    workdir.mkdir(parents=True, exist_ok=True)
    grpc_ep, http_ep, metrics_ep = (f"127.0.0.1:{free_port()}" for _ in range(3))
    cmd = [sys.executable, "-m", "llmpulse", "serve", "--workers", str(workers)]
    cmd += ["--otlp-grpc-endpoint", grpc_ep, "--otlp-http-endpoint", http_ep]
    cmd += ["--metrics-endpoint", metrics_ep, *forward_args(workdir, sink, protocol)]
    cmd += ["--data-dir", str(workdir / "data")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPULSE_")}
    log = (workdir / "llmpulse.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    try:
        url = f"http://{metrics_ep}"
        try:
            _wait(
                lambda: urllib.request.urlopen(url + "/readyz", timeout=1).status == 200, "llmpulse", proc, 90
            )
        except RuntimeError:  # say why: the end of its log
            log.flush()
            print((workdir / "llmpulse.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        yield Server(f"llmpulse-{workers}w", proc, grpc_ep, url)
    finally:
        _stop(proc)
        log.close()


def metric_sum(server: Server, name: str, must_contain: str = "") -> float:
    assert server.metrics_url is not None
    text = urllib.request.urlopen(server.metrics_url + "/metrics", timeout=10).read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if (line.startswith(name + "{") or line.startswith(name + " ")) and must_contain in line
    )


def wait_forward_drained(server: Server, spans: int, timeout_s: float) -> float:
    """Seconds until the forward target accepted ``spans`` trace spans and the queue is empty."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        sent = metric_sum(server, "llmpulse_forward_items_sent_total", 'signal="traces"')
        queued = metric_sum(server, "llmpulse_forward_queue_requests")
        if sent >= spans and queued == 0:
            return time.monotonic() - t0
        time.sleep(0.2)
    return float("nan")


def queues_drained(data_dir: Path) -> bool:
    """Every forward queue under ``data_dir`` (one per worker and target) has its cursor at the end
    of its newest segment: read from disk, so waiting costs the gateway nothing."""
    cursors = list(data_dir.glob("**/forward/*/cursor"))
    if not cursors:
        return False
    for cursor in cursors:
        data = cursor.read_bytes()
        segments = sorted(cursor.parent.glob("*.seg"))
        if not data:  # never acknowledged anything: drained only if nothing was ever queued
            if any(seg.stat().st_size for seg in segments):
                return False
            continue
        if len(data) != 20 or not segments:
            return False
        segment, offset = struct.unpack("<QQ", data[:16])
        newest = segments[-1]
        if int(newest.stem) != segment or newest.stat().st_size != offset:
            return False
    return True


def wait_drained(data_dir: Path, timeout_s: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        with suppress(OSError):
            if queues_drained(data_dir):
                return time.monotonic() - t0
        time.sleep(0.05)
    return float("nan")


def wait_idle(pid: int, timeout_s: float, step_s: float = 0.25, idle_cpu_s: float = 0.02) -> float:
    """Seconds until the tree used under ``idle_cpu_s`` of CPU in each of two successive
    ``step_s`` windows (the forward queue is empty); the idle windows are not counted."""
    t0 = time.monotonic()
    last, quiet = tree_cpu(pid), 0
    while time.monotonic() - t0 < timeout_s:
        time.sleep(step_s)
        now = tree_cpu(pid)
        quiet = quiet + 1 if cpu_delta(last, now) < idle_cpu_s else 0
        last = now
        if quiet >= 2:
            return time.monotonic() - t0 - 2 * step_s
    return float("nan")


#: gRPC shares one TCP connection (subchannel) among all channels of a process to the same target,
#: so N client channels would be ONE connection and SO_REUSEPORT would hand all of it to one
#: worker; a local subchannel pool per channel gives each its own connection, as N exporters
#: in N processes would have
CHANNEL_OPTIONS = [("grpc.max_send_message_length", 64 << 20), ("grpc.use_local_subchannel_pool", 1)]


def saturate(
    endpoint: str, load: list[Batch], numbers: range, streams: int, deadline_s: float
) -> tuple[int, int]:
    """``run_throughput.send`` with one connection per stream: (spans accepted, failed calls)."""
    return send(endpoint, load, numbers, streams, deadline_s, CHANNEL_OPTIONS)


# -- measurements --------------------------------------------------------------------------------


@dataclass(slots=True)
class Latency:
    offered_spans_s: float
    requests: int
    failed: int
    achieved_spans_s: float
    p50_ms: float
    p99_ms: float
    service_p50_ms: float
    service_p99_ms: float
    max_send_lag_ms: float

    @property
    def sustained(self) -> bool:
        """Kept up: the whole schedule got through at ≥ 95 % of the offered rate, no failures,
        and no request started more than 100 ms behind its schedule."""
        return (
            self.failed == 0
            and self.achieved_spans_s >= 0.95 * self.offered_spans_s
            and self.max_send_lag_ms < 100
        )


@dataclass(slots=True)
class Outcome:
    target: str
    workers: int
    spans: int
    failed: int
    wall_s: float
    cpu_s: float
    drain_s: float
    peak_rss_mib: float
    processes: int
    sink_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    machine_busy: float = 0.0
    latency: list[Latency] = field(default_factory=list)
    check: str = ""

    @property
    def spans_per_cpu_s(self) -> float:
        return self.spans / self.cpu_s

    @property
    def spans_per_wall_s(self) -> float:
        return self.spans / self.wall_s


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def paced(
    endpoint: str, load: list[Batch], first: int, rate_spans_s: float, requests: int, threads: int
) -> Latency:
    """Open loop: request ``i`` is due at ``t0 + i / rate``; latency is reply time − due time."""
    spans_per_req = load[0].spans
    interval = spans_per_req / rate_spans_s
    lock = threading.Lock()
    counter = iter(range(requests))
    lat: list[float] = []
    service: list[float] = []
    lag: list[float] = []
    failed = [0]
    t0 = time.perf_counter() + 0.2

    def worker() -> None:
        with grpc.insecure_channel(endpoint, options=CHANNEL_OPTIONS) as ch:
            export = ch.unary_unary(EXPORT)
            grpc.channel_ready_future(ch).result(timeout=10)
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                n = first + i
                body = load[n % len(load)].stamped(n)
                due = t0 + i * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                start = time.perf_counter()
                try:
                    export(body, timeout=30)
                except grpc.RpcError:
                    with lock:
                        failed[0] += 1
                    continue
                end = time.perf_counter()
                with lock:
                    lat.append(end - due)
                    service.append(end - start)
                    lag.append(start - due)

    pool = [threading.Thread(target=worker, name=f"paced-{i}") for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t0
    ok = len(lat)
    return Latency(
        offered_spans_s=rate_spans_s,
        requests=requests,
        failed=failed[0],
        achieved_spans_s=ok * spans_per_req / elapsed,
        p50_ms=1000 * _pct(lat, 0.50) if lat else float("nan"),
        p99_ms=1000 * _pct(lat, 0.99) if lat else float("nan"),
        service_p50_ms=1000 * _pct(service, 0.50) if service else float("nan"),
        service_p99_ms=1000 * _pct(service, 0.99) if service else float("nan"),
        max_send_lag_ms=1000 * max(lag) if lag else float("nan"),
    )


def run_target(
    server: Server,
    workers: int,
    load: list[Batch],
    args: argparse.Namespace,
    sink: Server | None,
    data_dir: Path | None = None,
) -> Outcome:
    n = 0  # request numbers to one llmpulse are contiguous from 0 (check_llmpulse relies on it)
    saturate(server.grpc_endpoint, load, range(n, n + args.warmup), args.streams, args.deadline)
    n += args.warmup
    if sink is not None:
        wait_forward_drained(server, n * load[0].spans, 60)
    time.sleep(0.5)
    cpu0, sink0 = tree_cpu(server.proc.pid), (tree_cpu(sink.proc.pid) if sink else {})
    wall0, client0, machine0 = time.perf_counter(), time.process_time(), psutil.cpu_times()
    spans, failed = saturate(
        server.grpc_endpoint, load, range(n, n + args.requests), args.streams, args.deadline
    )
    wall = time.perf_counter() - wall0
    client = time.process_time() - client0
    machine1 = psutil.cpu_times()
    busy = 1 - (machine1.idle - machine0.idle) / (sum(machine1) - sum(machine0))  # whole machine
    n += args.requests
    drain = float("nan")
    if sink is not None:
        # The forwarding of the measured requests belongs to the measurement, but scraping
        # /metrics while waiting would bill the scrape (and, with workers, the merge) to it: wait
        # for the tree to go idle instead, read the CPU, and only then confirm with one scrape.
        assert data_dir is not None
        drain = wait_drained(data_dir, 120)
        time.sleep(0.1)  # the last ack's bookkeeping
        cpu_end = tree_cpu(server.proc.pid)
        late = wait_forward_drained(server, n * load[0].spans, 60)
        if late != late:  # NaN: the counters never reached what was sent
            print(f"{server.name}: /metrics does not confirm the forwarding of all spans", flush=True)
    else:
        time.sleep(0.3)  # rotel's last 200 ms batch
        cpu_end = tree_cpu(server.proc.pid)
    cpu = cpu_delta(cpu0, cpu_end)
    sink_cpu = cpu_delta(sink0, tree_cpu(sink.proc.pid)) if sink else 0.0
    out = Outcome(
        server.name,
        workers,
        spans,
        failed,
        wall,
        cpu,
        drain,
        0.0,
        len(tree(server.proc.pid)),
        sink_cpu,
        client,
        busy,
    )
    print(
        f"{server.name:13} saturation: {spans} spans in {wall:.2f} s → "
        f"{out.spans_per_wall_s:,.0f} spans/s wall; "
        f"CPU {cpu:.2f} s (tree of {out.processes}) → {out.spans_per_cpu_s:,.0f} spans/CPU-s"
        + (f"; forward drained {drain:.1f} s after, sink CPU {sink_cpu:.2f} s" if sink else "")
        + f"; client CPU {client:.2f} s; machine busy {busy:.0%} of {os.cpu_count()} CPUs while sending",
        flush=True,
    )
    for rate in args.rates:
        count = max(args.latency_min_requests, round(rate * args.latency_seconds / load[0].spans))
        result = paced(server.grpc_endpoint, load, n, rate, count, args.latency_threads)
        n += count
        out.latency.append(result)
        print(
            f"{server.name:13} offered {rate:,.0f} spans/s ({count} req): "
            f"achieved {result.achieved_spans_s:,.0f}, "
            f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms "
            f"(service p50 {result.service_p50_ms:.1f} / "
            f"p99 {result.service_p99_ms:.1f} ms), max send lag {result.max_send_lag_ms:.0f} ms, "
            f"failed {result.failed} → {'sustained' if result.sustained else 'NOT sustained'}",
            flush=True,
        )
        if sink is not None:
            wait_forward_drained(server, n * load[0].spans, 120)  # next rate starts from an empty queue
    out.peak_rss_mib = tree_peak_rss_mib(server.proc.pid)
    if server.metrics_url is not None:
        out.check = check_llmpulse(server, load, n)
        print(f"{server.name:13} check: {out.check}", flush=True)
    print(f"{server.name:13} peak RSS (tree sum of VmHWM): {out.peak_rss_mib:.0f} MiB", flush=True)
    return out


def chart(outcomes: list[Outcome], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lp = sorted((o for o in outcomes if o.target.startswith("llmpulse")), key=lambda o: o.workers)
    rt = next(o for o in outcomes if o.target == "rotel")
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    xs = [o.workers for o in lp]
    ax.plot(xs, [o.spans_per_wall_s for o in lp], "o-", label="llmpulse (full pipeline + forwarding)")
    for o in lp:
        ax.annotate(
            f"{o.spans_per_wall_s:,.0f}",
            (o.workers, o.spans_per_wall_s),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
        )
    ax.axhline(
        rt.spans_per_wall_s, color="tab:red", ls="--", label=f"Rotel blackhole ({rt.spans_per_wall_s:,.0f})"
    )
    ax.set_xticks(xs)
    ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    ax.set_xlabel("llmpulse workers (--workers)")
    ax.set_ylabel("throughput at saturation (spans/s, wall clock)")
    ax.set_ylim(0, max(rt.spans_per_wall_s, *(o.spans_per_wall_s for o in lp)) * 1.15)
    ax.set_title("OTLP/gRPC, 512-span batches (~20 % LLM), 2 shared vCPUs", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)  # below the points, clear of their labels
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="llmpulse 1 vs 2 workers vs Rotel: throughput, CPU, latency, RSS"
    )
    parser.add_argument(
        "--requests", type=int, default=200, help="measured requests at saturation, per target"
    )
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--streams", type=int, default=8, help="client channels at saturation")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--llm-share", type=float, default=0.2, help="share of LLM spans in the load")
    parser.add_argument(
        "--rates", type=float, nargs="+", default=[50_000, 20_000, 10_000], help="offered spans/s for latency"
    )
    parser.add_argument("--latency-seconds", type=float, default=3.0, help="schedule length per rate")
    parser.add_argument("--latency-min-requests", type=int, default=100)
    parser.add_argument("--latency-threads", type=int, default=16)
    parser.add_argument("--deadline", type=float, default=180.0)
    parser.add_argument(
        "--forward-protocol",
        choices=("grpc", "http/protobuf"),
        default="grpc",
        help="how llmpulse forwards to the sink (forward.targets[].protocol)",
    )
    parser.add_argument("--chart", type=Path, default=Path(__file__).with_name("scaling.png"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    load = build_load(16, 512, args.llm_share)
    print(f"load: {describe(load)}")
    print(f"machine: {os.cpu_count()} CPUs, {platform_line()}, load average {os.getloadavg()}", flush=True)
    print(build_line(), flush=True)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="llmpulse-scaling-") as tmp:
        work = Path(tmp)
        with rotel_server(work / "rotel-sink", "rotel-sink") as sink:
            with rotel_server(work / "rotel-ref", "rotel") as ref:
                outcomes.append(run_target(ref, 0, load, args, None))
            for workers in args.workers:
                with llmpulse(work / f"llmpulse-{workers}w", workers, sink, args.forward_protocol) as lp:
                    data = work / f"llmpulse-{workers}w" / "data"
                    outcomes.append(run_target(lp, workers, load, args, sink, data))
    rt = outcomes[0]
    print("\nsummary:")
    for o in outcomes:
        print(
            f"  {o.target:13} {o.spans_per_cpu_s:>9,.0f} spans/CPU-s "
            f"({o.spans_per_cpu_s / rt.spans_per_cpu_s:.3f}× Rotel), "
            f"{o.spans_per_wall_s:>9,.0f} spans/s wall "
            f"({o.spans_per_wall_s / rt.spans_per_wall_s:.3f}× Rotel), "
            f"peak RSS {o.peak_rss_mib:.0f} MiB"
        )
    chart(outcomes, args.chart)
    print(f"chart: {args.chart}")
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    asdict(o) | {"spans_per_cpu_s": o.spans_per_cpu_s, "spans_per_wall_s": o.spans_per_wall_s}
                    for o in outcomes
                ],
                indent=2,
            )
        )
    ok = all(o.failed == 0 for o in outcomes) and all(o.check.startswith("OK") for o in outcomes[1:])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
