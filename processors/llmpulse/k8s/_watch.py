"""List-then-watch loops (a minimal informer) on a background thread per resource and namespace.

The loop follows the API's concurrency contract
(https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes):
list to get the state and a ``resourceVersion``, watch from that version, re-open the watch
from the last version seen when the server ends it, and relist when the version has expired
(``410 Gone``) or the connection failed. Errors back off exponentially with jitter and are
counted, never raised: the gateway keeps serving without metadata rather than crash.

Events are decoded as plain JSON (no model deserialisation: it costs more than the lookups it
feeds) and handed to the index callbacks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("llmpulse.k8s")

Obj = Mapping[str, Any]


class WatchExpired(Exception):
    """The resourceVersion is too old (HTTP 410): relist."""


@dataclass(frozen=True, slots=True)
class Handlers:
    replace: Callable[[Iterable[Obj]], None]
    upsert: Callable[[Obj], None]
    delete: Callable[[Obj], None]


class Informer:
    """Keeps ``handlers`` in step with one resource (``list_fn``: a kubernetes client list call).

    Usage::

        informer = Informer("pods", core.list_pod_for_all_namespaces, {}, handlers)
        informer.start(); informer.synced.wait(10); ...; informer.stop()
    """

    def __init__(
        self,
        resource: str,
        list_fn: Callable[..., Any],
        list_kwargs: Mapping[str, Any],
        handlers: Handlers,
        *,
        watch_timeout_s: int = 300,
        on_event: Callable[[str], None] | None = None,
        on_restart: Callable[[str], None] | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.resource = resource
        self._list = list_fn
        self._kwargs = dict(list_kwargs)
        self._handlers = handlers
        self._watch_timeout_s = watch_timeout_s
        self._on_event = on_event or (lambda kind: None)
        self._on_restart = on_restart or (lambda reason: None)
        self._backoff = (backoff_initial_s, backoff_max_s)
        self.synced = threading.Event()
        self._stopped = threading.Event()
        self._response: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            name = f"llmpulse-k8s-{self.resource}"
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stopped.set()
        response = self._response
        if response is not None:
            # Shut the socket down rather than close the response: close() waits for the lock of
            # the buffered reader that the watch thread is blocked in; shutdown() wakes that read.
            sock = getattr(getattr(response, "_connection", None), "sock", None)
            with contextlib.suppress(OSError):
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout_s)

    # -- the loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stopped.is_set():
            try:
                version = self._relist()
                delay = self._backoff[0]
                while not self._stopped.is_set():
                    version = self._watch(version)
            except WatchExpired:
                self._on_restart("expired")
                continue
            except Exception as exc:
                if self._stopped.is_set():
                    break
                self._on_restart("error")
                log.warning("kubernetes %s watch failed (%s); retrying in %.1fs", self.resource, exc, delay)
                if self._stopped.wait(delay * random.uniform(0.8, 1.2)):
                    break
                delay = min(delay * 2, self._backoff[1])

    def _relist(self) -> str:
        response = self._list(**self._kwargs, _preload_content=False, _request_timeout=(10, 60))
        try:
            body = json.loads(response.data)
        finally:
            response.release_conn()
        self._handlers.replace(body.get("items") or [])
        self.synced.set()
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, version: str) -> str:
        kwargs: dict[str, Any] = {
            **self._kwargs,
            "watch": True,
            "allow_watch_bookmarks": True,
            "timeout_seconds": self._watch_timeout_s,
            "_preload_content": False,
            "_request_timeout": (10, self._watch_timeout_s + 30),
        }
        if version:
            kwargs["resource_version"] = version
        response = self._list(**kwargs)
        self._response = response
        try:
            # stop() sets the flag, then shuts down whatever response it sees: checking the flag
            # after publishing the response means one of the two always catches the other.
            if self._stopped.is_set():
                return version
            for line in _lines(response):
                event = json.loads(line)
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise WatchExpired(obj.get("message", "resource version expired"))
                    raise RuntimeError(f"watch error {obj.get('code')}: {obj.get('message')}")
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind in ("ADDED", "MODIFIED"):
                    self._handlers.upsert(obj)
                elif kind == "DELETED":
                    self._handlers.delete(obj)
                else:
                    continue  # BOOKMARK: only the version moves
                self._on_event(str(kind))
        finally:
            self._response = None
            response.close()
            response.release_conn()
        return version


def _lines(response: Any) -> Iterable[str]:
    """Newline-delimited JSON from a streaming urllib3 response."""
    pending = b""
    for chunk in response.stream(amt=None, decode_content=False):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line.decode("utf-8")
    if pending.strip():
        yield pending.decode("utf-8")
