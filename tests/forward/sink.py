"""Test parts for forwarding: a real OTLP/gRPC sink server and a Rotel collector process.

``OTLPSink`` is a gRPC server in the test process that implements the three OTLP Export RPCs and
keeps every request it accepted; ``fail`` makes it answer with a chosen gRPC status (with or
without ``RetryInfo``) or a ``partial_success``, so the sender's handling of each OTLP outcome is
exercised over the wire; ``delay_s`` makes each call that slow (a slow collector) and
``max_in_flight`` is the most calls it had at once. ``OTLPHttpSink`` is the same over OTLP/HTTP
(binary protobuf), answering with a chosen HTTP status and ``Retry-After``. ``Rotel`` runs the
real ``rotel-agent`` (PyPI ``rotel``) as the collector beside llmpulse, one exporter endpoint per
signal.
"""

from __future__ import annotations

import gzip
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from llmpulse.otlp import attrs_to_dict
from llmpulse.server import Gateway
from tests.support.gateway import gateway_config, running_gateway
from tests.support.promstack import free_port

_SERVICES: dict[str, tuple[str, Any, Any]] = {
    "traces": (
        "opentelemetry.proto.collector.trace.v1.TraceService",
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    ),
    "logs": (
        "opentelemetry.proto.collector.logs.v1.LogsService",
        ExportLogsServiceRequest,
        ExportLogsServiceResponse,
    ),
    "metrics": (
        "opentelemetry.proto.collector.metrics.v1.MetricsService",
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
    ),
}


@dataclass(frozen=True)
class Failure:
    """How the sink answers instead of accepting."""

    code: grpc.StatusCode | None = None
    retry_after_s: float | None = None
    #: accept, but report this many items rejected in ``partial_success``
    rejected: int = 0


