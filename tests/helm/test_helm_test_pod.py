"""The `helm test` pod, run for real: the command and environment rendered by the chart, pointed
at a real in-process llmpulse (127.0.0.1 stands in for the Service names), must send one span
with the OpenTelemetry SDK and find it counted once on /metrics, and must fail when it cannot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helm.conftest import ci_values, render
from tests.support.gateway import gateway_config, running_gateway


def helm_test_pod(values: dict[str, Any]) -> dict[str, Any]:
    rendered = render(values)
    pods = rendered.of("Pod")
    assert len(pods) == 1
    pod = pods[0]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    return pod


def run_test_pod(
    pod: dict[str, Any], overrides: dict[str, str], timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    container = pod["spec"]["containers"][0]
    command = container["command"]
    assert command[:2] == ["python", "-c"]
    env = {e["name"]: e["value"] for e in container["env"]}
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "-c", command[2]],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def _local(config: Any) -> dict[str, str]:
    return {
        "LLMPULSE_TEST_OTLP_ENDPOINT": config.receivers.grpc.endpoint,
        "LLMPULSE_TEST_METRICS_HOST": "127.0.0.1",
        "LLMPULSE_TEST_METRICS_PORT": config.metrics.endpoint.rsplit(":", 1)[1],
        "LLMPULSE_TEST_TIMEOUT_S": "5",
    }


def test_the_test_pod_passes_against_a_running_llmpulse(tmp_path: Path) -> None:
    pod = helm_test_pod({})
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["LLMPULSE_TEST_OTLP_ENDPOINT"] == "demo-llmpulse.obs.svc:4317"
    assert env["LLMPULSE_TEST_METRICS_HOST"] == "demo-llmpulse-headless.obs.svc"
    config = gateway_config(tmp_path / "data")
    with running_gateway(config) as gw:
        result = run_test_pod(pod, _local(config))
        assert result.returncode == 0, result.stderr
        assert "OK: the call is on /metrics" in result.stdout
        calls = [
            s
            for family in gw.registry.collect()
            for s in family.samples
            if s.name == "gen_ai_client_operation_duration_seconds_count"
            and s.labels.get("service_name", "").startswith("llmpulse-helm-test-")
        ]
        assert [(c.labels["gen_ai_request_model"], c.value) for c in calls] == [("llmpulse-helm-test", 1.0)]


def test_the_test_pod_sends_the_client_token_when_auth_is_on(tmp_path: Path) -> None:
    values = ci_values("ha")
    pod = helm_test_pod(values)
    token_env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}[
        "LLMPULSE_TEST_TOKEN_FILE"
    ]
    assert token_env == "/etc/llmpulse/auth/client-token"
    mount = pod["spec"]["containers"][0]["volumeMounts"][0]
    assert (mount["mountPath"], pod["spec"]["volumes"][0]["secret"]["items"][0]["key"]) == (
        "/etc/llmpulse/auth",
        "client-token",
    )
    token_file = tmp_path / "client-token"
    token_file.write_text(values["auth"]["tokens"][0] + "\n")
    config = gateway_config(
        tmp_path / "data", receivers={"auth": {"bearer_tokens": values["auth"]["tokens"]}}
    )
    with running_gateway(config):
        ok = run_test_pod(pod, {**_local(config), "LLMPULSE_TEST_TOKEN_FILE": str(token_file)})
        assert ok.returncode == 0, ok.stderr
        token_file.write_text("not-the-right-token-000000\n")
        refused = run_test_pod(pod, {**_local(config), "LLMPULSE_TEST_TOKEN_FILE": str(token_file)})
    assert refused.returncode == 1
    assert "FAIL: OTLP export to" in refused.stderr


def test_the_test_pod_fails_when_nothing_is_counted(tmp_path: Path) -> None:
    """A receiver that accepts but a /metrics that never shows the call (another replica set)."""
    pod = helm_test_pod({})
    receiving, other = gateway_config(tmp_path / "a"), gateway_config(tmp_path / "b")
    with running_gateway(receiving), running_gateway(other):
        result = run_test_pod(
            pod,
            {
                **_local(receiving),
                "LLMPULSE_TEST_METRICS_PORT": other.metrics.endpoint.rsplit(":", 1)[1],
                "LLMPULSE_TEST_TIMEOUT_S": "2",
            },
        )
    assert result.returncode == 1
    assert "did not show on /metrics of 127.0.0.1" in result.stderr
