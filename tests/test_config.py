"""Config loading: file < LLMPULSE_* < flags, every problem reported with its key path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmpulse.config import ConfigError, load_config

BAD = """
receivers:
  grpc:
    endpoint: localhost
    thrift: true
  http:
    max_request_body_size_mib: 0
metrics:
  dimensions:
    - name: 1bad
      sources: [tenant]
    - name: service_name
      sources: [x]
enrich:
  redaction:
    content: sometimes
"""


def test_every_problem_is_reported_with_its_key_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    problems = info.value.problems
    assert any(p.startswith("`receivers.grpc.endpoint`: must be host:port") for p in problems)
    assert "`receivers.grpc.thrift`: unknown key" in "\n".join(problems)
    assert any(
        p.startswith("`receivers.http.max_request_body_size_mib`: Input should be greater than or equal to 1")
        for p in problems
    )
    assert any(p.startswith("`metrics.dimensions.0.name`: must be a Prometheus label name") for p in problems)
    assert any(
        p.startswith("`enrich.redaction.content`: Input should be 'drop', 'truncate' or 'keep'")
        for p in problems
    )
    assert len(problems) == 5


def test_check_config_cli_prints_problems_and_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    result = subprocess.run(
        [sys.executable, "-m", "llmpulse", "check-config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "5 problem(s)" in result.stdout
    assert "`receivers.grpc.thrift`: unknown key" in result.stdout
    good = tmp_path / "good.yaml"
    good.write_text("receivers:\n  grpc:\n    endpoint: 0.0.0.0:4317\nmetrics:\n  cardinality_limit: 500\n")
    result = subprocess.run(
        [sys.executable, "-m", "llmpulse", "check-config", str(good)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout.strip()) == (0, f"{good}: OK")


def test_precedence_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "receivers:\n  grpc:\n    endpoint: 127.0.0.1:1111\n  http:\n    endpoint: 127.0.0.1:2222\n"
        "metrics:\n  cardinality_limit: 50\n"
    )
    environ = {
        "LLMPULSE_OTLP_HTTP_ENDPOINT": "127.0.0.1:3333",
        "LLMPULSE_METRICS__CARDINALITY_LIMIT": "70",
        "LLMPULSE_ENRICH__REDACTION__CONTENT": "truncate",
        "LLMPULSE_REMOTE_WRITE_URL": "http://a:9090/api/v1/write,http://b:9009/api/v1/push",
        "LLMPULSE_REQUIRE_NATIVE": "1",  # not a configuration key (llmpulse.otlp.scan reads it)
    }
    config = load_config(
        path, environ=environ, flags={"otlp_grpc_endpoint": "127.0.0.1:4444", "data_dir": "/tmp/x"}
    )
    assert config.receivers.grpc.endpoint == "127.0.0.1:4444"
    assert config.receivers.http.endpoint == "127.0.0.1:3333"
    assert config.metrics.cardinality_limit == 70
    assert config.enrich.redaction.content == "truncate"
    assert [t.url for t in config.remote_write.targets] == [
        "http://a:9090/api/v1/write",
        "http://b:9009/api/v1/push",
    ]
    assert str(config.data_dir) == "/tmp/x"


def test_defaults_bind_to_loopback_and_drop_content() -> None:
    config = load_config(None, environ={})
    assert config.receivers.grpc.endpoint == "127.0.0.1:4317"
    assert config.receivers.http.endpoint == "127.0.0.1:4318"
    assert config.metrics.endpoint == "127.0.0.1:9464"
    assert config.enrich.redaction.content == "drop"
    assert [d.name for d in config.metrics.dimensions] == [
        "tenant",
        "k8s_namespace_name",
        "k8s_deployment_name",
        "api_key",
    ]


def test_secrets_are_not_in_the_config_repr() -> None:
    config = load_config(None, environ={"LLMPULSE_RECEIVERS__AUTH__BEARER_TOKENS": "[topsecret]"})
    assert config.receivers.auth.tokens() == ["topsecret"]
    assert "topsecret" not in repr(config)
