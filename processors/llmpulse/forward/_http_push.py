"""One OTLP/HTTP ``POST /v1/{signal}`` (binary protobuf) to a forward target, classified as the
OTLP spec says (https://opentelemetry.io/docs/specs/otlp/#otlphttp-response).

Why a second transport: a 435 KiB batch costs ~0.26 ms of CPU to send as one HTTP/1.1 request
(one ``sendall`` of bytes the queue already holds) and ~0.7–1.1 ms through grpcio's client
(benchmarks/README.md), and sending is most of what forwarding costs.

200 carries an ``Export*ServiceResponse`` whose ``partial_success`` is final. 429, 502, 503 and
504 are retryable, with the server's ``Retry-After`` (seconds or an HTTP date) honoured; every
other status is permanent, its ``google.rpc.Status`` body (or text) in the message. A connection
that fails or times out is retryable. Each sender thread keeps its own keep-alive connection
(``http.client`` connections are not thread-safe); one that failed is dropped and made again.
"""

from __future__ import annotations

import email.utils
import http.client
import ssl
import threading
import time
from typing import Any

from google.protobuf.message import DecodeError
from google.rpc import status_pb2

import llmpulse
from llmpulse._zlib import gzip
from llmpulse.config import ForwardTargetConfig
from llmpulse.forward._push import RESPONSES, PushResult
from llmpulse.otlp import Signal

PATHS: dict[Signal, str] = {"traces": "/v1/traces", "logs": "/v1/logs", "metrics": "/v1/metrics"}
#: the most of a reply that is read (as gRPC's 4 MiB receive limit): a reply is a few bytes
MAX_REPLY_BYTES = 4 << 20
#: https://opentelemetry.io/docs/specs/otlp/#retryable-response-codes
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _error_message(status: int, reason: str, body: bytes, content_type: str) -> str:
    """The server's explanation: a ``google.rpc.Status`` for protobuf bodies, else its text."""
    detail = ""
    if "protobuf" in content_type:
        try:
            detail = status_pb2.Status.FromString(body).message
        except DecodeError:
            detail = ""
    if not detail:
        detail = body[:300].decode("utf-8", errors="replace").strip()
    return f"HTTP {status} {reason}: {detail}".rstrip(": ")


class HttpPush:
    """Sends serialized export requests to one target over keep-alive HTTP/1.1 connections."""

    def __init__(self, target: ForwardTargetConfig) -> None:
        self._target = target
        self._context: ssl.SSLContext | None = None
        if not target.insecure:
            self._context = ssl.create_default_context(
                cafile=str(target.ca_file) if target.ca_file is not None else None
            )
        self._headers = {
            **target.headers,
            "Content-Type": "application/x-protobuf",
            "User-Agent": f"llmpulse/{llmpulse.__version__}",
        }
        if target.compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[http.client.HTTPConnection] = []

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            endpoint, timeout = self._target.endpoint, self._target.timeout_s
            if self._context is None:
                conn = http.client.HTTPConnection(endpoint, timeout=timeout)
            else:
                conn = http.client.HTTPSConnection(endpoint, timeout=timeout, context=self._context)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        self._local.conn = None
        self._local.used = False
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)

    def _exchange(self, signal: Signal, body: bytes) -> tuple[http.client.HTTPResponse, bytes]:
        """One request and its whole reply. A kept-alive connection the server closed while it
        was idle (collectors close idle ones) fails before anything was read: that one request
        is sent again at once on a new connection, as HTTP clients do, instead of waiting for the
        retry backoff."""
        conn = self._connection()
        reused = getattr(self._local, "used", False)
        try:
            conn.request("POST", PATHS[signal], body=body, headers=self._headers)
            response = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self._drop(conn)
            if not reused:
                raise
            conn = self._connection()
            conn.request("POST", PATHS[signal], body=body, headers=self._headers)
            response = conn.getresponse()
        self._local.used = True
        reply = response.read(MAX_REPLY_BYTES + 1)
        if len(reply) > MAX_REPLY_BYTES:  # the rest is never read: the connection cannot be reused
            self._drop(conn)
            reply = b""
        return response, reply

    def push(self, signal: Signal, payload: bytes) -> PushResult:
        body = gzip.compress(payload, 6) if self._target.compression == "gzip" else payload
        try:
            response, reply = self._exchange(signal, body)
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, garbled
            conn = getattr(self._local, "conn", None)
            if conn is not None:
                self._drop(conn)
            return PushResult(False, True, message=f"{type(exc).__name__}: {exc}")
        if response.will_close and getattr(self._local, "conn", None) is not None:
            self._drop(self._local.conn)
        status = response.status
        if status != 200:
            message = _error_message(status, response.reason, reply, response.getheader("Content-Type", ""))
            if status in RETRYABLE_STATUS:
                delay = retry_after(response.getheader("Retry-After"))
                return PushResult(False, True, delay, message=message)
            return PushResult(False, False, message=message)
        response_type, field = RESPONSES[signal]
        parsed: Any = response_type()
        try:
            parsed.ParseFromString(reply)
        except DecodeError:
            return PushResult(True, message="unreadable response (accepted)")
        rejected = int(getattr(parsed.partial_success, field))
        return PushResult(True, rejected=rejected, message=parsed.partial_success.error_message)

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
