"""Kubernetes metadata enrichment: the sender's pod, namespace, node and deployment on resources.

A background watch (list + watch of pods and ReplicaSets, ``_watch``) keeps an in-memory index
(``_index``) that the hot path reads with plain dict lookups; the ``KubernetesEnricher``
(``_enricher``) maps a resource to its pod by ``k8s.pod.ip`` / ``k8s.pod.uid`` on the resource or
by the connection's peer address (``_peer``), like the Collector's ``k8sattributes`` processor.
Needs the optional ``kubernetes`` extra; off outside a cluster unless configured.

Errors::

    RuntimeError
     └── KubernetesUnavailable   enabled: true, but no client library or no cluster config
"""

from llmpulse.k8s._enricher import (
    KubernetesEnricher,
    KubernetesUnavailable,
    api_client_for,
    build_enricher,
    in_cluster,
)
from llmpulse.k8s._index import PodIndex, PodMeta, pod_meta, replicaset_deployment
from llmpulse.k8s._peer import peer_ip
from llmpulse.k8s._watch import Handlers, Informer, WatchExpired

__all__ = [
    "Handlers",
    "Informer",
    "KubernetesEnricher",
    "KubernetesUnavailable",
    "PodIndex",
    "PodMeta",
    "WatchExpired",
    "api_client_for",
    "build_enricher",
    "in_cluster",
    "peer_ip",
    "pod_meta",
    "replicaset_deployment",
]
