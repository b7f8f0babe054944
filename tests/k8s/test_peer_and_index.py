"""Peer parsing and the pod index without a server: exact attributes per pod shape, and the
edge cases a cluster produces (IP reuse across pods, hostNetwork pods, finished pods, the bound)."""

from __future__ import annotations

from typing import Any

import pytest

from llmpulse.k8s import PodIndex, peer_ip, pod_meta


@pytest.mark.parametrize(
    ("peer", "ip"),
    [
        ("ipv4:10.1.2.3:5555", "10.1.2.3"),  # grpc-core peer
        ("ipv6:[fd00::7]:5555", "fd00::7"),
        ("ipv6:%5Bfd00::7%5D:5555", "fd00::7"),  # percent-encoded brackets (grpc >= 1.5x)
        ("ipv6:[::ffff:10.0.0.9]:4317", "10.0.0.9"),  # v4 client on a dual-stack socket
        ("10.1.2.3", "10.1.2.3"),  # aiohttp request.remote
        ("10.1.2.3:8080", "10.1.2.3"),
        ("[fd00::7]:8080", "fd00::7"),
        ("203.0.113.5, 10.0.0.2, 10.0.0.3", "203.0.113.5"),  # X-Forwarded-For: first hop is the client
        ("fe80::1%eth0", "fe80::1"),
        ("unix:/run/llmpulse.sock", None),
        ("not-an-address", None),
        ("", None),
        (None, None),
    ],
)
def test_peer_ip(peer: str | None, ip: str | None) -> None:
    assert peer_ip(peer) == ip


def _pod(name: str, ip: str | None, uid: str | None = None, **extra: Any) -> dict[str, Any]:
    owner = extra.pop("owner", None)
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "shop",
        "uid": uid or f"uid-{name}",
        "labels": extra.pop("labels", {}),
    }
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {
        "metadata": meta,
        "spec": {"nodeName": "node-a", "hostNetwork": extra.pop("host_network", False)},
        "status": {"phase": extra.pop("phase", "Running"), **({"podIP": ip} if ip else {})},
    }


def test_pod_meta_reads_owner_kinds_and_labels() -> None:
    meta = pod_meta(
        _pod(
            "checkout-7d9c5b8f4d-x2x7q",
            "10.0.0.5",
            owner=("ReplicaSet", "checkout-7d9c5b8f4d"),
            labels={"pod-template-hash": "7d9c5b8f4d", "team": "payments"},
        ),
        label_keys=["team", "absent"],
    )
    assert meta is not None
    assert dict(meta.attributes) == {
        "k8s.pod.name": "checkout-7d9c5b8f4d-x2x7q",
        "k8s.pod.uid": "uid-checkout-7d9c5b8f4d-x2x7q",
        "k8s.namespace.name": "shop",
        "k8s.node.name": "node-a",
        "k8s.replicaset.name": "checkout-7d9c5b8f4d",
        "k8s.pod.label.team": "payments",
    }
    assert meta.replicaset == ("shop", "checkout-7d9c5b8f4d")
    assert meta.deployment_guess == "checkout"
    sts = pod_meta(_pod("db-0", "10.0.0.6", owner=("StatefulSet", "db")))
    ds = pod_meta(_pod("agent-abcde", "10.0.0.7", owner=("DaemonSet", "agent")))
    assert sts is not None and sts.attributes["k8s.statefulset.name"] == "db"
    assert ds is not None and ds.attributes["k8s.daemonset.name"] == "agent"
    # A ReplicaSet not made by a Deployment (no matching pod-template-hash): no guess.
    bare = pod_meta(_pod("bare-abcde", "10.0.0.8", owner=("ReplicaSet", "bare")))
    assert bare is not None and bare.deployment_guess is None
    assert pod_meta({"metadata": {"name": "no-uid"}}) is None


