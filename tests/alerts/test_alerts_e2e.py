"""End to end with real parts: OpenTelemetry SDK → llmpulse (subprocess) → remote write → real
Prometheus (our generated rules, 1 s evaluation) → real Alertmanager (the example routing) → a
webhook sink in this process.

A burst of HTTP 429 chat calls must reach the sink as LLMRateLimitStorm, severity error, routed
to the DingTalk receiver (and archived), with the model and service labels; when the burst stops
the alert must resolve. The rules are the shipped ones with a 15 s short window and a 5 s `for`
(through the generator's overrides), so the test takes well under a minute.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from alerts.generate import ALERTS_FILE, RULES_FILE, load_config, merge, write
from tests.support.promstack import (
    Alertmanager,
    Prometheus,
    WebhookSink,
    free_port,
    http_get,
    stop_process,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_ROUTING = ROOT / "alerts" / "alertmanager.yaml"
# Short window and `for` so the test is quick; everything else is the shipped config.
FAST_RULES = {
    "windows": {"short": "15s"},
    "alerts": {"rate_limit_storm": {"severities": {"error": {"threshold": 0.1, "for": "5s"}}}},
}
MODEL_LABELS = {
    "gen_ai_provider_name": "openai",
    "gen_ai_request_model": "gpt-4o-mini",
    "service_name": "checkout",
}


def fast_routing(sink_url: str) -> str:
    """The example routing with second-scale timings and its webhooks pointed at the sink.

    Only the webhook URLs and timings change: the tree, matchers and inhibitions are the shipped ones.
    """
    config: dict[str, Any] = yaml.safe_load(EXAMPLE_ROUTING.read_text())
    routes = [config["route"], *config["route"]["routes"]]
    for route in routes:
        for key, value in (("group_wait", "1s"), ("group_interval", "1s"), ("repeat_interval", "1h")):
            if key in route or route is config["route"]:
                route[key] = value
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{sink_url}/{receiver['name']}"
    return yaml.safe_dump(config, sort_keys=False)


@contextmanager
def llmpulse_serve(tmp: Path, remote_write_url: str) -> Iterator[dict[str, str]]:
    """``llmpulse serve`` as a subprocess on free ports, remote-writing every second."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "llmpulse.yaml"
    config.write_text(yaml.safe_dump({"remote_write": {"send_interval_s": 1}}))
    ports = {"grpc": free_port(), "http": free_port(), "metrics": free_port()}
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "processors"), os.environ.get("PYTHONPATH")])),
    }
    log = (tmp / "llmpulse.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmpulse",
            "serve",
            "--config",
            str(config),
            "--otlp-grpc-endpoint",
            f"127.0.0.1:{ports['grpc']}",
            "--otlp-http-endpoint",
            f"127.0.0.1:{ports['http']}",
            "--metrics-endpoint",
            f"127.0.0.1:{ports['metrics']}",
            "--remote-write-url",
            remote_write_url,
            "--data-dir",
            str(tmp / "data"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    log.close()
    metrics_url = f"http://127.0.0.1:{ports['metrics']}"

    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(
                    f"llmpulse exited with {proc.returncode}:\n{(tmp / 'llmpulse.log').read_text()}"
                )
            with contextlib.suppress(OSError):
                if http_get(metrics_url + "/readyz", timeout=1)[0] == 200:
                    break
            assert time.monotonic() < deadline, (
                "llmpulse not ready after 30s:\n" + (tmp / "llmpulse.log").read_text()
            )
            time.sleep(0.2)
        yield {"grpc": f"127.0.0.1:{ports['grpc']}", "metrics": metrics_url, "log": str(tmp / "llmpulse.log")}
    finally:
        stop_process(proc)


class RateLimitBurst:
    """Sends chat spans that failed with HTTP 429 through the OpenTelemetry SDK until stopped."""

    def __init__(self, grpc_endpoint: str) -> None:
        self.provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
        self.provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://{grpc_endpoint}", insecure=True))
        )
        self.tracer = self.provider.get_tracer("llmpulse-alerts-e2e")
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rate-limit-burst", daemon=True)

    def _one_call(self) -> None:
        with self.tracer.start_as_current_span(
            "chat gpt-4o-mini",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "error.type": "RateLimitError",
                "http.response.status_code": 429,
            },
        ) as span:
            span.set_status(Status(StatusCode.ERROR, "Error code: 429 - Rate limit reached"))
        self.sent += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self._one_call()
            self._stop.wait(0.2)  # ~5 calls/s

    def __enter__(self) -> RateLimitBurst:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.provider.shutdown()


