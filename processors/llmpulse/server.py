"""Assemble and run the gateway: receivers, pipeline, span metrics, the /metrics endpoint and the
exporters, with a clean start and a graceful stop (stop accepting, finish in-flight, flush).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, disable_created_metrics
from prometheus_client.exposition import choose_encoder

from llmpulse import __version__
from llmpulse.config import Config
from llmpulse.forward import ForwardExporter
from llmpulse.k8s import KubernetesEnricher, build_enricher
from llmpulse.otlp.scan import NATIVE
from llmpulse.pipeline import Exporter, Pipeline, ResourceEnricher
from llmpulse.receiver import (
    Admission,
    GRPCReceiver,
    HTTPReceiver,
    TokenCheck,
    tune_allocator,
    tune_collector,
)
from llmpulse.remotewrite import RemoteWriteExporter
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics, SpanMetricsCollector, StateStore

log = logging.getLogger("llmpulse")


def instance_id(config: Config) -> str:
    """This replica's ``llmpulse_instance``: configured, or made once and kept in the data dir so
    that a restart on the same data continues the same series."""
    if config.instance:
        return config.instance
    path = config.data_dir / "instance-id"
    try:
        existing = path.read_text().strip()
        if existing:
            return existing
    except FileNotFoundError:
        pass
    value = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value + "\n")
    os.replace(tmp, path)
    return value


class Gateway:
    """The running llmpulse process; ``start``/``stop`` are idempotent and ordered."""

    def __init__(
        self,
        config: Config,
        *,
        exporters: list[Exporter] | None = None,
        resource_enrichers: list[ResourceEnricher] | None = None,
    ) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.instance = instance_id(config)
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series double the exposition for no query we need
        self.registry = CollectorRegistry()
        self.selfmetrics = SelfMetrics(self.registry)
        self.spanmetrics = SpanMetrics(
            self.selfmetrics,
            cardinality_limit=config.metrics.cardinality_limit,
            idle_timeout_s=config.metrics.series_idle_timeout_s,
        )
        self.registry.register(SpanMetricsCollector(self.spanmetrics))
        st = config.state
        self.state = StateStore(
            config.data_dir / "state",
            self.spanmetrics,
            self.selfmetrics,
            fsync=st.fsync,
            fsync_interval_s=st.fsync_interval_s,
            checkpoint_interval_s=st.checkpoint_interval_s,
            max_wal_bytes=int(st.max_wal_mib * (1 << 20)),
        )
        self.remote_write: RemoteWriteExporter | None = None
        if config.remote_write.targets:
            self.remote_write = RemoteWriteExporter(
                config.remote_write,
                data_dir=config.data_dir,
                instance=self.instance,
                spanmetrics=self.spanmetrics,
                selfmetrics=self.selfmetrics,
                fsync=st.fsync == "always",
            )
        self.exporters: list[Exporter] = list(exporters or [])
        self.forward: ForwardExporter | None = None
        if config.forward.targets:
            self.forward = ForwardExporter(config.forward, config.data_dir, self.selfmetrics)
            self.exporters.append(self.forward)
        self.k8s: KubernetesEnricher | None = build_enricher(config.kubernetes, self.registry)
        enrichers = list(resource_enrichers or []) + ([self.k8s] if self.k8s is not None else [])
        self.pipeline = Pipeline(
            config,
            self.selfmetrics,
            self.spanmetrics,
            exporters=self.exporters,
            resource_enrichers=enrichers,
        )
        tokens = TokenCheck(config.receivers.auth.tokens())
        limits = config.limits
        self.admission = Admission(
            limits.memory_limit_mib << 20, limits.max_inflight_mib << 20, retry_after_s=limits.retry_after_s
        )
        receivers = config.receivers
        self.grpc = GRPCReceiver(
            receivers.grpc, self.pipeline, self.selfmetrics, tokens, self.admission,
            max_concurrent=limits.max_concurrent_grpc_calls,
        )  # fmt: skip
        self.http = HTTPReceiver(receivers.http, self.pipeline, self.selfmetrics, tokens, self.admission)
        self._metrics_runner: web.AppRunner | None = None
        self.metrics_port: int | None = None
        self._ready = False
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- /metrics, /healthz, /readyz -------------------------------------------------------
    def metrics_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/", self._index)
        return app

    async def _metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = encoder(self.registry)
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        if self._ready and not self._stopping:
            return web.Response(text="ready\n")
        return web.Response(status=503, text="starting\n" if not self._ready else "stopping\n")

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text=f"llmpulse {__version__}: /metrics /healthz /readyz\n")

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self, *, reuse_port: bool = False) -> None:
        # Counters continue: restore snapshot + WAL before anything can scrape or send.
        await asyncio.to_thread(self.state.open)
        host, _, port = self.config.metrics.endpoint.rpartition(":")
        self._metrics_runner = web.AppRunner(self.metrics_app(), access_log=None, handle_signals=False)
        await self._metrics_runner.setup()
        site = web.TCPSite(self._metrics_runner, host.strip("[]") or None, int(port))
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.metrics_port = int(sockets[0].getsockname()[1]) if sockets else int(port)
        if self.k8s is not None:
            await asyncio.to_thread(self.k8s.start)  # first pod list before the first span
        if self.forward is not None:
            self.forward.start()  # queued requests of a previous run go out first
        await self.grpc.start(reuse_port=reuse_port)
        await self.http.start(reuse_port=reuse_port)
        await self.state.start()
        if self.remote_write is not None:
            await self.remote_write.start()
        self._tasks.append(asyncio.create_task(self._housekeeping()))
        self._ready = True
        log.info(
            "llmpulse %s ready (instance %s, %s span scanner); metrics on http://%s/metrics",
            __version__,
            self.instance,
            "native" if NATIVE else "pure-Python (no C compiler at install: ordinary spans cost more)",
            self.config.metrics.endpoint,
        )

    async def _housekeeping(self) -> None:
        interval = min(60.0, max(1.0, self.config.metrics.series_idle_timeout_s / 10 or 60.0))
        while True:
            await asyncio.sleep(interval)
            expired = self.spanmetrics.expire()
            if self.remote_write is not None:
                self.remote_write.expired(expired)  # final values + stale markers

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish, then stop exporters and endpoints."""
        if self._stopping:
            return
        self._stopping = True
        await self.grpc.stop(grace_s=5.0)
        await self.http.stop()
        if self.k8s is not None:
            await asyncio.to_thread(self.k8s.stop)
        for task in self._tasks:
            task.cancel()
        for exporter in self.exporters:
            close = getattr(exporter, "close", None)
            if close is not None:
                result = close()
                if asyncio.iscoroutine(result):
                    await result
        if self.remote_write is not None:
            await self.remote_write.stop()  # last snapshot, short final send; the rest stays on disk
        await self.state.close()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
        log.info("llmpulse stopped")

    async def serve_forever(
        self, *, reuse_port: bool = False, on_ready: Callable[[Gateway], None] | None = None
    ) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start(reuse_port=reuse_port)
        tune_collector()  # after start-up: what it built is long-lived
        if on_ready is not None:
            on_ready(self)
        await stop.wait()
        log.info("signal received: shutting down")
        await self.stop()


def run(config: Config) -> int:
    tune_allocator(memory_limited=config.limits.memory_limit_mib > 0)
    if config.workers > 1:
        from llmpulse.workers import run_workers

        return run_workers(config)
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    gateway = Gateway(config)
    asyncio.run(gateway.serve_forever())
    return 0