def test_deployment_comes_from_the_replicaset_owner_once_seen() -> None:
    index = PodIndex()
    index.upsert_pod(
        _pod(
            "web-5f6b7c8d9-aaaaa",
            "10.0.0.5",
            owner=("ReplicaSet", "web-5f6b7c8d9"),
            labels={"pod-template-hash": "5f6b7c8d9"},
        )
    )
    assert index.lookup_ip("10.0.0.5")["k8s.deployment.name"] == "web"  # type: ignore[index]
    # The ReplicaSet says who really owns it (e.g. an Argo Rollout, not a Deployment): believed.
    index.upsert_replicaset(
        {
            "metadata": {
                "name": "web-5f6b7c8d9",
                "namespace": "shop",
                "ownerReferences": [{"kind": "Rollout", "name": "web", "controller": True}],
            }
        }
    )
    assert "k8s.deployment.name" not in index.lookup_ip("10.0.0.5")  # type: ignore[operator]
    index.upsert_replicaset(
        {
            "metadata": {
                "name": "web-5f6b7c8d9",
                "namespace": "shop",
                "ownerReferences": [{"kind": "Deployment", "name": "storefront", "controller": True}],
            }
        }
    )
    assert index.lookup_ip("10.0.0.5")["k8s.deployment.name"] == "storefront"  # type: ignore[index]


def test_ip_reuse_hostnetwork_and_finished_pods() -> None:
    index = PodIndex()
    index.upsert_pod(_pod("old", "10.0.0.9"))
    index.upsert_pod(_pod("new", "10.0.0.9"))  # the IP moved on before "old"'s DELETED arrived
    index.delete_pod(_pod("old", "10.0.0.9"))
    assert index.lookup_ip("10.0.0.9")["k8s.pod.name"] == "new"  # type: ignore[index]
    index.upsert_pod(_pod("new", "10.0.0.9", phase="Succeeded"))  # kubelet released the IP
    assert index.lookup_ip("10.0.0.9") is None
    assert index.get_uid("uid-new") is not None  # still known by uid
    index.upsert_pod(_pod("node-exporter", "192.168.1.4", host_network=True))
    assert index.lookup_ip("192.168.1.4") is None  # the node's IP is not one pod's
    index.upsert_pod(_pod("moved", "10.0.0.20"))
    index.upsert_pod(_pod("moved", "10.0.0.21"))
    assert index.lookup_ip("10.0.0.20") is None
    assert index.lookup_ip("10.0.0.21")["k8s.pod.name"] == "moved"  # type: ignore[index]


def test_index_is_bounded_and_counts_what_it_drops() -> None:
    dropped: list[int] = []
    index = PodIndex(max_pods=2, on_dropped=lambda: dropped.append(1))
    for i in range(4):
        index.upsert_pod(_pod(f"p{i}", f"10.0.1.{i}"))
    assert len(index) == 2 and len(dropped) == 2
    assert index.lookup_ip("10.0.1.2") is None
    index.upsert_pod(_pod("p0", "10.0.1.0"))  # an update of a known pod is never dropped
    assert len(dropped) == 2
    index.replace_pods([_pod(f"q{i}", f"10.0.2.{i}") for i in range(3)])
    assert len(index) == 2 and len(dropped) == 3
    assert index.lookup_ip("10.0.1.0") is None  # a relist forgets pods that are gone
    assert index.lookup_ip("10.0.2.1")["k8s.pod.name"] == "q1"  # type: ignore[index]


def test_a_namespace_relist_leaves_other_namespaces_alone() -> None:
    """With `kubernetes.namespaces`, each namespace has its own watch and relists on its own."""
    index = PodIndex()
    shop = _pod("web", "10.0.5.1")
    other = _pod("api", "10.0.5.2")
    other["metadata"]["namespace"] = "search"
    index.replace_pods([shop], namespace="shop")
    index.replace_pods([other], namespace="search")
    index.replace_pods([], namespace="shop")  # every shop pod is gone
    assert index.lookup_ip("10.0.5.1") is None
    assert index.lookup_ip("10.0.5.2")["k8s.namespace.name"] == "search"  # type: ignore[index]
    index.replace_replicasets(
        [
            {
                "metadata": {
                    "name": "rs",
                    "namespace": "search",
                    "ownerReferences": [{"kind": "Deployment", "name": "api", "controller": True}],
                }
            }
        ],
        namespace="search",
    )
    index.replace_replicasets([], namespace="shop")
    assert index._deployments == {("search", "rs"): "api"}
