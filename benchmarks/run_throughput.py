"""Spans per CPU-second of llmpulse against Rotel (a Rust OTLP collector) on the same load.

Both run as real processes on free loopback ports: ``python -m llmpulse serve`` (fresh data dir,
default config: content dropped, span metrics on) and ``rotel-agent start --exporter blackhole``.
The same pre-serialised batches (``benchmarks.loadgen``) go to each over OTLP/gRPC, from several
client threads with their own channels, through a raw unary call (bytes in, bytes out: the client
does no protobuf work); ``--protocol http/protobuf`` sends them as OTLP/HTTP ``POST``s instead,
over one keep-alive connection per client thread. One target is loaded at a time so they never
compete for the 2 cores; the other sits idle. A server's CPU is its user+system time across the
measured window (read from /proc through psutil), so the figure does not depend on how busy the
machine is, only on how much work each span costs.

    python -m benchmarks.run_throughput                       # 400 requests × 512 spans each
    python -m benchmarks.run_throughput --requests 200 --streams 4 --rounds 2
    python -m benchmarks.run_throughput --only llmpulse --profile /tmp/llmpulse.prof

``--forward`` makes llmpulse forward (to a sink in this process that counts spans, so the CPU
window closes only once everything was delivered); ``--rotel-exporter otlp`` makes Rotel forward
too, and both compress with gzip, as this Rotel always does.

The run is bounded (request count and ``--deadline``) and always stops both servers.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
import psutil
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from benchmarks.loadgen import Batch, build_load, describe

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rotel_binary() -> Path:
    import rotel

    path = Path(rotel.__file__).parent / "rotel-agent"
    if not path.exists():
        raise SystemExit(f"rotel-agent not found at {path}: pip install rotel")
    return path


@dataclass(slots=True)
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    grpc_endpoint: str
    metrics_url: str | None = None
    http_endpoint: str | None = None

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.proc.pid)

    def cpu_s(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system + t.children_user + t.children_system)

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float(self.ps.memory_info().rss) / 2**20


@dataclass(slots=True)
class Result:
    target: str
    requests: int
    spans: int
    failed: int
    wall_s: float
    server_cpu_s: float
    client_cpu_s: float
    peak_rss_mib: float

    @property
    def spans_per_cpu_s(self) -> float:
        return self.spans / self.server_cpu_s if self.server_cpu_s > 0 else float("inf")

    @property
    def spans_per_wall_s(self) -> float:
        return self.spans / self.wall_s


def _wait(check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early with code {proc.returncode}")
        with suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s")


def _grpc_ready(endpoint: str) -> bool:
    with grpc.insecure_channel(endpoint) as channel:
        grpc.channel_ready_future(channel).result(timeout=1)
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class CountingSink:
    """An OTLP trace endpoint (gRPC and HTTP), in this process, that counts the spans it is sent,
    so a run can wait until a forwarder has delivered everything before it reads the forwarder's
    CPU: llmpulse and Rotel both forward asynchronously (the client's reply comes first)."""

    def __init__(self, grpc_options: Sequence[tuple[str, int]] = ()) -> None:
        self.spans = 0
        self._lock = threading.Lock()
        options = [("grpc.max_receive_message_length", 64 << 20), *grpc_options]
        self._grpc = grpc.server(futures.ThreadPoolExecutor(2), options=options)
        export = grpc.unary_unary_rpc_method_handler(lambda body, _context: self._count(body))
        service = EXPORT.split("/")[1]
        self._grpc.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(service, {"Export": export})]
        )
        self.grpc_endpoint = f"127.0.0.1:{free_port()}"
        self._grpc.add_insecure_port(self.grpc_endpoint)
        self._grpc.start()
        count = self._count

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as llmpulse's sender expects

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                reply = count(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http_endpoint = f"127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def _count(self, body: bytes) -> bytes:
        request = ExportTraceServiceRequest.FromString(body)
        spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        with self._lock:
            self.spans += spans
        return b""

    def wait_for(self, spans: int, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.spans < spans:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sink got {self.spans} of {spans} spans in {timeout_s:.0f} s")
            time.sleep(0.02)

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._grpc.stop(0)


def forward_args(
    workdir: Path, sink: Server | CountingSink | None, protocol: str, compression: str = "none"
) -> list[str]:
    """``llmpulse serve`` flags that forward to ``sink`` over ``protocol`` (``grpc`` or
    ``http/protobuf``) with ``compression`` (a config file unless uncompressed gRPC, as the flag
    only names a gRPC endpoint)."""
    if sink is None:
        return []
    if protocol == "grpc" and compression == "none":
        return ["--forward-otlp-endpoint", sink.grpc_endpoint]
    config = workdir / "forward.yaml"
    endpoint = sink.grpc_endpoint if protocol == "grpc" else sink.http_endpoint
    assert endpoint is not None
    target = {"endpoint": endpoint, "name": "sink", "protocol": protocol, "compression": compression}
    config.write_text(json.dumps({"forward": {"targets": [target]}}))  # JSON is YAML
    return ["--config", str(config)]


@contextmanager
def llmpulse_server(
    workdir: Path, profile: Path | None = None, forward: Sequence[str] = ()
) -> Iterator[Server]:
    grpc_ep, http_ep, metrics_ep = (f"127.0.0.1:{free_port()}" for _ in range(3))
    cmd = [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else []), "-m", "llmpulse"]
    cmd += [
        "serve",
        "--otlp-grpc-endpoint",
        grpc_ep,
        "--otlp-http-endpoint",
        http_ep,
        "--metrics-endpoint",
        metrics_ep,
        "--data-dir",
        str(workdir / "llmpulse-data"),
        *forward,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPULSE_")}
    log = (workdir / "llmpulse.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    try:
        url = f"http://{metrics_ep}"
        _wait(lambda: urllib.request.urlopen(url + "/readyz", timeout=1).status == 200, "llmpulse", proc, 60)
        yield Server("llmpulse", proc, grpc_ep, url, http_endpoint=http_ep)
    finally:
        _stop(proc)
        log.close()


@contextmanager
def rotel_server(workdir: Path, name: str = "rotel", forward_to: str | None = None) -> Iterator[Server]:
    """Rotel with its blackhole exporter, or, ``forward_to`` (a gRPC endpoint) given, its OTLP
    exporter sending there over gRPC, gzip-compressed: this Rotel (0.0.1a15) compresses whatever
    its compression flags say (``none`` included, over gRPC and HTTP alike; ``tests/benchmarks``
    shows it)."""
    workdir.mkdir(parents=True, exist_ok=True)
    grpc_ep, http_ep = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    exporter = ["--exporter", "blackhole"]
    if forward_to is not None:
        exporter = ["--exporter", "otlp", "--otlp-exporter-endpoint", f"http://{forward_to}"]
        exporter += ["--otlp-exporter-protocol", "grpc", "--otlp-exporter-compression", "gzip"]
    cmd = [
        str(rotel_binary()),
        "start",
        *exporter,
        "--otlp-grpc-endpoint",
        grpc_ep,
        "--otlp-http-endpoint",
        http_ep,
        "--otlp-grpc-max-recv-msg-size-mib",
        "16",
        "--pid-file",
        str(workdir / f"{name}.pid"),
        "--log-file",
        str(workdir / f"{name}.log"),
    ]
    log = (workdir / f"{name}.out").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        _wait(lambda: _grpc_ready(grpc_ep), "rotel", proc, 30)
        yield Server(name, proc, grpc_ep, http_endpoint=http_ep)
    finally:
        _stop(proc)
        log.close()


def send(
    endpoint: str,
    load: list[Batch],
    numbers: range,
    streams: int,
    deadline_s: float,
    channel_options: list[tuple[str, int]] | None = None,
    protocol: str = "grpc",
) -> tuple[int, int]:
    """Send request ``n`` for each ``n`` in ``numbers`` (batch ``n % len(load)``, trace ids stamped
    with ``n``) over ``streams`` channels (``protocol`` ``http/protobuf``: keep-alive HTTP/1.1
    connections to the OTLP/HTTP ``endpoint``); returns (spans accepted, failed calls)."""
    counter = iter(numbers)
    lock = threading.Lock()
    totals = {"spans": 0, "failed": 0}
    stop_at = time.monotonic() + deadline_s

    def grpc_client() -> tuple[Callable[[bytes], bytes | None], Callable[[], None]]:
        options = channel_options or [("grpc.max_send_message_length", 64 << 20)]
        channel = grpc.insecure_channel(endpoint, options=options)
        call = channel.unary_unary(EXPORT)

        def export(body: bytes) -> bytes | None:
            try:
                reply: bytes = call(body, timeout=60)
                return reply
            except grpc.RpcError:
                return None

        return export, channel.close

    def http_client() -> tuple[Callable[[bytes], bytes | None], Callable[[], None]]:
        conn = [http.client.HTTPConnection(endpoint, timeout=60)]
        headers = {"Content-Type": "application/x-protobuf"}

        def export(body: bytes) -> bytes | None:
            try:
                conn[0].request("POST", "/v1/traces", body=body, headers=headers)
                response = conn[0].getresponse()
                reply = response.read()
            except (OSError, http.client.HTTPException):
                conn[0].close()
                conn[0] = http.client.HTTPConnection(endpoint, timeout=60)
                return None
            return reply if response.status == 200 else None

        return export, lambda: conn[0].close()

    def worker() -> None:
        spans = failed = 0
        export, close = http_client() if protocol == "http/protobuf" else grpc_client()
        try:
            while time.monotonic() < stop_at:
                with lock:
                    n = next(counter, None)
                if n is None:
                    break
                batch = load[n % len(load)]
                reply = export(batch.stamped(n))
                if reply is None:
                    failed += 1
                    continue
                rejected = ExportTraceServiceResponse.FromString(reply).partial_success.rejected_spans
                spans += batch.spans - rejected
        finally:
            close()
        with lock:
            totals["spans"] += spans
            totals["failed"] += failed

    threads = [threading.Thread(target=worker, name=f"client-{i}") for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return totals["spans"], totals["failed"]


def measure(
    server: Server,
    load: list[Batch],
    first: int,
    requests: int,
    streams: int,
    warmup: int,
    deadline_s: float,
    spy: Path | None = None,
    protocol: str = "grpc",
    sink: CountingSink | None = None,
) -> Result:
    """Warm up, then measure; requests are numbered from ``first`` (see ``send``). With the
    ``sink`` the server forwards to, the CPU window opens once the warm-up has been delivered
    and closes once the measured requests have: the forwarding is counted whole."""
    endpoint = server.http_endpoint if protocol == "http/protobuf" else server.grpc_endpoint
    assert endpoint is not None
    delivered = sink.spans if sink is not None else 0
    warm, _ = send(endpoint, load, range(first, first + warmup), streams, deadline_s, protocol=protocol)
    if sink is not None:
        sink.wait_for(delivered + warm)
    time.sleep(0.5)  # let batching settle (rotel flushes every 200 ms)
    sampler = None
    if spy is not None:  # sampled from outside the process (py-spy), not counted in its CPU
        sampler = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(server.proc.pid),
                "--rate",
                "250",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(spy),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)
    cpu0, wall0, client0 = server.cpu_s(), time.perf_counter(), time.process_time()
    measured = range(first + warmup, first + warmup + requests)
    spans, failed = send(endpoint, load, measured, streams, deadline_s, protocol=protocol)
    wall = time.perf_counter() - wall0
    client = time.process_time() - client0
    if sink is not None:
        sink.wait_for(delivered + warm + spans)
    time.sleep(0.3)  # count the work still in flight (rotel's last batch) in the server's CPU
    cpu = server.cpu_s() - cpu0
    if sampler is not None:
        sampler.send_signal(signal.SIGINT)
        sampler.wait(30)
    return Result(server.name, requests, spans, failed, wall, cpu, client, server.peak_rss_mib())


#: pipeline stages by the first of these functions found in a sample's stack (innermost first)
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("decode (protobuf, C)", ("decode_protobuf",)),
    ("recognise LLM spans (dialect tables)", ("Recogniser.recognise",)),
    ("enrich: dimensions, error class, price", ("DimensionReader.read", "apply", "PriceTable.price")),
    ("dedup", ("Deduplicator.resolve", "_parents")),
    ("write-back onto spans", ("write_back",)),
    ("redaction", ("Pipeline._redact_span", "redact_attributes")),
    ("span metrics (+ state journal)", ("SpanMetrics.record",)),
    ("self-metrics counters", ("MetricWrapperBase.labels", "Counter.inc")),
    (
        "per-span loop: every span's keys and ids, candidates",
        ("Pipeline._traces", "Pipeline._flags", "Pipeline._resource"),
    ),
    ("gRPC server, asyncio, response", ("",)),
)


def _stage(frames: list[str]) -> str:
    for name, markers in STAGES:
        for frame in reversed(frames):
            function = frame.split(" (")[0]
            if any(function == m or function.endswith("." + m) for m in markers if m):
                return name
    return STAGES[-1][0]


def summarise_stacks(path: Path, top: int = 20) -> str:
    """Shares per pipeline stage and per function (self time) from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] + " (" + f.rsplit("/", 1)[-1] if "/" in f else f for f in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        stages[_stage(frames)] += int(count)
    lines = [f"{total} samples; by stage:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in stages.most_common()]
    lines.append("self time by function:")
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


def check_llmpulse(server: Server, load: list[Batch], sent: int) -> str:
    """The gateway really did the work: received spans and recognised calls match the load
    (requests ``0 .. sent-1``, request ``n`` being batch ``n % len(load)``)."""
    assert server.metrics_url is not None
    text = urllib.request.urlopen(server.metrics_url + "/metrics", timeout=10).read().decode()
    calls: Counter[str] = Counter()
    spans = 0
    for n in range(sent):
        batch = load[n % len(load)]
        calls.update(batch.calls)
        spans += batch.spans
    got_spans = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("llmpulse_received_items_total{") and 'signal="traces"' in line
    )
    got_calls = {
        d: sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(f'llmpulse_calls_recognised_total{{dialect="{d}"}}')
        )
        for d in calls
    }
    ok = got_spans == spans and all(got_calls[d] == n for d, n in calls.items())
    verdict = "OK" if ok else "MISMATCH"
    return f"{verdict}: {got_spans:.0f}/{spans} spans, calls {got_calls} (expected {dict(calls)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="llmpulse vs Rotel: spans per CPU-second on the same load")
    parser.add_argument("--requests", type=int, default=400, help="measured requests per target and round")
    parser.add_argument("--warmup", type=int, default=40, help="requests sent before measuring")
    parser.add_argument("--streams", type=int, default=4, help="concurrent client channels")
    parser.add_argument("--batches", type=int, default=16, help="distinct pre-serialised batches")
    parser.add_argument("--spans", type=int, default=512, help="spans per batch")
    parser.add_argument("--llm-share", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the targets this many times")
    parser.add_argument("--only", choices=("llmpulse", "rotel"))
    parser.add_argument("--deadline", type=float, default=300.0, help="stop sending after this many seconds")
    parser.add_argument("--profile", type=Path, help="run llmpulse under cProfile, write stats here")
    parser.add_argument("--py-spy", type=Path, help="sample llmpulse with py-spy while measured, stacks here")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--forward",
        action="store_true",
        help="llmpulse also forwards (the full pipeline) to a sink in this process that counts "
        "spans; the CPU window closes once every span has been delivered there",
    )
    parser.add_argument(
        "--protocol",
        choices=("grpc", "http/protobuf"),
        default="grpc",
        help="how the client sends to both targets (OTLP/gRPC, or OTLP/HTTP with binary protobuf)",
    )
    parser.add_argument(
        "--rotel-exporter",
        choices=("blackhole", "otlp"),
        default="blackhole",
        help="Rotel's exporter: blackhole (the issue's baseline) or otlp: Rotel forwards over gRPC "
        "to a Rotel blackhole of its own, gzip-compressed (this Rotel always compresses), and "
        "llmpulse forwards the same way (implies --forward, gRPC, gzip): a native collector that "
        "forwards, against llmpulse forwarding",
    )
    parser.add_argument(
        "--forward-protocol",
        choices=("grpc", "http/protobuf"),
        default="grpc",
        help="how llmpulse forwards with --forward (forward.targets[].protocol)",
    )
    args = parser.parse_args(argv)
    compression = "none"
    if args.rotel_exporter == "otlp":
        args.forward, args.forward_protocol, compression = True, "grpc", "gzip"

    load = build_load(args.batches, args.spans, args.llm_share)
    print(f"load: {describe(load)}")
    print(f"machine: {os.cpu_count()} CPUs, {platform_line()}")
    print(build_line())
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="llmpulse-bench-") as tmp:
        workdir = Path(tmp)
        with contextlib.ExitStack() as stack:
            # a forwarder sends to a sink here that counts, so each run waits for the delivery
            sinks: dict[str, CountingSink] = {}
            forwarding = ("llmpulse", "rotel") if args.rotel_exporter == "otlp" else ("llmpulse",)
            for name in forwarding if args.forward else ():
                sinks[name] = CountingSink()
                stack.callback(sinks[name].close)
            forward = forward_args(workdir, sinks.get("llmpulse"), args.forward_protocol, compression)
            lp = stack.enter_context(llmpulse_server(workdir, args.profile, forward))
            rotel_sink = sinks.get("rotel")
            rt = stack.enter_context(
                rotel_server(workdir, forward_to=rotel_sink.grpc_endpoint if rotel_sink else None)
            )
            targets = [s for s in (lp, rt) if args.only in (None, s.name)]
            per_round = args.warmup + args.requests
            for round_ in range(args.rounds):
                for server in targets:  # each server gets the same numbered (so identical) requests
                    spy = args.py_spy if server.name == "llmpulse" else None
                    result = measure(
                        server,
                        load,
                        round_ * per_round,
                        args.requests,
                        args.streams,
                        args.warmup,
                        args.deadline,
                        spy,
                        args.protocol,
                        sinks.get(server.name),
                    )
                    results.append(result)
                    print(report(result))
            if args.only in (None, "llmpulse"):
                print("llmpulse check:", check_llmpulse(lp, load, per_round * args.rounds))
    if args.py_spy is not None and args.py_spy.exists():
        print(summarise_stacks(args.py_spy))
    summary = {}
    for name in ("llmpulse", "rotel"):
        mine = [r for r in results if r.target == name]
        if mine:
            summary[name] = sum(r.spans for r in mine) / sum(r.server_cpu_s for r in mine)
    if len(summary) == 2:
        ratio = summary["llmpulse"] / summary["rotel"]
        print(
            f"spans per CPU-second: llmpulse {summary['llmpulse']:,.0f}, rotel {summary['rotel']:,.0f}, "
            f"ratio llmpulse/rotel = {ratio:.3f}× (target ≥ 0.5×"
            + (")" if args.rotel_exporter == "blackhole" else "; Rotel forwarding here, not its blackhole)")
        )
    if args.json:
        args.json.write_text(
            json.dumps({"results": [asdict(r) for r in results], "spans_per_cpu_s": summary}, indent=2)
        )
    return 0 if all(r.failed == 0 for r in results) else 1


def build_line() -> str:
    """Which native parts the llmpulse under test has (the server runs with this environment)."""
    import importlib.util

    import llmpulse.pipeline
    from llmpulse._compiled import COMPILED, compiled_modules
    from llmpulse.otlp import scan

    fields = importlib.util.find_spec("llmpulse.normalise._fields") is not None
    running = "run from source" if llmpulse.pipeline.__file__.endswith(".py") else "compiled"
    return (
        f"llmpulse build: C scanner {'yes' if scan.NATIVE else 'no'}, dialect reader "
        f"{'yes' if fields else 'no'}, mypyc {len(compiled_modules())}/{len(COMPILED)} modules ({running})"
    )


def platform_line() -> str:
    import platform

    model = ""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    system = f"{platform.system()} {platform.release()}"
    return f"{model or platform.processor()}, Python {platform.python_version()}, {system}"


def report(r: Result) -> str:
    return (
        f"{r.target:9} {r.spans:>8} spans in {r.wall_s:6.2f} s wall, server CPU {r.server_cpu_s:6.2f} s "
        f"→ {r.spans_per_cpu_s:>10,.0f} spans/CPU-s ({r.spans_per_wall_s:,.0f} spans/s wall), "
        f"client CPU {r.client_cpu_s:.2f} s, peak RSS {r.peak_rss_mib:.0f} MiB, failed {r.failed}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
