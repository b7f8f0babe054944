"""OTLP/gRPC receiver: TraceService, LogsService and MetricsService ``Export``.

Requests are taken as raw bytes (no generated deserializer) so a malformed body is answered with
INVALID_ARGUMENT and a message saying what is wrong, and counted, instead of grpc's generic error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc import aio

from llmpulse.config import GRPCReceiverConfig
from llmpulse.otlp import DecodeError, Signal, decode_request
from llmpulse.pipeline import Backpressure, Pipeline
from llmpulse.receiver._admission import Admission, Overloaded
from llmpulse.receiver._common import TokenCheck, export_response, rpc_status
from llmpulse.selfmetrics import SelfMetrics

log = logging.getLogger("llmpulse.receiver.grpc")

_METHODS: dict[str, Signal] = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export": "traces",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export": "logs",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export": "metrics",
}


def _tls_credentials(config: GRPCReceiverConfig) -> grpc.ServerCredentials | None:
    tls = config.tls
    if tls is None:
        return None
    ca = tls.client_ca_file.read_bytes() if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


def server_options(config: GRPCReceiverConfig, *, reuse_port: bool = False) -> list[tuple[str, int]]:
    """The receiver's grpc server options (``benchmarks/grpc_receive.py`` measures a bare
    server with the same)."""
    return [
        ("grpc.max_receive_message_length", config.max_recv_msg_size_mib * 1024 * 1024),
        ("grpc.so_reuseport", 1 if reuse_port else 0),
        # keep HTTP/2 flow-control windows small: a refused call must not have its whole
        # body buffered (the BDP probe otherwise grows windows to megabytes per stream)
        ("grpc.http2.bdp_probe", 0),
    ]


def _peer(metadata: dict[str, Any], context: aio.ServicerContext) -> str:
    """The sender: behind a mesh sidecar or proxy, the first hop of ``x-forwarded-for``."""
    forwarded = metadata.get("x-forwarded-for")
    return forwarded if isinstance(forwarded, str) and forwarded else str(context.peer())


class GRPCReceiver:
    """Serves the three OTLP Export RPCs on one port and hands requests to the pipeline."""

    def __init__(
        self,
        config: GRPCReceiverConfig,
        pipeline: Pipeline,
        selfmetrics: SelfMetrics,
        tokens: TokenCheck,
        admission: Admission | None = None,
        max_concurrent: int | None = None,
    ) -> None:
        self._config = config
        self._pipeline = pipeline
        self._self = selfmetrics
        self._tokens = tokens
        self._admission = admission or Admission(0, 1 << 62)
        self._max_concurrent = max_concurrent
        self._server: aio.Server | None = None
        self.port: int | None = None

    async def start(self, *, reuse_port: bool = False) -> None:
        server = aio.server(
            options=server_options(self._config, reuse_port=reuse_port),
            # grpc reads a whole message before the handler runs; past this many calls at once it
            # refuses new ones with RESOURCE_EXHAUSTED before buffering their bodies
            maximum_concurrent_rpcs=self._max_concurrent,
        )
        generic = [
            grpc.method_handlers_generic_handler(
                path.split("/")[1],
                # served as stream-unary (same bytes on the wire as unary) so that admission
                # runs before grpc reads the request body
                {"Export": grpc.stream_unary_rpc_method_handler(self._handler(signal))},
            )
            for path, signal in _METHODS.items()
        ]
        server.add_generic_rpc_handlers(generic)
        credentials = _tls_credentials(self._config)
        endpoint = self._config.endpoint
        if credentials is None:
            self.port = server.add_insecure_port(endpoint)
        else:
            self.port = server.add_secure_port(endpoint, credentials)
        await server.start()
        self._server = server
        log.info("OTLP/gRPC receiver listening on %s%s", endpoint, " (TLS)" if credentials else "")

    async def stop(self, grace_s: float = 5.0) -> None:
        if self._server is not None:
            await self._server.stop(grace_s)
            self._server = None

    def _handler(self, signal: Signal) -> Any:
        refused = self._self.refused_requests

        async def retry_later(
            context: aio.ServicerContext,
            reason: str,
            exc: Backpressure,
            code: grpc.StatusCode = grpc.StatusCode.RESOURCE_EXHAUSTED,
        ) -> None:
            refused.labels(signal=signal, protocol="grpc", reason=reason).inc()
            status = rpc_status(code.value[0], str(exc), exc.retry_after_s)
            await context.abort(
                code,
                str(exc),
                trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),),
            )

        async def export(requests: AsyncIterator[bytes], context: aio.ServicerContext) -> bytes:
            metadata = dict(context.invocation_metadata() or ())
            if not self._tokens.allows(metadata.get("authorization")):
                refused.labels(signal=signal, protocol="grpc", reason="unauthenticated").inc()
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
            # Decide before reading the body: a refused call then costs no more than its
            # flow-control window, instead of a whole message grpc would have buffered.
            try:
                reserved = self._admission.enter_unread()
            except Overloaded as exc:
                await retry_later(context, exc.reason, exc)
            body = b""
            try:
                async for message in requests:
                    body = message
                    break
            except BaseException:
                self._admission.leave(reserved)
                raise
            self._admission.enter_read(len(body), reserved)
            try:
                try:
                    request = decode_request(signal, body)
                except DecodeError as exc:
                    refused.labels(signal=signal, protocol="grpc", reason="malformed").inc()
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
                try:
                    outcome = self._pipeline.consume(
                        signal,
                        request,
                        protocol="grpc",
                        size=len(body),
                        peer=_peer(metadata, context),
                        body=body,
                    )
                except Backpressure as exc:
                    # OTLP/gRPC throttling: back-pressure MUST be UNAVAILABLE, with RetryInfo
                    # (https://opentelemetry.io/docs/specs/otlp/#otlpgrpc-throttling)
                    await retry_later(context, "queue_full", exc, grpc.StatusCode.UNAVAILABLE)
                except Exception:
                    log.exception("pipeline failed on a %s request", signal)
                    refused.labels(signal=signal, protocol="grpc", reason="internal").inc()
                    await context.abort(grpc.StatusCode.INTERNAL, "internal error processing the request")
                return bytes(export_response(signal, outcome).SerializeToString())
            finally:
                self._admission.leave(len(body))

        return export
