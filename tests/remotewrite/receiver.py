"""A scripted remote-write receiver (aiohttp, loopback) for status-code and wire tests, and an
exporter harness around a real ``SpanMetrics`` aggregate."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cramjam
from aiohttp import web
from prometheus_client import CollectorRegistry

from llmpulse.call import LLMCall
from llmpulse.config import RemoteWriteConfig
from llmpulse.remotewrite import RemoteWriteExporter, parse_write_request
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    raw: bytes
    request: Any  # WriteRequest
    status: int = 204  # what the receiver answered

    def series(self) -> dict[tuple[tuple[str, str], ...], list[tuple[float, int]]]:
        return {
            tuple((lb.name, lb.value) for lb in ts.labels): [(s.value, s.timestamp) for s in ts.samples]
            for ts in self.request.timeseries
        }


@dataclass
class Receiver:
    """Answers each POST with the next scripted (status, headers, body); 204 once it runs out."""

    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = bytes(cramjam.snappy.decompress_raw(raw))
        got = Received(time.monotonic(), dict(request.headers), raw, parse_write_request(body))
        self.received.append(got)
        if self.script:
            got.status, headers, text = self.script.pop(0)
            return web.Response(status=got.status, headers=headers, text=text)
        return web.Response(status=204)

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> Receiver:
        app = web.Application()
        app.router.add_post("/api/v1/write", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{port}/api/v1/write"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver got {len(self.received)} requests, expected {count}")
            await asyncio.sleep(0.01)
        return self.received


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    """A real aggregate and an exporter writing to ``url``; ticks are driven by the test."""

    data_dir: Path
    url: str
    config: dict[str, Any] = field(default_factory=dict)
    wall: Callable[[], float] = time.time
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.selfmetrics = SelfMetrics(self.registry)
        self.clock = Clock(1000.0)
        self.spanmetrics = SpanMetrics(self.selfmetrics, idle_timeout_s=60, clock=self.clock)
        tree: dict[str, Any] = {
            "targets": [{"url": self.url, "name": "test"}],
            "send_interval_s": 3600,  # the test enqueues snapshots itself
            "retry": {"initial_interval_s": 0.05, "max_interval_s": 0.2, "randomization_factor": 0},
            "flush_timeout_s": 1,
        }
        for key, value in self.config.items():
            tree[key] = {**tree[key], **value} if isinstance(tree.get(key), dict) else value
        self.exporter = RemoteWriteExporter(
            RemoteWriteConfig.model_validate(tree),
            data_dir=self.data_dir,
            instance="test-1",
            spanmetrics=self.spanmetrics,
            selfmetrics=self.selfmetrics,
            wall_clock=self.wall,
        )

    def record(self, model: str = "gpt-4o-mini", tokens: int = 10, error: str | None = None) -> None:
        self.spanmetrics.record(
            [
                LLMCall(
                    dialect="semconv",
                    operation="chat",
                    provider="openai",
                    request_model=model,
                    input_tokens=None if error else tokens,
                    output_tokens=None if error else 2,
                    duration_s=0.5,
                    error_class=error,
                    cost_usd=None if error else tokens * 1e-6,
                    service_name="svc",
                )
            ]
        )

    def value(self, name: str, **labels: str) -> float:
        v = self.registry.get_sample_value(name, {"target": "test", **labels})
        return 0.0 if v is None else v
