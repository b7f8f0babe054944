"""OTLP/HTTP receiver: ``POST /v1/traces|logs|metrics`` with protobuf or JSON bodies, gzip or not.

Responses use the request's encoding. Failures answer with a ``google.rpc.Status`` body
(https://opentelemetry.io/docs/specs/otlp/#failures-1): 400 malformed, 401 unauthenticated,
413 too large, 415 unsupported type or encoding, 503 + ``Retry-After`` when a queue is full.
"""

from __future__ import annotations

import logging
import math
import ssl

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import Message

from llmpulse.config import HTTPReceiverConfig
from llmpulse.otlp import DecodeError, Signal, decode_json, decode_request, gunzip
from llmpulse.pipeline import Backpressure, Pipeline
from llmpulse.receiver._admission import Admission, Overloaded
from llmpulse.receiver._common import CODES, TokenCheck, export_response, rpc_status
from llmpulse.selfmetrics import SelfMetrics

log = logging.getLogger("llmpulse.receiver.http")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def _encode(message: Message, as_json: bool) -> bytes:
    if as_json:
        return bytes(json_format.MessageToJson(message, indent=None).encode())
    return bytes(message.SerializeToString())


def _tls_context(config: HTTPReceiverConfig) -> ssl.SSLContext | None:
    tls = config.tls
    if tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file is not None:
        context.load_verify_locations(tls.client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class HTTPReceiver:
    """aiohttp application serving the three OTLP/HTTP paths."""

    def __init__(
        self,
        config: HTTPReceiverConfig,
        pipeline: Pipeline,
        selfmetrics: SelfMetrics,
        tokens: TokenCheck,
        admission: Admission | None = None,
    ) -> None:
        self._admission = admission or Admission(0, 1 << 62)
        self._config = config
        self._pipeline = pipeline
        self._self = selfmetrics
        self._tokens = tokens
        self._limit = config.max_request_body_size_mib * 1024 * 1024
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self._limit)
        for signal in ("traces", "logs", "metrics"):
            app.router.add_post(f"/v1/{signal}", self._handler(signal))  # type: ignore[arg-type]
        return app

    async def start(self, *, reuse_port: bool = False) -> None:
        host, _, port = self._config.endpoint.rpartition(":")
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, auto_decompress=False)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            host.strip("[]") or None,
            int(port),
            ssl_context=_tls_context(self._config),
            reuse_port=reuse_port or None,
        )
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else int(port)
        log.info("OTLP/HTTP receiver listening on %s:%s", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _refuse(
        self,
        signal: Signal,
        reason: str,
        status: int,
        message: str,
        as_json: bool,
        retry_after_s: float | None = None,
    ) -> web.Response:
        self._self.refused_requests.labels(signal=signal, protocol="http", reason=reason).inc()
        code = {
            429: CODES.RESOURCE_EXHAUSTED,
            400: CODES.INVALID_ARGUMENT,
            401: CODES.UNAUTHENTICATED,
            413: CODES.INVALID_ARGUMENT,
            415: CODES.INVALID_ARGUMENT,
            503: CODES.UNAVAILABLE,
            500: CODES.INTERNAL,
        }.get(status, CODES.UNKNOWN)
        body = _encode(rpc_status(code, message, retry_after_s), as_json)
        headers = {}
        if retry_after_s is not None:
            headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
        return web.Response(
            status=status, body=body, content_type=JSON if as_json else PROTOBUF, headers=headers
        )

    async def _process(self, signal: Signal, request: web.Request, as_json: bool) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(signal, "too_large", 413, f"body larger than {self._limit} bytes", as_json)
        encoding = request.headers.get("Content-Encoding", "identity").lower().strip()
        try:
            if encoding == "gzip":
                body = gunzip(body, self._limit)
            elif encoding not in ("identity", ""):
                return self._refuse(
                    signal,
                    "unsupported_media_type",
                    415,
                    f"Content-Encoding must be gzip or identity, got {encoding!r}",
                    as_json,
                )
            message = decode_json(signal, body) if as_json else decode_request(signal, body)
        except DecodeError as exc:
            return self._refuse(signal, "malformed", 400, str(exc), as_json)
        try:
            outcome = self._pipeline.consume(
                signal,
                message,
                protocol="http",
                size=len(body),
                peer=request.headers.get("X-Forwarded-For") or request.remote,
                body=None if as_json else body,
            )
        except Backpressure as exc:
            return self._refuse(signal, "queue_full", 503, str(exc), as_json, exc.retry_after_s)
        except Exception:
            log.exception("pipeline failed on a %s request", signal)
            return self._refuse(signal, "internal", 500, "internal error processing the request", as_json)
        return web.Response(
            status=200,
            body=_encode(export_response(signal, outcome), as_json),
            content_type=JSON if as_json else PROTOBUF,
        )

    def _handler(self, signal: Signal):  # type: ignore[no-untyped-def]
        async def handle(request: web.Request) -> web.Response:
            content_type = request.content_type.lower()
            as_json = content_type == JSON
            if not self._tokens.allows(request.headers.get("Authorization")):
                return self._refuse(
                    signal, "unauthenticated", 401, "missing or invalid bearer token", as_json
                )
            if content_type not in (PROTOBUF, JSON):
                return self._refuse(
                    signal,
                    "unsupported_media_type",
                    415,
                    f"Content-Type must be {PROTOBUF} or {JSON}, got {content_type or 'none'!r}",
                    as_json,
                )
            declared = request.content_length or 0
            try:
                self._admission.enter(declared)
            except Overloaded as exc:
                return self._refuse(signal, exc.reason, 429, str(exc), as_json, exc.retry_after_s)
            try:
                return await self._process(signal, request, as_json)
            finally:
                self._admission.leave(declared)

        return handle
