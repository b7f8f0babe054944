"""``KubernetesEnricher``: the ``ResourceEnricher`` that adds the sender pod's metadata.

It owns the pod index, the informers that keep it current and its self-metrics, and decides
whether it runs at all (``kubernetes.enabled``: ``auto`` = only inside a pod or with an explicit
kubeconfig). Lookups are dict reads; the watches run on background threads.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from llmpulse.config._model import KubernetesConfig
from llmpulse.k8s._index import PodIndex, PodMeta
from llmpulse.k8s._peer import peer_ip
from llmpulse.k8s._watch import Handlers, Informer

log = logging.getLogger("llmpulse.k8s")

_INSTALL_HINT = "install the extra: pip install 'llmpulse[kubernetes]'"
_PEER_CACHE_MAX = 4096


def _counting(counter: Counter, resource: str, label: str) -> Callable[[str], None]:
    def inc(value: str) -> None:
        counter.labels(**{"resource": resource, label: value}).inc()

    return inc


class KubernetesUnavailable(RuntimeError):
    """``kubernetes.enabled: true`` but no client library or no cluster configuration."""


def in_cluster(environ: Mapping[str, str] | None = None) -> bool:
    """Running in a pod: the kubelet sets these for every container."""
    env = os.environ if environ is None else environ
    return bool(env.get("KUBERNETES_SERVICE_HOST") and env.get("KUBERNETES_SERVICE_PORT"))


class KubernetesEnricher:
    """Maps a sender to its pod and returns ``k8s.*`` resource attributes.

    Usage::

        enricher = KubernetesEnricher(config.kubernetes, registry, api_client=client)
        enricher.start()                      # lists pods, then watches on a thread
        enricher.enrich({"service.name": "checkout"}, "ipv4:10.1.2.3:41000")
        # {'k8s.pod.name': 'checkout-7d9c…', 'k8s.namespace.name': 'shop',
        #  'k8s.deployment.name': 'checkout', 'k8s.node.name': 'node-a', …}
        enricher.stop()
    """

    def __init__(self, config: KubernetesConfig, registry: CollectorRegistry, *, api_client: Any) -> None:
        from kubernetes import client  # imported here: the extra is optional

        self.config = config
        self._pods_dropped = Counter(
            "llmpulse_k8s_pods_dropped",
            "Pods not indexed because kubernetes.max_pods was reached.",
            registry=registry,
        )
        self.index = PodIndex(
            max_pods=config.max_pods, label_keys=config.pod_labels, on_dropped=self._pods_dropped.inc
        )
        pods = Gauge("llmpulse_k8s_pods", "Pods in the Kubernetes metadata cache.", registry=registry)
        pods.set_function(lambda: len(self.index))
        # Plain ints on the hot path (a prometheus_client Counter.inc takes a lock: ~1.7 us here),
        # read by a collector at scrape time.
        self.hits = self.misses = 0
        registry.register(_LookupCollector(self))
        events = Counter(
            "llmpulse_k8s_watch_events",
            "Kubernetes watch events applied to the cache, by resource and type.",
            ["resource", "type"],
            registry=registry,
        )
        restarts = Counter(
            "llmpulse_k8s_watch_restarts",
            "Relists of a Kubernetes watch, by resource and reason (expired, error).",
            ["resource", "reason"],
            registry=registry,
        )
        core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
        namespaces: list[str | None] = list(config.namespaces) or [None]
        self.informers: list[Informer] = []
        for namespace in namespaces:
            scope: dict[str, Any] = {} if namespace is None else {"namespace": namespace}
            sources: list[tuple[str, Callable[..., Any], Handlers]] = [
                (
                    "pods",
                    core.list_pod_for_all_namespaces if namespace is None else core.list_namespaced_pod,
                    Handlers(
                        functools.partial(self.index.replace_pods, namespace=namespace),
                        self.index.upsert_pod,
                        self.index.delete_pod,
                    ),
                )
            ]
            if config.watch_replicasets:
                sources.append(
                    (
                        "replicasets",
                        apps.list_replica_set_for_all_namespaces
                        if namespace is None
                        else apps.list_namespaced_replica_set,
                        Handlers(
                            functools.partial(self.index.replace_replicasets, namespace=namespace),
                            self.index.upsert_replicaset,
                            self.index.delete_replicaset,
                        ),
                    )
                )
            for resource, list_fn, handlers in sources:
                self.informers.append(
                    Informer(
                        resource,
                        list_fn,
                        scope,
                        handlers,
                        watch_timeout_s=config.watch_timeout_s,
                        on_event=_counting(events, resource, "type"),
                        on_restart=_counting(restarts, resource, "reason"),
                    )
                )
        self._peers: dict[str, str | None] = {}
        self._association = tuple(config.association)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> bool:
        """Start the watches; wait up to ``wait_for_sync_s`` for the first lists. Returns whether
        every first list arrived in time (spans are enriched as soon as it does, either way)."""
        for informer in self.informers:
            informer.start()
        deadline = time.monotonic() + self.config.wait_for_sync_s
        for informer in self.informers:
            if not informer.synced.wait(max(0.0, deadline - time.monotonic())):
                log.warning(
                    "kubernetes %s not listed within %.0fs; enriching once it is",
                    informer.resource,
                    self.config.wait_for_sync_s,
                )
                return False
        return True

    def stop(self) -> None:
        for informer in self.informers:
            informer.stop()

    @property
    def synced(self) -> bool:
        return all(informer.synced.is_set() for informer in self.informers)

    # -- hot path ----------------------------------------------------------------------------
    def enrich(self, resource: Mapping[str, Any], peer: str | None) -> dict[str, str]:
        """``ResourceEnricher``: the sender pod's attributes, or ``{}`` if it is not known."""
        meta: PodMeta | None = None
        for source in self._association:
            if source == "connection":
                if peer:
                    ip = self._peers.get(peer, "")
                    if ip == "":
                        ip = self._remember(peer)
                    if ip:
                        meta = self.index.get_ip(ip)
            elif source == "k8s.pod.ip":
                value = resource.get("k8s.pod.ip")
                if isinstance(value, str):
                    meta = self.index.get_ip(value)
            else:  # k8s.pod.uid
                value = resource.get("k8s.pod.uid")
                if isinstance(value, str):
                    meta = self.index.get_uid(value)
            if meta is not None:
                self.hits += 1
                return self.index.attributes(meta)
        self.misses += 1
        return {}

    def _remember(self, peer: str) -> str | None:
        # gRPC peers repeat per connection: parse each once; bounded like every cache here.
        if len(self._peers) >= _PEER_CACHE_MAX:
            self._peers.clear()
        ip = self._peers[peer] = peer_ip(peer)
        return ip


