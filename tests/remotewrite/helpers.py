"""Remote-write test helpers: llmpulse as a real subprocess, LLM calls through the real
OpenTelemetry SDK, and the exact totals those calls must produce in Prometheus."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.support.promstack import Prometheus, free_port, http_get, wait_until

ROOT = Path(__file__).resolve().parents[2]
#: processors/llmpulse/enrich/prices.yaml, gpt-4o-mini, USD per token
PRICE_INPUT, PRICE_CACHE_READ, PRICE_OUTPUT = 0.15e-6, 0.075e-6, 0.60e-6
MODEL, RESPONSE_MODEL = "gpt-4o-mini", "gpt-4o-mini-2024-07-18"


@dataclass
class Totals:
    """What a run of calls must add up to in Prometheus."""

    requests: int = 0
    errors: int = 0
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cost: float = 0.0

    def add(self, other: Totals) -> None:
        for name in ("requests", "errors", "input", "output", "cache_read", "cost"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class LLMClient:
    """The real OTel SDK sending semconv GenAI spans over OTLP/gRPC; every ``send`` returns once
    the Export call was acknowledged (SimpleSpanProcessor exports synchronously)."""

    def __init__(self, grpc_endpoint: str, service: str = "checkout") -> None:
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.exporter = OTLPSpanExporter(endpoint=f"http://{grpc_endpoint}", insecure=True, timeout=10)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests.remotewrite")

    def chat(self, i: int) -> Totals:
        """One successful call with usage numbers that differ per ``i``."""
        inp, out, cached = 100 + i, 20 + i % 7, 64 if i % 3 == 0 else 0
        self._span(
            {
                "gen_ai.usage.input_tokens": inp,
                "gen_ai.usage.output_tokens": out,
                "gen_ai.usage.cache_read.input_tokens": cached,
                "gen_ai.response.model": RESPONSE_MODEL,
            },
            error=False,
        )
        cost = (inp - cached) * PRICE_INPUT + cached * PRICE_CACHE_READ + out * PRICE_OUTPUT
        return Totals(requests=1, input=inp, output=out, cache_read=cached, cost=cost)

    def rate_limited(self) -> Totals:
        self._span({"error.type": "RateLimitError", "http.response.status_code": 429}, error=True)
        return Totals(requests=1, errors=1)

    def _span(self, attributes: dict[str, Any], *, error: bool) -> None:
        start = time.time_ns()
        span = self.tracer.start_span(f"chat {MODEL}", kind=SpanKind.CLIENT, start_time=start)
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": MODEL,
                **attributes,
            }
        )
        if error:
            span.set_status(Status(StatusCode.ERROR, "rate limited"))
        span.end(end_time=start + 350_000_000)

    def run(self, calls: int, offset: int = 0) -> Totals:
        """``calls`` calls, every fifth one rate-limited."""
        totals = Totals()
        for i in range(offset, offset + calls):
            totals.add(self.rate_limited() if i % 5 == 4 else self.chat(i))
        return totals

    def close(self) -> None:
        self.provider.shutdown()


class LLMPulse:
    """``python -m llmpulse serve`` on free loopback ports with its own data dir and config."""

    def __init__(self, workdir: Path, remote_write_url: str, config: dict[str, Any] | None = None) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        workdir.mkdir(parents=True, exist_ok=True)
        self.grpc = f"127.0.0.1:{free_port()}"
        self.http = f"127.0.0.1:{free_port()}"
        self.metrics = f"127.0.0.1:{free_port()}"
        self.remote_write_url = remote_write_url
        tree: dict[str, Any] = {
            "remote_write": {
                "send_interval_s": 1,
                "retry": {"initial_interval_s": 0.2, "max_interval_s": 1.0},
            },
            "state": {"checkpoint_interval_s": 2},
        }
        for key, value in (config or {}).items():
            tree[key] = {**tree.get(key, {}), **value} if isinstance(value, dict) else value
        self.config_path = workdir / "cfg.yaml"
        self.config_path.write_text(yaml.safe_dump(tree))
        self.log_path = workdir / "llmpulse.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LLMPulse:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "processors")}
        env = {k: v for k, v in env.items() if not k.startswith("LLMPULSE_")}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "llmpulse",
                    "serve",
                    "--otlp-grpc-endpoint",
                    self.grpc,
                    "--otlp-http-endpoint",
                    self.http,
                    "--metrics-endpoint",
                    self.metrics,
                    "--remote-write-url",
                    self.remote_write_url,
                    "--data-dir",
                    str(self.data_dir),
                    "--config",
                    str(self.config_path),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"llmpulse exited with {self.proc.returncode}:\n{self.log()}")
            return http_get(f"http://{self.metrics}/readyz", timeout=1)[0] == 200

        try:
            wait_until(ready, timeout=30, interval=0.1, what="llmpulse /readyz")
        except BaseException:
            self.kill()
            raise
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def scrape(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """A sample from /metrics (None when absent)."""
        from prometheus_client.parser import text_string_to_metric_families

        _, body = http_get(f"http://{self.metrics}/metrics")
        for family in text_string_to_metric_families(body.decode()):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in (labels or {}).items()):
                    return float(s.value)
        return None

    def stop(self) -> int | None:
        """SIGTERM and wait (graceful: final send, checkpoint)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"llmpulse did not stop on SIGTERM:\n{self.log()}") from None

    def kill(self) -> None:
        """SIGKILL: no flush, no checkpoint."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


SELECTOR = f'gen_ai_request_model="{MODEL}"'


def prom_totals(prom: Prometheus) -> Totals:
    """The totals Prometheus holds (summed over instances, models' response variants, errors)."""

    def q(expr: str) -> float:
        value = prom.query_value(expr)
        return 0.0 if value is None else value

    tokens = "sum(gen_ai_client_tokens_total{%s, gen_ai_token_type=%r})"
    return Totals(
        requests=round(q(f"sum(gen_ai_client_operation_duration_seconds_count{{{SELECTOR}}})")),
        errors=round(
            q(f'sum(gen_ai_client_operation_duration_seconds_count{{{SELECTOR}, error_type="rate_limit"}})')
        ),
        input=round(q(tokens % (SELECTOR, "input"))),
        output=round(q(tokens % (SELECTOR, "output"))),
        cache_read=round(q(tokens % (SELECTOR, "cache_read"))),
        cost=q(f"sum(gen_ai_client_cost_usd_total{{{SELECTOR}}})"),
    )


def assert_totals(prom: Prometheus, expected: Totals, timeout: float = 30) -> None:
    """Wait until Prometheus holds exactly ``expected`` (cost to 1e-9 USD), then check it."""

    def match() -> bool:
        got = prom_totals(prom)
        return (got.requests, got.errors, got.input, got.output, got.cache_read) == (
            expected.requests,
            expected.errors,
            expected.input,
            expected.output,
            expected.cache_read,
        ) and abs(got.cost - expected.cost) < 1e-9

    try:
        wait_until(match, timeout=timeout, interval=0.5, what="exact totals in Prometheus")
    except TimeoutError:
        raise AssertionError(f"Prometheus has {prom_totals(prom)}, expected {expected}") from None


def prometheus_counter(prom: Prometheus, name: str, **labels: str) -> float:
    """A sample from Prometheus' own /metrics, summed over the series matching ``labels``
    (a value ending in ``*`` matches by prefix)."""
    from prometheus_client.parser import text_string_to_metric_families

    def match(have: dict[str, str]) -> bool:
        return all(
            have.get(k, "").startswith(v[:-1]) if v.endswith("*") else have.get(k) == v
            for k, v in labels.items()
        )

    _, body = http_get(prom.url + "/metrics")
    total = 0.0
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if s.name == name and match(s.labels):
                total += s.value
    return total
