"""The chart, rendered by the Helm v4 SDK for several value sets: lint, Kubernetes schemas for
1.29-1.33 (strict), prometheus-operator CRD schemas, and the wiring between the parts (config the
pod reads, ports, volumes, names one object uses to reach another)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml

from llmpulse.config import validate
from tests.helm.conftest import CHART, CRDS, NAMESPACE, RELEASE, ROOT, VALUE_SETS, Rendered, ci_values, render

KUBE_VERSIONS = ("1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0")
CRD_KINDS = {"PrometheusRule": "prometheusrule-v1", "ServiceMonitor": "servicemonitor-v1"}
FULL = f"{RELEASE}-llmpulse"


def strict(schema: Any) -> Any:
    """Reject unknown fields like the API server's strict field validation (`kubectl apply
    --validate=strict`): every object schema with properties gets additionalProperties: false."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_validator(kind: str) -> jsonschema.Draft7Validator:
    schema = yaml.safe_load((CRDS / f"{CRD_KINDS[kind]}.openapi.yaml").read_text())
    return jsonschema.Draft7Validator(strict(schema))


def container(pod_spec: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod_spec["containers"] if c["name"] == name)


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


# -- lint --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", VALUE_SETS)
def test_lint_strict_is_clean_for_every_value_set(name: str) -> None:
    for kube in ("v1.29.0", "v1.33.0"):
        report = helm_python.lint(CHART, ci_values(name), strict=True, namespace=NAMESPACE, kube_version=kube)
        problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
        assert problems == [], problems


def test_chart_metadata() -> None:
    with helm_python.Chart.load(CHART) as chart:
        meta = chart.metadata
    assert (meta["apiVersion"], meta["name"], meta["kubeVersion"]) == ("v2", "llmpulse", ">=1.29.0-0")
    assert meta["appVersion"] == __import__("llmpulse").__version__  # the image tag is the package's


# -- schemas of the rendered objects -----------------------------------------------------------
@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_object_is_valid_for_kubernetes_1_29_to_1_33(name: str, rendered: dict[str, Rendered]) -> None:
    builtin = [o for o in rendered[name].objects if o["kind"] not in CRD_KINDS]
    assert builtin
    for kube in KUBE_VERSIONS:
        for obj in builtin:
            try:
                kubernetes_validate.validate(obj, kube, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(
                    f"{kube} {obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}"
                )


@pytest.mark.parametrize("name", VALUE_SETS)
def test_prometheus_operator_objects_match_the_crd_schemas(name: str, rendered: dict[str, Rendered]) -> None:
    for kind in CRD_KINDS:
        validator = crd_validator(kind)
        for obj in rendered[name].of(kind):
            errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
            assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_the_crd_check_catches_a_wrong_field() -> None:
    """The vendored schemas are strict enough to matter."""
    monitor = copy.deepcopy(render({}).one("ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    rule = copy.deepcopy(render({}).one("PrometheusRule"))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "5 minutes"
    assert any("intervall" in e.message for e in crd_validator("ServiceMonitor").iter_errors(monitor))
    assert any("does not match" in e.message for e in crd_validator("PrometheusRule").iter_errors(rule))


# -- llmpulse: the pod and the config it reads ---------------------------------------------------
def test_default_llmpulse_pod_is_hardened_and_probed(rendered: dict[str, Rendered]) -> None:
    deployment = rendered["default"].one("Deployment", FULL)
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    main = container(pod, "llmpulse")
    assert main["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports == {"otlp-grpc": 4317, "otlp-http": 4318, "metrics": 9464}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert main["args"] == ["serve", "--config", "/etc/llmpulse/config.yaml"]
    assert env_of(main)["LLMPULSE_INSTANCE"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert main["resources"]["limits"]["memory"] == "1Gi"
    spread = pod["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in spread] == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    assert all(
        c["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"] for c in spread
    )
    service = rendered["default"].one("Service", FULL)
    assert {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        "otlp-grpc": (4317, "otlp-grpc"),
        "otlp-http": (4318, "otlp-http"),
        "metrics": (9464, "metrics"),
    }
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("name", VALUE_SETS)
def test_the_config_is_one_llmpulse_accepts_and_fits_the_pod(
    name: str, rendered: dict[str, Rendered]
) -> None:
    out = rendered[name]
    config = validate(out.config())  # the real config model: unknown keys or bad values raise
    assert config.receivers.grpc.endpoint == "0.0.0.0:4317"
    assert config.receivers.http.endpoint == "0.0.0.0:4318"
    assert config.metrics.endpoint == "0.0.0.0:9464"
    workload = next(w for w in out.of("Deployment") + out.of("StatefulSet") if w["metadata"]["name"] == FULL)
    main = container(workload["spec"]["template"]["spec"], "llmpulse")
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert str(config.data_dir) == mounts["data"]
    values = ci_values(name)
    if values.get("auth", {}).get("enabled"):
        assert config.receivers.auth.bearer_tokens_file == Path(mounts["auth"]) / "tokens"
    else:
        assert config.receivers.auth.bearer_tokens_file is None and "auth" not in mounts
    collector_on = values.get("collector", {}).get("enabled", True)
    endpoints = [t.endpoint for t in config.forward.targets]
    assert endpoints[:1] == ([f"{FULL}-collector.{NAMESPACE}.svc:4317"] if collector_on else [])
    if collector_on:
        collector_service = out.one("Service", f"{FULL}-collector")
        assert {p["port"] for p in collector_service["spec"]["ports"]} == {4317, 4318}
    assert config.kubernetes.enabled is values.get("kubernetesMetadata", {}).get("enabled", True)


def test_config_values_are_passed_through_and_roll_the_pods() -> None:
    base = render({})
    tuned = render(
        {
            "config": {
                "metrics": {"cardinality_limit": 20000},
                "remote_write": {
                    "targets": [{"url": "http://prometheus-operated.monitoring:9090/api/v1/write"}]
                },
            }
        }
    )
    config = validate(tuned.config())
    assert config.metrics.cardinality_limit == 20000
    assert [t.url for t in config.remote_write.targets] == [
        "http://prometheus-operated.monitoring:9090/api/v1/write"
    ]
    assert config.metrics.endpoint == "0.0.0.0:9464"  # the chart's own keys still win

    def checksum(r: Rendered) -> str:
        return r.one("Deployment", FULL)["spec"]["template"]["metadata"]["annotations"]["checksum/config"]  # type: ignore[no-any-return]

    assert checksum(base) != checksum(tuned)
    assert checksum(base) == checksum(render({}))


def test_rbac_is_exactly_what_the_pod_watch_needs(rendered: dict[str, Rendered]) -> None:
    rules = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list", "watch"]},
    ]
    default = rendered["default"]
    role = default.one("ClusterRole", f"{NAMESPACE}-{FULL}")
    assert role["rules"] == rules
    binding = default.one("ClusterRoleBinding", f"{NAMESPACE}-{FULL}")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULL, "namespace": NAMESPACE}]
    pod = default.one("Deployment", FULL)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == FULL and pod["automountServiceAccountToken"] is True
    sts = rendered["statefulset"]
    assert sts.of("ClusterRole") == []
    assert sorted((r["metadata"]["namespace"], r["rules"] == rules) for r in sts.of("Role")) == [
        ("search", True),
        ("shop", True),
    ]
    assert sorted(b["metadata"]["namespace"] for b in sts.of("RoleBinding")) == ["search", "shop"]
    assert validate(sts.config()).kubernetes.namespaces == ["shop", "search"]
    minimal = rendered["minimal"]
    assert minimal.of("ClusterRole") == minimal.of("ServiceAccount") == []
    pod = minimal.one("Deployment", FULL)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "default"


def test_minimal_renders_llmpulse_alone(rendered: dict[str, Rendered]) -> None:
    assert sorted((o["kind"], o["metadata"]["name"]) for o in rendered["minimal"].objects) == [
        ("ConfigMap", FULL),
        ("Deployment", FULL),
        ("Service", FULL),
        ("Service", f"{FULL}-headless"),
    ]
    assert validate(rendered["minimal"].config()).forward.targets == []


def test_ha_values_scale_protect_and_authenticate(rendered: dict[str, Rendered]) -> None:
    ha = rendered["ha"]
    assert "replicas" not in ha.one("Deployment", FULL)["spec"]  # the HPA owns it
    hpa = ha.one("HorizontalPodAutoscaler", FULL)["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"], hpa["scaleTargetRef"]["kind"]) == (3, 12, "Deployment")
    assert {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]} == {
        "cpu": 60,
        "memory": 75,
    }
    assert ha.one("PodDisruptionBudget", FULL)["spec"]["minAvailable"] == 2
    secret = ha.one("Secret", f"{FULL}-auth")["stringData"]
    assert secret["tokens"].split() == ["app-token-0123456789abcdef", "agent-token-0123456789abcdef"]
    assert secret["client-token"] == "app-token-0123456789abcdef"
    policy = ha.one("NetworkPolicy", FULL)["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    otlp_from = policy["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": RELEASE}}} in otlp_from  # helm test
    assert ha.one("NetworkPolicy", f"{FULL}-collector")["spec"]["ingress"][0]["ports"][0]["port"] == 4317
    alerts = [r for g in ha.one("PrometheusRule")["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert alerts and all(r["labels"]["team"] == "ml-platform" and r["labels"]["severity"] for r in alerts)
    assert "LLMHighFailureRate" not in {r["alert"] for r in alerts}
    assert ha.one("PrometheusRule")["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_statefulset_mode_keeps_queues_on_claims(rendered: dict[str, Rendered]) -> None:
    sts_out = rendered["statefulset"]
    assert sts_out.of("Deployment") == [d for d in sts_out.of("Deployment") if d["metadata"]["name"] != FULL]
    sts = sts_out.one("StatefulSet", FULL)["spec"]
    headless = sts_out.one("Service", sts["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    claim = sts["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert "data" not in {v["name"] for v in sts["template"]["spec"]["volumes"]}
    assert sts["replicas"] == 3 and sts["podManagementPolicy"] == "Parallel"


# -- the collector and the node agent ----------------------------------------------------------
ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")  # a reference without a default


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_env_var_a_collector_config_needs_is_set(name: str, rendered: dict[str, Rendered]) -> None:
    out = rendered[name]
    for workload in out.of("Deployment") + out.of("DaemonSet"):
        pod = workload["spec"]["template"]["spec"]
        if pod["containers"][0]["name"] != "otelcol":
            continue
        config_map = out.one("ConfigMap", pod["volumes"][0]["configMap"]["name"])
        needed = set(ENV_REF.findall(config_map["data"]["config.yaml"]))
        assert needed <= set(env_of(pod["containers"][0])), (workload["metadata"]["name"], needed)


def test_default_collector_starts_with_debug_until_destinations_are_set(
    rendered: dict[str, Rendered],
) -> None:
    config = yaml.safe_load(rendered["default"].one("ConfigMap", f"{FULL}-collector")["data"]["config.yaml"])
    assert set(config["exporters"]) == {"debug"}
    assert {p["exporters"][0] for p in config["service"]["pipelines"].values()} == {"debug"}
    assert set(config["receivers"]) == {"otlp"}
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "${env:MY_POD_IP}:4317"
    assert "health_check" in config["service"]["extensions"]
    assert (
        "[WARNING] Collector pipelines logs, metrics, traces, traces/alerts have no configured destination"
        in (rendered["default"].notes)
    )
    gateway = yaml.safe_load((ROOT / "collector-config" / "gateway.yaml").read_text())
    assert config["processors"] == gateway["processors"]  # the source's processors, untouched


def test_configured_destinations_are_kept_and_overlays_merge(rendered: dict[str, Rendered]) -> None:
    ha = rendered["ha"]
    config = yaml.safe_load(ha.one("ConfigMap", f"{FULL}-collector")["data"]["config.yaml"])
    pipelines = config["service"]["pipelines"]
    assert pipelines["logs"]["exporters"] == ["otlphttp/loki"]
    assert pipelines["logs/elasticsearch"]["exporters"] == ["elasticsearch"]  # gateway.elasticsearch.yaml
    assert pipelines["traces/alerts"]["exporters"] == ["alertmanager"]
    assert pipelines["metrics"]["exporters"] == ["debug"]  # METRICS_OTLP_ENDPOINT left empty
    assert "otlphttp/metrics" not in config["exporters"]
    collector = container(ha.one("Deployment", f"{FULL}-collector")["spec"]["template"]["spec"], "otelcol")
    env = env_of(collector)
    assert (
        env["LOKI_ENDPOINT"] == "http://loki.observability:3100/otlp" and "METRICS_OTLP_ENDPOINT" not in env
    )
    assert env["GOMEMLIMIT"] == "409MiB"
    assert collector["image"] == "ghcr.io/llmpulse/otelcol-llmpulse:0.135.0"
    mounts = {m["mountPath"] for m in collector["volumeMounts"]}
    assert "/var/lib/otelcol" in mounts  # the file_storage queue under a read-only root filesystem


def test_agent_reads_pod_logs_and_sends_to_llmpulse_with_a_token(rendered: dict[str, Rendered]) -> None:
    out = rendered["agent"]
    ds = out.one("DaemonSet", f"{FULL}-agent")["spec"]["template"]["spec"]
    agent = container(ds, "otelcol")
    env = env_of(agent)
    service = out.one("Service", FULL)
    assert env["LLMPULSE_OTLP_HTTP_ENDPOINT"] == f"http://{service['metadata']['name']}.{NAMESPACE}.svc:4318"
    assert env["LLMPULSE_TOKEN"] == {"secretKeyRef": {"name": f"{FULL}-auth", "key": "client-token"}}
    assert env["K8S_NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    mounts = {m["mountPath"]: m for m in agent["volumeMounts"]}
    assert mounts["/var/log/pods"]["readOnly"] is True and "/var/lib/otelcol" in mounts
    assert agent["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert agent["securityContext"]["readOnlyRootFilesystem"] is True
    assert ds["tolerations"] == [{"operator": "Exists"}]
    config = yaml.safe_load(out.one("ConfigMap", f"{FULL}-agent")["data"]["config.yaml"])
    exporter = config["exporters"]["otlphttp/llmpulse"]
    assert exporter["headers"]["authorization"] == "Bearer ${env:LLMPULSE_TOKEN}"
    assert exporter["endpoint"] == "${env:LLMPULSE_OTLP_HTTP_ENDPOINT}"
    role = out.one("ClusterRole", f"{NAMESPACE}-{FULL}-agent")  # agent.yaml uses k8sattributes
    assert {r for rule in role["rules"] for r in rule["resources"]} >= {"pods", "replicasets"}
    assert ds["automountServiceAccountToken"] is True


# -- rules and dashboards ----------------------------------------------------------------------
def test_prometheus_rule_holds_every_synced_rule(rendered: dict[str, Rendered]) -> None:
    expected = []
    for path in sorted((CHART / "files" / "alerts").glob("*.yaml")):
        expected += yaml.safe_load(path.read_text())["groups"]
    rule = rendered["default"].one("PrometheusRule", FULL)
    assert rule["spec"]["groups"] == expected
    assert any("{{ $labels." in str(r.get("annotations")) for g in expected for r in g["rules"])


def test_dashboards_are_configmaps_for_the_grafana_sidecar(rendered: dict[str, Rendered]) -> None:
    maps = [
        m for m in rendered["default"].of("ConfigMap") if m["metadata"]["labels"].get("grafana_dashboard")
    ]
    sources = sorted((CHART / "files" / "dashboards").glob("*.json"))
    assert len(maps) == len(sources) >= 1
    by_key = {key: value for m in maps for key, value in m["data"].items()}
    for path in sources:
        assert json.loads(by_key[path.name]) == json.loads(path.read_text())
    assert all(m["metadata"]["labels"]["grafana_dashboard"] == "1" for m in maps)
    assert all(m["metadata"]["annotations"] == {"grafana_folder": "LLM"} for m in maps)
    assert all(len(m["metadata"]["name"]) <= 63 for m in maps)


def test_service_monitor_scrapes_the_main_service_only(rendered: dict[str, Rendered]) -> None:
    out = rendered["default"]
    selector = out.one("ServiceMonitor", FULL)["spec"]["selector"]
    matched = [
        s["metadata"]["name"]
        for s in out.of("Service")
        if all(s["metadata"]["labels"].get(k) == v for k, v in selector["matchLabels"].items())
        and all(e["key"] not in s["metadata"]["labels"] for e in selector["matchExpressions"])
    ]
    assert matched == [FULL]


# -- NOTES.txt: [ERROR] stops, [WARNING] informs ------------------------------------------------
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"auth": {"enabled": True}}, "[ERROR] `auth.enabled` is true but `auth.tokens` is empty"),
        (
            {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}},
            "[ERROR] `autoscaling.minReplicas` (5) is above `autoscaling.maxReplicas` (3)",
        ),
        (
            {"collector": {"env": {"ALERTMANAGER_ENDPOINT": "http://am:9093"}}},
            "which the otelcol-contrib image does not include",
        ),
        ({"collector": {"configFiles": ["absent.yaml"]}}, "files/collector/absent.yaml is not in the chart"),
    ],
)
def test_bad_combinations_fail_with_the_key_and_the_fix(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmRenderError) as info:
        render(values)
    assert message in str(info.value)


def test_warnings_name_risky_combinations(rendered: dict[str, Rendered]) -> None:
    default = rendered["default"].notes
    assert "[WARNING] Neither `auth.enabled` nor `networkPolicy.enabled`" in default
    assert "[WARNING] `mode: deployment` keeps the remote-write WAL" in default
    assert "[ERROR]" not in default
    minimal = rendered["minimal"].notes
    assert "[WARNING] One llmpulse replica" in minimal
    both = render({"config": {"remote_write": {"targets": [{"url": "http://prom:9090/api/v1/write"}]}}}).notes
    assert "[WARNING] `serviceMonitor.enabled` and `config.remote_write.targets` are both set" in both
    assert "[WARNING] `serviceMonitor.enabled`" not in rendered["ha"].notes  # ServiceMonitor off there
    assert "[WARNING] `mode: deployment`" not in rendered["statefulset"].notes
    assert "Node agent pipelines" not in rendered["agent"].notes
    assert "`agent.enabled`: the node agent mounts /var/log/pods" in rendered["agent"].notes
    unset = {
        "agent": {
            "enabled": True,
            "config": {"exporters": {"otlphttp/llmpulse": {"headers": {"x": "${env:NOPE}"}}}},
        }
    }
    assert (
        "[WARNING] Node agent pipelines logs lost their exporters (otlphttp/llmpulse)" in render(unset).notes
    )


def test_traffic_distribution_is_rendered_valid_for_1_31_and_later() -> None:
    service = render({"service": {"type": "ClusterIP", "trafficDistribution": "PreferClose"}}).one(
        "Service", FULL
    )
    assert service["spec"]["trafficDistribution"] == "PreferClose"
    for kube in ("1.31.0", "1.33.0"):
        kubernetes_validate.validate(service, kube, strict=True)


def test_the_rendered_agent_config_passes_a_real_collectors_validate(tmp_path: Path) -> None:
    """`otelcol validate` of what the DaemonSet would run (agent-minimal.yaml, with the token
    header the chart adds), by the otelcol-contrib build the accesslogs tests run. That build has
    no health_check extension, so only the chart's probe endpoint is taken out first."""
    import os
    import subprocess

    otel_collector = pytest.importorskip("otel_collector")
    binary = Path(otel_collector.__file__).parent / "bin" / "otelcol-contrib_linux_amd64"
    out = render(
        {
            "agent": {"enabled": True, "configFiles": ["agent-minimal.yaml"]},
            "auth": {"enabled": True, "tokens": ["agent-token-0123456789abcdef"]},
        }
    )
    config = yaml.safe_load(out.one("ConfigMap", f"{FULL}-agent")["data"]["config.yaml"])
    assert config["exporters"]["otlphttp/llmpulse"]["headers"] == {
        "authorization": "Bearer ${env:LLMPULSE_TOKEN}"
    }
    del config["extensions"]["health_check"]
    config["service"]["extensions"].remove("health_check")
    if not config["extensions"]:
        del config["extensions"]
    if not config["service"]["extensions"]:
        del config["service"]["extensions"]
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    agent = container(out.one("DaemonSet", f"{FULL}-agent")["spec"]["template"]["spec"], "otelcol")
    env = {k: v for k, v in env_of(agent).items() if isinstance(v, str)}
    env |= {
        "LLMPULSE_TOKEN": "agent-token-0123456789abcdef",
        "MY_POD_IP": "127.0.0.1",
        "K8S_NODE_NAME": "node-a",
    }
    result = subprocess.run(
        [str(binary), "validate", "--config", str(path)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    broken = dict(
        config,
        exporters={
            "otlphttp/llmpulse": {"endpoint": "${env:LLMPULSE_OTLP_HTTP_ENDPOINT}", "compressionn": "gzip"}
        },
    )
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run(
        [str(binary), "validate", "--config", str(path)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "compressionn" in result.stderr
