"""An in-process Kubernetes API (kmock's emulator) on a free loopback port, driven with the real
``kubernetes`` client: the enrichment under test lists and watches it exactly as it would a
cluster's API server (no real API server runs on this machine)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kmock
import pytest
import yaml
from kubernetes import client


@dataclass
class FakeCluster:
    """The emulator's URL, a kubeconfig pointing at it, and helpers to change its objects."""

    url: str
    kubeconfig: Path
    api: client.ApiClient
    emulator: Any

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    def add_replicaset(self, namespace: str, name: str, deployment: str | None) -> None:
        owners = (
            [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": deployment,
                    "uid": f"d-{deployment}",
                    "controller": True,
                }
            ]
            if deployment
            else []
        )
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": f"rs-{name}",
                "ownerReferences": owners,
            },
            "spec": {"selector": {"matchLabels": {"app": name}}},
        }
        self.apps.create_namespaced_replica_set(namespace, body)

    def add_pod(
        self,
        namespace: str,
        name: str,
        ip: str | None,
        *,
        node: str = "node-a",
        replicaset: str | None = None,
        template_hash: str | None = None,
        host_network: bool = False,
        labels: dict[str, str] | None = None,
    ) -> None:
        meta: dict[str, Any] = {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{namespace}-{name}",
            "labels": dict(labels or {}),
        }
        if template_hash:
            meta["labels"]["pod-template-hash"] = template_hash
        if replicaset:
            meta["ownerReferences"] = [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": replicaset,
                    "uid": f"rs-{replicaset}",
                    "controller": True,
                }
            ]
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {
                "nodeName": node,
                "hostNetwork": host_network,
                "containers": [{"name": "app", "image": "app:1"}],
            },
            "status": {"phase": "Running", **({"podIP": ip} if ip else {})},
        }
        self.core.create_namespaced_pod(namespace, body)

    def delete_pod(self, namespace: str, name: str) -> None:
        self.core.delete_namespaced_pod(name, namespace)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        box["stop"] = asyncio.Event()
        async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
            verbs = {"list", "watch", "get", "create", "delete", "patch"}
            emulator.resources["v1/pods"] = kmock.ResourceInfo(kind="Pod", namespaced=True, verbs=verbs)
            emulator.resources["apps/v1/replicasets"] = kmock.ResourceInfo(
                kind="ReplicaSet", namespaced=True, verbs=verbs
            )
            box["emulator"], box["url"] = emulator, str(server.url).rstrip("/")
            ready.set()
            await box["stop"].wait()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve())
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="kmock", daemon=True)
    thread.start()
    assert ready.wait(15) and "url" in box, "the Kubernetes API emulator did not start"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emulator", "cluster": {"server": box["url"]}}],
                "users": [{"name": "tester", "user": {"token": "test-token"}}],
                "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tester"}}],
                "current-context": "emulator",
            }
        )
    )
    configuration = client.Configuration()
    configuration.host = box["url"]
    api = client.ApiClient(configuration)
    try:
        yield FakeCluster(box["url"], kubeconfig, api, box["emulator"])
    finally:
        api.close()
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(15)
        if not thread.is_alive():
            loop.close()