def _is(doc: dict[str, Any], receiver: str, status: str) -> bool:
    return (
        doc.get("receiver") == receiver
        and doc.get("status") == status
        and any(a["labels"].get("alertname") == "LLMRateLimitStorm" for a in doc.get("alerts", []))
    )


def test_rate_limit_burst_fires_and_resolves_through_the_real_stack(tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules"
    write(merge(load_config(), FAST_RULES), rules_dir)
    with (
        WebhookSink() as sink,
        Alertmanager.start(tmp_path / "am", config_text=fast_routing(sink.url)) as am,
        Prometheus.start(
            tmp_path / "prom",
            rule_files=[rules_dir / RULES_FILE, rules_dir / ALERTS_FILE],
            alertmanager_urls=[am.url],
        ) as prom,
        llmpulse_serve(tmp_path / "llmpulse", prom.remote_write_url) as gateway,
    ):
        with RateLimitBurst(gateway["grpc"]) as burst:
            try:
                firing = sink.wait_for(lambda d: _is(d, "team-dingtalk", "firing"), timeout=90)
            except TimeoutError as e:
                series = prom.query('{__name__=~"gen_ai_.*|llm:.*"}')
                raise AssertionError(
                    f"{e}\nsent {burst.sent} spans; Prometheus series: {series[:5]}\n"
                    f"alerts in Prometheus: {prom.alerts()}\nllmpulse log:\n"
                    + Path(gateway["log"]).read_text()[-3000:]
                ) from e
            burst.stop()

        # The call went through llmpulse: classified, labelled per replica, remote-written (this
        # Prometheus scrapes nothing, so every sample arrived by remote write).
        raw = prom.query('gen_ai_client_operation_duration_seconds_count{error_type="rate_limit"}')
        assert len(raw) == 1
        labels = raw[0]["metric"]
        assert {k: labels.get(k) for k in (*MODEL_LABELS, "gen_ai_operation_name")} == {
            **MODEL_LABELS,
            "gen_ai_operation_name": "chat",
        }
        assert labels["llmpulse_instance"]
        assert "job" not in labels

        [alert] = [a for a in firing["alerts"] if a["labels"]["alertname"] == "LLMRateLimitStorm"]
        assert alert["status"] == "firing"
        assert alert["labels"] == {"alertname": "LLMRateLimitStorm", "severity": "error", **MODEL_LABELS}
        assert alert["annotations"] == {
            "summary": "LLM calls to gpt-4o-mini from checkout are rate limited.",
            "description": "100% of calls to model gpt-4o-mini (openai) called by service checkout were rate "
            "limited (HTTP 429) over the last 15s (threshold 10%).",
            "runbook_url": "https://github.com/llmpulse/llmpulse/blob/main/alerts/runbook.md#llmratelimitstorm",
        }
        assert firing["groupLabels"] == {
            "alertname": "LLMRateLimitStorm",
            "gen_ai_request_model": "gpt-4o-mini",
            "service_name": "checkout",
        }
        # The archive route (continue: true) saw it too; nothing went to the other severities' hooks.
        sink.wait_for(lambda d: _is(d, "archive-webhook", "firing"), timeout=10)

        # Burst over: the 15 s window empties, Prometheus resolves, Alertmanager notifies.
        resolved = sink.wait_for(lambda d: _is(d, "team-dingtalk", "resolved"), timeout=90)
        [alert] = [a for a in resolved["alerts"] if a["labels"]["alertname"] == "LLMRateLimitStorm"]
        assert alert["status"] == "resolved"
        assert alert["labels"] == {"alertname": "LLMRateLimitStorm", "severity": "error", **MODEL_LABELS}
        receivers = {d["receiver"] for d in sink.notifications}
        assert receivers == {"team-dingtalk", "archive-webhook"}