class OTLPSink:
    """A real OTLP/gRPC server that records what it accepted (thread-safe)."""

    def __init__(self, port: int | None = None, max_receive_bytes: int | None = None) -> None:
        self.port = port or free_port()
        #: grpc's own limit on a request (RESOURCE_EXHAUSTED past it, as a Collector's 4 MiB)
        self.max_receive_bytes = max_receive_bytes
        self.endpoint = f"127.0.0.1:{self.port}"
        self.requests: list[tuple[str, Any]] = []
        self.attempts = 0
        self.fail: Callable[[str], Failure | None] | None = None
        #: each call sleeps this long before answering
        self.delay_s = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None

    def start(self) -> OTLPSink:
        options = []
        if self.max_receive_bytes is not None:
            options.append(("grpc.max_receive_message_length", self.max_receive_bytes))
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=options)
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    service, {"Export": grpc.unary_unary_rpc_method_handler(self._handler(signal))}
                )
                for signal, (service, _req, _resp) in _SERVICES.items()
            ]
        )
        server.add_insecure_port(self.endpoint)
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(0).wait(5)
            self._server = None

    def _handler(self, signal: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        _service, request_type, response_type = _SERVICES[signal]

        def export(body: bytes, context: grpc.ServicerContext) -> bytes:
            with self._lock:
                self.attempts += 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if self.delay_s:
                    time.sleep(self.delay_s)
                return answer(body, context)
            finally:
                with self._lock:
                    self.in_flight -= 1

        def answer(body: bytes, context: grpc.ServicerContext) -> bytes:
            failure = self.fail(signal) if self.fail is not None else None
            if failure is not None and failure.code is not None:
                trailers: tuple[tuple[str, bytes], ...] = ()
                if failure.retry_after_s is not None:
                    status = status_pb2.Status(code=failure.code.value[0], message="sink says no")
                    seconds = int(failure.retry_after_s)
                    delay = Duration(seconds=seconds, nanos=int((failure.retry_after_s - seconds) * 1e9))
                    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
                    trailers = (("grpc-status-details-bin", status.SerializeToString()),)
                context.abort_with_status(_RpcStatus(failure.code, "sink says no", trailers))
            request = request_type.FromString(body)
            with self._lock:
                self.requests.append((signal, request))
            response = response_type()
            if failure is not None and failure.rejected:
                field = {
                    "traces": "rejected_spans",
                    "logs": "rejected_log_records",
                    "metrics": "rejected_data_points",
                }
                setattr(response.partial_success, field[signal], failure.rejected)
                response.partial_success.error_message = "sink rejected some"
            return bytes(response.SerializeToString())

        return export

    # -- what arrived ----------------------------------------------------------------------------
    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) for every span received."""
        with self._lock:
            requests = list(self.requests)
        return [
            (attrs_to_dict(rs.resource.attributes), span)
            for signal, request in requests
            if signal == "traces"
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    def log_records(self) -> list[tuple[dict[str, Any], Any]]:
        with self._lock:
            requests = list(self.requests)
        return [
            (attrs_to_dict(rl.resource.attributes), record)
            for signal, request in requests
            if signal == "logs"
            for rl in request.resource_logs
            for sl in rl.scope_logs
            for record in sl.log_records
        ]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
        return wait_for(predicate, timeout)


class _RpcStatus(grpc.Status):  # type: ignore[misc]
    def __init__(
        self, code: grpc.StatusCode, details: str, trailing_metadata: tuple[tuple[str, bytes], ...]
    ) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


@dataclass(frozen=True)
class HttpFailure:
    """How ``OTLPHttpSink`` answers instead of accepting: this status, maybe a ``Retry-After``
    value and a ``google.rpc.Status`` body; or accept with ``rejected`` items in partial success."""

    status: int = 200
    retry_after: str | None = None
    message: str = "sink says no"
    rejected: int = 0


class OTLPHttpSink:
    """A real OTLP/HTTP server (``POST /v1/{traces,logs,metrics}``, binary protobuf) that records
    what it accepted, the headers it was sent and how many connections were opened to it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.requests: list[tuple[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.attempts = 0
        self.connections = 0
        self.fail: Callable[[str], HttpFailure | None] | None = None
        #: close each connection after its reply without saying so (as an idle timeout does)
        self.drop_idle = False
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self, tls: ssl.SSLContext | None = None) -> OTLPHttpSink:
        """Serve plain HTTP, or HTTPS with ``tls`` (a server context)."""
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as collectors serve it

            def setup(self) -> None:
                super().setup()
                with sink._lock:
                    sink.connections += 1

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                signal = self.path.removeprefix("/v1/")
                with sink._lock:
                    sink.attempts += 1
                    sink.headers.append({k.lower(): v for k, v in self.headers.items()})
                if signal not in _SERVICES:
                    self._reply(404, b"no such path", "text/plain")
                    return
                failure = sink.fail(signal) if sink.fail is not None else None
                if failure is not None and failure.status != 200:
                    status = status_pb2.Status(code=rpc_code("UNAVAILABLE"), message=failure.message)
                    extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                    self._reply(failure.status, status.SerializeToString(), "application/x-protobuf", extra)
                    return
                _service, request_type, response_type = _SERVICES[signal]
                request = request_type.FromString(body)
                with sink._lock:
                    sink.requests.append((signal, request))
                response = response_type()
                if failure is not None and failure.rejected:
                    field = "rejected_spans" if signal == "traces" else "rejected_log_records"
                    if signal == "metrics":
                        field = "rejected_data_points"
                    setattr(response.partial_success, field, failure.rejected)
                    response.partial_success.error_message = "some refused"
                self._reply(200, response.SerializeToString(), "application/x-protobuf")

            def _reply(self, code: int, body: bytes, kind: str, extra: dict[str, str] | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
                if sink.drop_idle:
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
        return wait_for(predicate, timeout)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Whether ``predicate`` came true within ``timeout`` seconds (polled every 50 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def rpc_code(name: str) -> int:
    return int(code_pb2.Code.Value(name))


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def rotel_binary() -> Path:
    import rotel

    binary = Path(rotel.__file__).parent / "rotel-agent"
    if not binary.exists():
        raise RuntimeError(f"the rotel package ships no rotel-agent at {binary}")
    return binary


class Rotel:
    """``rotel-agent start`` in the foreground: OTLP/gRPC in, traces and logs to separate sinks."""

    def __init__(self, workdir: Path, traces_endpoint: str, logs_endpoint: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self._http_port = free_port()
        #: its OTLP/HTTP receiver
        self.http_endpoint = f"127.0.0.1:{self._http_port}"
        self._traces = traces_endpoint
        self._logs = logs_endpoint
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.workdir / f"rotel-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [
                str(rotel_binary()),
                "start",
                "--otlp-grpc-endpoint", self.endpoint,
                "--otlp-http-endpoint", f"127.0.0.1:{self._http_port}",
                "--exporter", "otlp",
                "--otlp-exporter-protocol", "grpc",
                "--otlp-exporter-endpoint", f"http://{self._traces}",
                "--otlp-exporter-traces-endpoint", f"http://{self._traces}",
                "--otlp-exporter-logs-endpoint", f"http://{self._logs}",
                "--batch-timeout", "100ms",
                "--pid-file", str(self.workdir / "rotel.pid"),
                "--log-file", str(self.workdir / "rotel-agent.log"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
        log.close()
        wait_port(self.port)

    def stop(self) -> None:
        """Graceful stop (SIGTERM: Rotel flushes its batches), then make sure it is gone."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None


@contextmanager
def gateway_through_rotel(
    tmp_path: Path, protocol: str = "grpc", **target: Any
) -> Iterator[tuple[Gateway, Rotel, OTLPSink, OTLPSink]]:
    """A gateway forwarding to a real Rotel over ``protocol`` (its OTLP/gRPC or OTLP/HTTP
    receiver), whose exporters feed two sinks (traces, logs); ``target``: more target settings."""
    traces, logs = OTLPSink().start(), OTLPSink().start()
    rotel = Rotel(tmp_path, traces.endpoint, logs.endpoint)
    rotel.start()
    endpoint = rotel.http_endpoint if protocol == "http/protobuf" else rotel.endpoint
    config = gateway_config(
        tmp_path / "data",
        forward={
            "targets": [{"endpoint": endpoint, "name": "rotel", "protocol": protocol, **target}],
            "retry": {"initial_interval_s": 0.1, "max_interval_s": 0.5},
        },
    )
    try:
        with running_gateway(config) as gw:
            yield gw, rotel, traces, logs
    finally:
        rotel.stop()
        traces.stop()
        logs.stop()
