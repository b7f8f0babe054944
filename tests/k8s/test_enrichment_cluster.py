"""Kubernetes enrichment end to end: a real gateway, the real ``kubernetes`` client listing and
watching kmock's API emulator, spans sent by the OpenTelemetry SDK from a pod's IP (127.0.0.1 is
the pod's IP here), and the k8s attributes checked on the forwarded span and as metric labels."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from llmpulse.config import validate
from llmpulse.config._model import KubernetesConfig
from llmpulse.k8s import KubernetesUnavailable, build_enricher
from llmpulse.otlp import attrs_to_dict
from llmpulse.server import Gateway
from tests.k8s.conftest import FakeCluster
from tests.support.gateway import CaptureExporter, endpoints, gateway_config, running_gateway

DURATION_COUNT = "gen_ai_client_operation_duration_seconds_count"
LLM_ATTRS = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.usage.input_tokens": 120,
    "gen_ai.usage.output_tokens": 30,
}


def send_span(gw: Gateway, service: str, *, protocol: str = "grpc", **resource: str) -> None:
    """One LLM span through the OpenTelemetry SDK; returns once the Export call has returned."""
    ep = endpoints(gw.config)
    exporter = (
        GRPCExporter(endpoint=ep["grpc"], insecure=True)
        if protocol == "grpc"
        else HTTPExporter(endpoint=f"{ep['http']}/v1/traces")
    )
    provider = TracerProvider(resource=Resource.create({"service.name": service, **resource}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("k8s-test").start_span("chat gpt-4o-mini", kind=SpanKind.CLIENT)
    for key, value in LLM_ATTRS.items():
        span.set_attribute(key, value)
    span.end()
    provider.shutdown()


def calls(gw: Gateway, service: str, **labels: str | None) -> float:
    """Sum of the call counter for ``service`` over series whose labels match (``None``: absent)."""
    total = 0.0
    for family in gw.registry.collect():
        for sample in family.samples:
            if sample.name != DURATION_COUNT or sample.labels.get("service_name") != service:
                continue
            if all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def resource_of_last_span(capture: CaptureExporter) -> dict[str, object]:
    signal, request = capture.requests[-1]
    assert signal == "traces"
    return attrs_to_dict(request.resource_spans[0].resource.attributes)  # type: ignore[attr-defined]


@pytest.fixture
def k8s_gateway(tmp_path: Path, cluster: FakeCluster, capture: CaptureExporter) -> Iterator[Gateway]:
    # Present before start: reaches the index through the initial list, not the watch.
    cluster.add_replicaset("shop", "checkout-7d9c5b8f4d", deployment="checkout")
    config = gateway_config(
        tmp_path / "data",
        kubernetes={"enabled": True, "kubeconfig": str(cluster.kubeconfig), "pod_labels": ["team"]},
    )
    with running_gateway(config, capture) as gw:
        assert gw.k8s is not None and gw.k8s.synced, "startup waits for the first lists"
        yield gw


def test_watch_adds_and_removes_pods_and_spans_follow(
    k8s_gateway: Gateway, cluster: FakeCluster, capture: CaptureExporter
) -> None:
    gw = k8s_gateway
    assert gw.k8s is not None
    send_span(gw, "cart")  # no pod has 127.0.0.1 yet
    assert calls(gw, "cart", k8s_namespace_name=None, k8s_deployment_name=None) == 1
    assert "k8s.pod.name" not in resource_of_last_span(capture)

    cluster.add_pod(
        "shop",
        "checkout-7d9c5b8f4d-x2x7q",
        "127.0.0.1",
        node="node-b",
        replicaset="checkout-7d9c5b8f4d",
        template_hash="7d9c5b8f4d",
        labels={"team": "payments"},
    )
    wait_for(lambda: gw.k8s is not None and gw.k8s.index.get_ip("127.0.0.1") is not None, "pod ADDED")
    send_span(gw, "cart")
    resource = resource_of_last_span(capture)
    assert {k: v for k, v in resource.items() if k.startswith("k8s.")} == {
        "k8s.pod.name": "checkout-7d9c5b8f4d-x2x7q",
        "k8s.pod.uid": "uid-shop-checkout-7d9c5b8f4d-x2x7q",
        "k8s.namespace.name": "shop",
        "k8s.node.name": "node-b",
        "k8s.replicaset.name": "checkout-7d9c5b8f4d",
        "k8s.deployment.name": "checkout",
        "k8s.pod.label.team": "payments",
    }
    assert calls(gw, "cart", k8s_namespace_name="shop", k8s_deployment_name="checkout") == 1
    assert calls(gw, "cart") == 2

    cluster.delete_pod("shop", "checkout-7d9c5b8f4d-x2x7q")
    wait_for(lambda: gw.k8s is not None and gw.k8s.index.get_ip("127.0.0.1") is None, "pod DELETED")
    send_span(gw, "cart", protocol="http")  # the HTTP receiver's peer (request.remote) too
    assert "k8s.pod.name" not in resource_of_last_span(capture)
    assert calls(gw, "cart", k8s_namespace_name=None, k8s_deployment_name=None) == 2
    assert calls(gw, "cart", k8s_namespace_name="shop", k8s_deployment_name="checkout") == 1

    value = gw.registry.get_sample_value
    assert value("llmpulse_k8s_watch_events_total", {"resource": "pods", "type": "DELETED"}) == 1
    assert value("llmpulse_k8s_lookups_total", {"result": "hit"}) == 1
    assert value("llmpulse_k8s_lookups_total", {"result": "miss"}) == 2
    assert value("llmpulse_k8s_pods", {}) == 0


def test_pod_ip_on_the_resource_wins_over_the_connection(
    k8s_gateway: Gateway, cluster: FakeCluster, capture: CaptureExporter
) -> None:
    """A node agent or proxy forwards for many pods: the pod it names beats the peer address."""
    gw = k8s_gateway
    cluster.add_pod("shop", "checkout-7d9c5b8f4d-aaaaa", "127.0.0.1", replicaset="checkout-7d9c5b8f4d")
    cluster.add_replicaset("jobs", "batch-6c8f9d7b5", deployment="batch-runner")  # through the watch
    cluster.add_pod("jobs", "batch-6c8f9d7b5-zzzzz", "10.42.0.17", replicaset="batch-6c8f9d7b5")
    assert gw.k8s is not None
    wait_for(
        lambda: (
            gw.k8s is not None
            and (meta := gw.k8s.index.lookup_ip("10.42.0.17")) is not None
            and meta.get("k8s.deployment.name") == "batch-runner"
        ),
        "ReplicaSet and pod ADDED",
    )
    send_span(gw, "batch", protocol="http", **{"k8s.pod.ip": "10.42.0.17"})
    resource = resource_of_last_span(capture)
    assert resource["k8s.pod.name"] == "batch-6c8f9d7b5-zzzzz"
    assert resource["k8s.namespace.name"] == "jobs"
    assert resource["k8s.pod.ip"] == "10.42.0.17"  # what the sender set is kept as it was
    assert calls(gw, "batch", k8s_namespace_name="jobs", k8s_deployment_name="batch-runner") == 1


def test_stop_ends_the_watch_threads_promptly(tmp_path: Path, cluster: FakeCluster) -> None:
    config = gateway_config(
        tmp_path / "d", kubernetes={"enabled": True, "kubeconfig": str(cluster.kubeconfig)}
    )
    with running_gateway(config) as gw:
        assert gw.k8s is not None
        informers = list(gw.k8s.informers)
        assert [i.resource for i in informers] == ["pods", "replicasets"]
        started = time.monotonic()
    assert time.monotonic() - started < 5
    assert not any(i._thread is not None and i._thread.is_alive() for i in informers)


def test_enabled_true_without_a_cluster_fails_at_startup(tmp_path: Path) -> None:
    config = gateway_config(
        tmp_path / "d", kubernetes={"enabled": True, "kubeconfig": str(tmp_path / "missing-kubeconfig")}
    )
    with pytest.raises(
        KubernetesUnavailable, match=r"`kubernetes.enabled` is true but no cluster configuration"
    ):
        Gateway(config)


def test_auto_is_off_outside_a_cluster_and_without_credentials() -> None:
    registry = CollectorRegistry()
    assert build_enricher(KubernetesConfig(), registry, environ={}) is None
    assert (
        build_enricher(KubernetesConfig(enabled=False), registry, environ={"KUBERNETES_SERVICE_HOST": "x"})
        is None
    )
    # In a pod without a service-account token mounted: auto turns itself off instead of failing.
    in_pod = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert build_enricher(KubernetesConfig(), registry, environ=in_pod) is None
    with pytest.raises(KubernetesUnavailable):
        build_enricher(KubernetesConfig(enabled=True), registry, environ=in_pod)


def test_config_section_validates_with_key_paths() -> None:
    from llmpulse.config import ConfigError

    assert validate({"kubernetes": {"enabled": "auto"}}).kubernetes.enabled == "auto"
    assert validate({"kubernetes": {"enabled": False}}).kubernetes.enabled is False
    with pytest.raises(ConfigError) as info:
        validate({"kubernetes": {"association": ["k8s.pod.name"], "max_pods": 0, "watch_pods": True}})
    problems = "\n".join(info.value.problems)
    assert "`kubernetes.association.0`" in problems
    assert "`kubernetes.max_pods`" in problems
    assert "`kubernetes.watch_pods`: unknown key" in problems


def test_expired_watch_relists_and_keeps_following(cluster: FakeCluster) -> None:
    """``410 Gone`` on the watch (resourceVersion compacted away): relist, then watch again."""
    import kmock

    expired = {"kind": "Status", "apiVersion": "v1", "code": 410, "reason": "Expired", "message": "too old"}
    cluster.emulator[kmock.action.WATCH, kmock.resource("v1/pods")][:1] << (
        {"type": "ERROR", "object": expired},
    )
    registry = CollectorRegistry()
    config = KubernetesConfig(enabled=True, kubeconfig=cluster.kubeconfig, watch_replicasets=False)
    enricher = build_enricher(config, registry)
    assert enricher is not None
    try:
        assert enricher.start()
        wait_for(
            lambda: (
                registry.get_sample_value(
                    "llmpulse_k8s_watch_restarts_total", {"resource": "pods", "reason": "expired"}
                )
                == 1
            ),
            "the expired watch to be counted",
        )
        cluster.add_pod("shop", "late", "10.0.3.3")
        wait_for(lambda: enricher.index.get_ip("10.0.3.3") is not None, "the pod through the new watch")
        assert len(cluster.emulator[kmock.action.LIST]) == 2  # the initial list and the relist
        assert enricher.enrich({}, "ipv4:10.0.3.3:40000")["k8s.pod.name"] == "late"
    finally:
        enricher.stop()


@pytest.mark.parametrize("namespaces", [[], ["shop", "search"]])
def test_the_charts_rbac_covers_exactly_the_calls_the_watch_makes(
    cluster: FakeCluster, namespaces: list[str]
) -> None:
    """Every API call the enricher makes is allowed by the chart's (Cluster)Role, and the role
    allows nothing it does not use: RBAC only as wide as enrichment needs."""
    from tests.helm.conftest import render

    config = KubernetesConfig(enabled=True, kubeconfig=cluster.kubeconfig, namespaces=namespaces)
    enricher = build_enricher(config, CollectorRegistry())
    assert enricher is not None
    import kmock

    scopes = namespaces or [None]
    try:
        assert enricher.start()
        wait_for(lambda: len(list(cluster.emulator[kmock.action.WATCH])) == 2 * len(scopes), "the watches")
    finally:
        enricher.stop()
    verb = {"list": "list", "watch": "watch"}
    made = {
        (
            request.resource.group,
            request.resource.plural,
            verb[request.action.name.lower()],
            request.namespace,
        )
        for request in cluster.emulator
    }
    assert made == {
        (group, plural, v, ns)
        for group, plural in (("", "pods"), ("apps", "replicasets"))
        for v in ("list", "watch")
        for ns in scopes
    }
    chart = render({"kubernetesMetadata": {"enabled": True, "namespaces": namespaces, "podLabels": []}})
    roles = chart.of("Role") if namespaces else chart.of("ClusterRole")
    assert sorted(r["metadata"].get("namespace") or "" for r in roles) == sorted(ns or "" for ns in scopes)
    for role in roles:
        granted = {
            (group, resource, v)
            for rule in role["rules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for v in rule["verbs"]
        }
        used = {(g, p, v) for g, p, v, ns in made if ns == role["metadata"].get("namespace")}
        assert used <= granted
        assert granted - used == {
            ("", "pods", "get"),
            ("apps", "replicasets", "get"),
        }  # get: kubectl-style reads


def test_stop_right_after_start_does_not_leave_a_watch_open(cluster: FakeCluster) -> None:
    """stop() while a thread is still listing or opening its watch: no thread outlives it."""
    for _ in range(5):
        config = KubernetesConfig(enabled=True, kubeconfig=cluster.kubeconfig, wait_for_sync_s=0)
        enricher = build_enricher(config, CollectorRegistry())
        assert enricher is not None
        enricher.start()
        started = time.monotonic()
        enricher.stop()
        assert time.monotonic() - started < 2
        assert not any(i._thread is not None and i._thread.is_alive() for i in enricher.informers)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_x_forwarded_for_names_the_sender_behind_a_sidecar(
    k8s_gateway: Gateway, cluster: FakeCluster, capture: CaptureExporter, protocol: str
) -> None:
    """Behind a mesh sidecar or proxy the socket peer is the proxy; its first XFF hop is the pod."""
    gw = k8s_gateway
    cluster.add_pod("shop", "checkout-7d9c5b8f4d-bbbbb", "10.42.0.99", replicaset="checkout-7d9c5b8f4d")
    wait_for(lambda: gw.k8s is not None and gw.k8s.index.lookup_ip("10.42.0.99") is not None, "pod ADDED")
    ep = endpoints(gw.config)
    headers = {"x-forwarded-for": "10.42.0.99, 10.0.0.1"}
    exporter = (
        GRPCExporter(endpoint=ep["grpc"], insecure=True, headers=headers)
        if protocol == "grpc"
        else HTTPExporter(endpoint=f"{ep['http']}/v1/traces", headers=headers)
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "proxied"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("k8s-test").start_span("chat gpt-4o-mini", kind=SpanKind.CLIENT)
    for key, value in LLM_ATTRS.items():
        span.set_attribute(key, value)
    span.end()
    provider.shutdown()
    resource = resource_of_last_span(capture)
    assert resource["k8s.pod.name"] == "checkout-7d9c5b8f4d-bbbbb"
    assert calls(gw, "proxied", k8s_namespace_name="shop", k8s_deployment_name="checkout") == 1
