"""``--workers N``: use every core with N processes sharing the receiver ports (SO_REUSEPORT).

The kernel spreads connections over the workers. Each worker is a full gateway with its own
``llmpulse_instance`` (``<instance>-w<i>``) and its own data directory, so remote-write series
never collide and durable state is never shared. The supervisor serves the one public
``/metrics`` view (the workers' expositions summed series by series; timestamps take the
maximum), ``/healthz`` and ``/readyz``, restarts a worker that dies, and on SIGTERM stops all of
them gracefully.

An OTLP client keeps its connection, so all spans of one exporter reach the same worker and
duplicate spans of one call are still recognised as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
from collections.abc import Iterable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from llmpulse.config import Config, validate

log = logging.getLogger("llmpulse.workers")
_MAX_ONLY = ("_timestamp_seconds",)


def worker_config(config: Config, index: int, instance: str) -> Config:
    tree = config.model_dump(mode="json")
    tree["workers"] = 1
    tree["instance"] = f"{instance}-w{index}"
    tree["data_dir"] = str(config.data_dir / f"worker-{index}")
    tree["metrics"]["endpoint"] = "127.0.0.1:0"
    return validate(tree)


def _worker_main(tree: dict[str, Any], conn: Connection) -> None:
    """Entry point of a worker process (spawned: no grpc state inherited)."""
    from llmpulse.receiver import tune_allocator
    from llmpulse.server import Gateway

    config = validate(tree)
    tune_allocator(memory_limited=config.limits.memory_limit_mib > 0)
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
    )
    gateway = Gateway(config)

    def ready(gw: Gateway) -> None:
        conn.send(gw.metrics_port)
        conn.close()

    asyncio.run(gateway.serve_forever(reuse_port=True, on_ready=ready))


def merge_expositions(texts: Iterable[str]) -> list[Metric]:
    """Sum the workers' series that share a name and labels (max for timestamps)."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
                values[family.name] = {}
            table = values[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if sample.name.endswith(_MAX_ONLY):
                    table[key] = max(table.get(key, sample.value), sample.value)
                else:
                    table[key] = table.get(key, 0.0) + sample.value
    for name, family in families.items():
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)
    return list(families.values())


class _Merged(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


class Supervisor:
    """Starts, watches and stops the workers; serves the merged /metrics."""

    def __init__(self, config: Config) -> None:
        from llmpulse.server import instance_id

        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.instance = instance_id(config)
        self._ctx = multiprocessing.get_context("spawn")
        self._procs: list[BaseProcess | None] = [None] * config.workers
        self._ports: list[int | None] = [None] * config.workers
        self._stopping = False
        #: how long a worker is waited for before the log says it is late (then again as long)
        self.ready_poll_s = 30.0

    def _spawn(self, index: int) -> None:
        tree = worker_config(self.config, index, self.instance).model_dump(mode="json")
        parent, child = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=_worker_main, args=(tree, child), name=f"llmpulse-w{index}", daemon=False
        )
        proc.start()
        child.close()
        self._procs[index] = proc
        self._ports[index] = None
        asyncio.get_running_loop().run_in_executor(None, self._await_port, index, parent)

    def _await_port(self, index: int, conn: Connection) -> None:
        """Wait for worker ``index`` to report its metrics port (it is ready then), however long
        it takes: a worker that starts slowly on a loaded machine still becomes ready, and says
        so in the log while it is late. A worker that dies first closes its end (``EOFError``);
        the watch loop restarts it, with a new pipe."""
        waited = 0.0
        try:
            while not conn.poll(self.ready_poll_s):
                waited += self.ready_poll_s
                if self._stopping:
                    return
                log.warning("worker %d has not reported ready after %g s; still waiting", index, waited)
            self._ports[index] = int(conn.recv())
        except (EOFError, OSError):
            pass
        finally:
            conn.close()

    async def _scrape(self) -> list[str]:
        async with ClientSession(timeout=ClientTimeout(total=5)) as session:

            async def one(port: int) -> str:
                async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                    return await response.text()

            ports = [p for p in self._ports if p is not None]
            return list(await asyncio.gather(*(one(p) for p in ports)))

    async def _metrics(self, request: web.Request) -> web.Response:
        registry = CollectorRegistry()
        registry.register(_Merged(merge_expositions(await self._scrape())))
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(registry), headers={"Content-Type": content_type})

    async def _workers(self, request: web.Request) -> web.Response:
        rows = [
            {
                "index": i,
                "instance": f"{self.instance}-w{i}",
                "pid": proc.pid if proc else None,
                "alive": bool(proc and proc.is_alive()),
                "metrics_port": self._ports[i],
            }
            for i, proc in enumerate(self._procs)
        ]
        return web.json_response({"instance": self.instance, "workers": rows})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        ready = sum(1 for port in self._ports if port is not None)
        if ready == len(self._ports) and not self._stopping:
            return web.Response(text=f"ready ({ready} workers)\n")
        return web.Response(status=503, text=f"{ready}/{len(self._ports)} workers ready\n")

    async def run(self) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/workers", self._workers)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        host, _, port = self.config.metrics.endpoint.rpartition(":")
        await web.TCPSite(runner, host.strip("[]") or None, int(port)).start()
        for index in range(len(self._procs)):
            self._spawn(index)
        log.info("supervising %d workers (instance %s)", len(self._procs), self.instance)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            for index, proc in enumerate(self._procs):
                if proc is not None and not proc.is_alive() and not stop.is_set():
                    log.error("worker %d exited with %s; restarting it", index, proc.exitcode)
                    self._spawn(index)
        self._stopping = True
        log.info("signal received: stopping %d workers", len(self._procs))
        for proc in self._procs:
            if proc is not None and proc.is_alive() and proc.pid is not None:
                proc.terminate()
        for proc in self._procs:
            if proc is not None:
                await loop.run_in_executor(None, proc.join, 30)
                if proc.is_alive():
                    log.error("worker %s did not stop in 30 s; killing it", proc.name)
                    proc.kill()
        await runner.cleanup()
        log.info("llmpulse stopped")
        return 0


def run_workers(config: Config) -> int:
    return asyncio.run(Supervisor(config).run())
