"""The in-memory pod index: what the watch threads write and the hot path reads.

Writers (one watch thread per resource and namespace) take a lock among themselves and replace
or delete whole entries; readers (the receivers' event loop) do plain dict reads without it.
Single dict operations are atomic under the GIL, and a relist swaps in a freshly built dict, so
a reader never sees a half-built entry and no lock is taken on the hot path.

Only the few fields the enrichment needs are kept per pod (not the pod object), and the number
of pods is bounded by ``max_pods``; pods past the bound are not indexed and are counted.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: ``<deployment>-<pod-template-hash>``: the ReplicaSet name a Deployment controller gives.
_RS_SUFFIX = re.compile(r"^(?P<deployment>.+)-(?P<hash>[a-z0-9]{5,10})$")

#: Pod phases whose IP the kubelet has released (it may already belong to another pod).
_FINISHED = frozenset({"Succeeded", "Failed"})

RSKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class PodMeta:
    """What the enrichment adds for one pod; ``attributes`` follow the OTel k8s semconv names."""

    uid: str
    ip: str | None
    attributes: Mapping[str, str]
    #: the owning ReplicaSet, whose owner (if a Deployment) gives ``k8s.deployment.name``
    replicaset: RSKey | None = None
    #: the Deployment name read off the ReplicaSet name and ``pod-template-hash`` label, used
    #: until (or unless) the ReplicaSet itself has been seen
    deployment_guess: str | None = None


def _controller(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller"):
            return str(ref.get("kind", "")), str(ref.get("name", ""))
    return None


def pod_meta(pod: Mapping[str, Any], label_keys: Sequence[str] = ()) -> PodMeta | None:
    """Extract the indexed fields from a pod as the API returns it (JSON), or ``None`` if it has
    no uid (not a real pod object)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    uid = meta.get("uid")
    if not uid:
        return None
    namespace = str(meta.get("namespace", ""))
    attrs: dict[str, str] = {
        "k8s.pod.name": str(meta.get("name", "")),
        "k8s.pod.uid": str(uid),
        "k8s.namespace.name": namespace,
    }
    if spec.get("nodeName"):
        attrs["k8s.node.name"] = str(spec["nodeName"])
    labels = meta.get("labels") or {}
    for key in label_keys:
        if key in labels:
            attrs[f"k8s.pod.label.{key}"] = str(labels[key])
    replicaset: RSKey | None = None
    guess: str | None = None
    owner = _controller(meta)
    if owner is not None:
        kind, name = owner
        if kind == "ReplicaSet":
            attrs["k8s.replicaset.name"] = name
            replicaset = (namespace, name)
            match = _RS_SUFFIX.match(name)
            if match and labels.get("pod-template-hash") == match.group("hash"):
                guess = match.group("deployment")
        elif kind == "StatefulSet":
            attrs["k8s.statefulset.name"] = name
        elif kind == "DaemonSet":
            attrs["k8s.daemonset.name"] = name
        elif kind == "Job":
            attrs["k8s.job.name"] = name
    # hostNetwork pods share their node's IP: indexing it would attribute every such pod's
    # traffic (and the node's own) to whichever pod was seen last.
    ip = status.get("podIP") if not spec.get("hostNetwork") else None
    if status.get("phase") in _FINISHED:
        ip = None
    return PodMeta(str(uid), str(ip) if ip else None, attrs, replicaset, guess)


def replicaset_deployment(rs: Mapping[str, Any]) -> tuple[RSKey, str | None] | None:
    """``(namespace, name) → Deployment name`` (``None``: the ReplicaSet has no Deployment owner)."""
    meta = rs.get("metadata") or {}
    if not meta.get("name"):
        return None
    owner = _controller(meta)
    deployment = owner[1] if owner is not None and owner[0] == "Deployment" else None
    return (str(meta.get("namespace", "")), str(meta["name"])), deployment