class _LookupCollector(Collector):
    """``llmpulse_k8s_lookups_total{result}`` from the enricher's plain counters."""

    def __init__(self, enricher: KubernetesEnricher) -> None:
        self._enricher = enricher

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "llmpulse_k8s_lookups",
            "Resource lookups of the sender pod, by result (hit, miss).",
            labels=["result"],
        )
        family.add_metric(["hit"], self._enricher.hits)
        family.add_metric(["miss"], self._enricher.misses)
        yield family


def api_client_for(config: KubernetesConfig, environ: Mapping[str, str] | None = None) -> Any:
    """A kubernetes ``ApiClient``: the configured kubeconfig, else the pod's service account,
    else the default kubeconfig (``KUBECONFIG`` / ``~/.kube/config``)."""
    from kubernetes import client
    from kubernetes import config as kube_config

    if config.kubeconfig is not None:
        return kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(config.kubeconfig), context=config.context or None
        )
    if in_cluster(environ):
        configuration = client.Configuration()
        kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return client.ApiClient(configuration)
    return kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
        context=config.context or None
    )


def build_enricher(
    config: KubernetesConfig,
    registry: CollectorRegistry,
    *,
    environ: Mapping[str, str] | None = None,
) -> KubernetesEnricher | None:
    """The enricher the config asks for, or ``None`` when it is off.

    ``auto`` turns it on inside a pod or with a kubeconfig set, and turns itself off (with a
    warning) when the client library or the cluster credentials are missing; ``true`` raises
    ``KubernetesUnavailable`` instead, so a misconfigured deployment fails at startup.
    """
    if config.enabled is False:
        return None
    required = config.enabled is True
    if not required and config.kubeconfig is None and not in_cluster(environ):
        return None
    try:
        import kubernetes  # noqa: F401
    except ImportError as exc:
        if required:
            raise KubernetesUnavailable(f"`kubernetes.enabled` is true but {exc}: {_INSTALL_HINT}") from None
        log.warning("kubernetes metadata off: %s (%s)", exc, _INSTALL_HINT)
        return None
    try:
        api_client = api_client_for(config, environ)
    except Exception as exc:
        if required:
            raise KubernetesUnavailable(
                f"`kubernetes.enabled` is true but no cluster configuration could be loaded: {exc}"
            ) from None
        log.warning("kubernetes metadata off: no cluster configuration (%s)", exc)
        return None
    return KubernetesEnricher(config, registry, api_client=api_client)