class PodIndex:
    """Pods by IP and by uid, ReplicaSets by name; O(1) lookups, bounded size.

    >>> index = PodIndex(max_pods=10)
    >>> index.upsert_pod({"metadata": {"uid": "u1", "name": "web-1", "namespace": "shop"},
    ...                   "status": {"podIP": "10.0.0.7"}})
    >>> index.lookup_ip("10.0.0.7")["k8s.pod.name"]
    'web-1'
    """

    def __init__(
        self,
        *,
        max_pods: int = 100_000,
        label_keys: Sequence[str] = (),
        on_dropped: Callable[[], None] | None = None,
    ) -> None:
        self.max_pods = max_pods
        self.label_keys = tuple(label_keys)
        self._on_dropped = on_dropped
        self._by_uid: dict[str, PodMeta] = {}
        self._by_ip: dict[str, PodMeta] = {}
        self._deployments: dict[RSKey, str | None] = {}
        # Writers (one watch thread per resource and namespace) take turns; readers never lock.
        self._write = threading.Lock()

    def __len__(self) -> int:
        return len(self._by_uid)

    # -- writers (watch threads) -----------------------------------------------------------
    def upsert_pod(self, pod: Mapping[str, Any]) -> None:
        with self._write:
            meta = pod_meta(pod, self.label_keys)
            if meta is None:
                return
            old = self._by_uid.get(meta.uid)
            if old is None and len(self._by_uid) >= self.max_pods:
                if self._on_dropped is not None:
                    self._on_dropped()
                return
            self._by_uid[meta.uid] = meta
            if old is not None and old.ip and old.ip != meta.ip:
                self._unindex_ip(old)
            if meta.ip:
                self._by_ip[meta.ip] = meta

    def delete_pod(self, pod: Mapping[str, Any]) -> None:
        with self._write:
            uid = (pod.get("metadata") or {}).get("uid")
            old = self._by_uid.pop(str(uid), None) if uid else None
            if old is not None:
                self._unindex_ip(old)

    def _unindex_ip(self, old: PodMeta) -> None:
        # The IP may already belong to a newer pod (events of two pods can interleave).
        if old.ip and (current := self._by_ip.get(old.ip)) is not None and current.uid == old.uid:
            del self._by_ip[old.ip]

    def replace_pods(self, pods: Iterable[Mapping[str, Any]], namespace: str | None = None) -> None:
        """A fresh list (of one namespace, or all): whatever is not in it is gone."""
        with self._write:
            by_uid: dict[str, PodMeta] = {}
            by_ip: dict[str, PodMeta] = {}
            if namespace is not None:  # other namespaces' watches own the rest
                for kept in list(self._by_uid.values()):
                    if kept.attributes["k8s.namespace.name"] != namespace:
                        by_uid[kept.uid] = kept
                        if kept.ip:
                            by_ip[kept.ip] = kept
            dropped = 0
            for pod in pods:
                meta = pod_meta(pod, self.label_keys)
                if meta is None:
                    continue
                if len(by_uid) >= self.max_pods:
                    dropped += 1
                    continue
                by_uid[meta.uid] = meta
                if meta.ip:
                    by_ip[meta.ip] = meta
            self._by_uid, self._by_ip = by_uid, by_ip
            if self._on_dropped is not None:
                for _ in range(dropped):
                    self._on_dropped()

    def upsert_replicaset(self, rs: Mapping[str, Any]) -> None:
        with self._write:
            entry = replicaset_deployment(rs)
            if entry is not None:
                self._deployments[entry[0]] = entry[1]

    def delete_replicaset(self, rs: Mapping[str, Any]) -> None:
        with self._write:
            entry = replicaset_deployment(rs)
            if entry is not None:
                self._deployments.pop(entry[0], None)

    def replace_replicasets(self, items: Iterable[Mapping[str, Any]], namespace: str | None = None) -> None:
        with self._write:
            fresh: dict[RSKey, str | None] = (
                {} if namespace is None else {k: v for k, v in self._deployments.items() if k[0] != namespace}
            )
            for rs in items:
                entry = replicaset_deployment(rs)
                if entry is not None:
                    fresh[entry[0]] = entry[1]
            self._deployments = fresh

    # -- readers (hot path) ----------------------------------------------------------------
    def attributes(self, meta: PodMeta) -> dict[str, str]:
        """The pod's attributes plus ``k8s.deployment.name`` when it has one."""
        attrs = dict(meta.attributes)
        if meta.replicaset is not None:
            deployment = self._deployments.get(meta.replicaset, meta.deployment_guess)
            if deployment:
                attrs["k8s.deployment.name"] = deployment
        return attrs

    def get_ip(self, ip: str) -> PodMeta | None:
        return self._by_ip.get(ip)

    def get_uid(self, uid: str) -> PodMeta | None:
        return self._by_uid.get(uid)

    def lookup_ip(self, ip: str) -> dict[str, str] | None:
        meta = self._by_ip.get(ip)
        return None if meta is None else self.attributes(meta)
