"""One forward target: its persistent queue and the sender threads that drain it.

The sender chain is queue → retry (backoff with jitter, server throttle honoured, optional
deadline) → push. ``forward.queue.consumers`` senders each take a request and run the chain on it,
so that many requests are in flight at once (as the Collector's ``sending_queue.num_consumers``):
a collector that takes 30 ms per Export does not cap a target at ~30 requests/s. The order
requests arrive in is then not guaranteed; with one consumer a target receives them in the order
llmpulse accepted them. A retryable failure keeps the request with its sender; a permanent one
drops it (counted). A failure also holds back every sender of the target until its backoff (or
the server's throttle) has passed, so a target that is down sees no more attempts than with one
sender. Nothing is dropped because a target is down: the queue fills and the receivers push back
on clients instead.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from llmpulse.config import ForwardTargetConfig
from llmpulse.config._model import ForwardQueueConfig, ForwardRetryConfig
from llmpulse.forward._http_push import HttpPush
from llmpulse.forward._push import GrpcPush, PushResult
from llmpulse.forward._queue import DiskQueue, Entry, UnreadableRecord
from llmpulse.otlp import Signal
from llmpulse.selfmetrics import SelfMetrics

log = logging.getLogger("llmpulse.forward")


class Push(Protocol):
    """The transport: one export attempt (injectable so the chain is testable without a network)."""

    def push(self, signal: Signal, payload: bytes) -> PushResult: ...

    def close(self) -> None: ...


def queue_dir(data_dir: Path, name: str) -> Path:
    return data_dir / "forward" / re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def backoff_s(attempt: int, retry: ForwardRetryConfig, rand: Callable[[], float] = random.random) -> float:
    """The wait before retry ``attempt`` (0-based): exponential, capped, with jitter."""
    base = min(retry.max_interval_s, retry.initial_interval_s * retry.multiplier**attempt)
    spread = base * retry.randomization_factor
    wait: float = max(0.0, base - spread + 2 * spread * rand())
    return wait


class Target:
    """Owns one target's queue and sender threads; ``start``/``close`` are idempotent."""

    def __init__(
        self,
        config: ForwardTargetConfig,
        queue: ForwardQueueConfig,
        retry: ForwardRetryConfig,
        data_dir: Path,
        selfmetrics: SelfMetrics,
        *,
        push: Push | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.name = config.name
        self.signals = frozenset(config.signals)
        self._retry = retry
        self._clock = clock
        self._self = selfmetrics
        self.queue = DiskQueue(
            queue_dir(data_dir, config.name),
            queue.capacity_bytes,
            segment_bytes=queue.segment_bytes,
            fsync=queue.fsync,
        )
        if push is None:
            backoff = (retry.initial_interval_s, retry.max_interval_s)
            push = HttpPush(config) if config.protocol == "http/protobuf" else GrpcPush(config, backoff)
        self._push: Push = push
        self._consumers = queue.consumers
        self._max_send_bytes = queue.max_send_bytes
        self._send_wait_s = queue.send_wait_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        #: no sender starts an attempt before this (``clock``): set by a retryable failure
        self._hold_until = 0.0
        self._hold_lock = threading.Lock()
        self._bytes = selfmetrics.forward_queue_bytes.labels(target=self.name)
        self._requests = selfmetrics.forward_queue_requests.labels(target=self.name)
        selfmetrics.forward_queue_capacity_bytes.labels(target=self.name).set(queue.capacity_bytes)
        if self.queue.corrupt_records:
            log.warning(
                "forward target %s: %d unreadable queue record(s) cut off",
                self.name,
                self.queue.corrupt_records,
            )
            selfmetrics.forward_dropped.labels(target=self.name, signal="unknown", reason="corrupt").inc(
                self.queue.corrupt_records
            )
        self.update_gauges()

    def update_gauges(self) -> None:
        self._bytes.set(self.queue.size_bytes)
        self._requests.set(self.queue.requests)

    def enqueue(self, signal: Signal, items: int, payload: bytes) -> None:
        try:
            self.queue.put(signal, items, payload)
        except OSError as exc:
            log.error("forward target %s: cannot queue a %s request: %s", self.name, signal, exc)
            self._self.forward_dropped.labels(target=self.name, signal=signal, reason="disk_error").inc(items)
        self.update_gauges()

    # -- sender threads --------------------------------------------------------------------------
    def start(self) -> None:
        if not self._threads:
            self._threads = [
                threading.Thread(target=self._run, name=f"llmpulse-forward-{self.name}-{n}", daemon=True)
                for n in range(self._consumers)
            ]
            for thread in self._threads:
                thread.start()

    def close(self, drain_s: float = 0.0) -> None:
        """Stop sending (after up to ``drain_s`` to empty the queue); what is left stays on disk."""
        deadline = self._clock() + drain_s
        while self._threads and self.queue.requests and self._clock() < deadline:
            time.sleep(0.05)
        self._stop.set()
        join_until = time.monotonic() + self.config.timeout_s + 2.0
        for thread in self._threads:
            thread.join(max(0.0, join_until - time.monotonic()))
        self.queue.close()
        self._push.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                entries = self.queue.take_batch(0.5, self._max_send_bytes, self._send_wait_s)
            except OSError as exc:
                lost = self.queue.skip_unreadable(exc if isinstance(exc, UnreadableRecord) else None)
                if lost:
                    log.error("forward target %s: %s; %d request(s) given up", self.name, exc, lost)
                    self._self.forward_dropped.labels(
                        target=self.name, signal="unknown", reason="corrupt"
                    ).inc(lost)
                continue
            if entries:
                self._deliver(entries)
                self.update_gauges()

    def _hold(self, delay: float) -> None:
        """After a retryable failure: no sender of this target tries again for ``delay``."""
        with self._hold_lock:
            self._hold_until = max(self._hold_until, self._clock() + delay)

    def _wait_hold(self) -> None:
        while not self._stop.is_set():
            with self._hold_lock:
                left = self._hold_until - self._clock()
            if left <= 0:
                return
            self._stop.wait(left)

    def _deliver(self, entries: list[Entry]) -> None:
        """Send ``entries`` (one signal, consecutive in the queue) as one export until it is
        accepted, refused for good or given up. A group refused for good is sent again one
        request at a time, so that one bad request (or a group over the target's size limit)
        costs only itself."""
        signal = entries[0].signal
        labels = {"target": self.name, "signal": signal}
        payload = entries[0].payload if len(entries) == 1 else b"".join(e.payload for e in entries)
        items = sum(entry.items for entry in entries)
        started = self._clock()
        attempt = 0
        while True:
            self._wait_hold()
            if self._stop.is_set():
                return  # not acknowledged: stays queued, sent after the restart
            result = self._push.push(signal, payload)
            if result.ok:
                accepted = max(items - result.rejected, 0)
                self._self.forward_sent.labels(**labels).inc(accepted)
                if result.rejected:
                    log.warning(
                        "forward target %s rejected %d item(s): %s",
                        self.name,
                        result.rejected,
                        result.message,
                    )
                    self._self.forward_dropped.labels(**labels, reason="rejected_by_target").inc(
                        result.rejected
                    )
                self.queue.ack(*entries)
                return
            if not result.retryable:
                if len(entries) > 1:
                    log.warning(
                        "forward target %s refused %d %s requests sent as one (%s); sending them one by one",
                        self.name,
                        len(entries),
                        signal,
                        result.message,
                    )
                    for entry in entries:
                        self._deliver([entry])
                    return
                log.error(
                    "forward target %s refused a %s request for good: %s",
                    self.name,
                    signal,
                    result.message,
                )
                self._self.forward_dropped.labels(**labels, reason="permanent_error").inc(items)
                self.queue.ack(*entries)
                return
            self._self.forward_failed.labels(**labels).inc(items)
            delay = backoff_s(attempt, self._retry)
            if result.retry_after_s is not None:
                delay = max(delay, result.retry_after_s)
            max_elapsed = self._retry.max_elapsed_s
            if max_elapsed and self._clock() - started + delay > max_elapsed:
                log.error(
                    "forward target %s: giving up %d %s request(s) after %.0f s",
                    self.name,
                    len(entries),
                    signal,
                    max_elapsed,
                )
                self._self.forward_dropped.labels(**labels, reason="retry_exhausted").inc(items)
                self.queue.ack(*entries)
                return
            if attempt == 0:
                log.warning("forward target %s unavailable (%s); retrying", self.name, result.message)
            attempt += 1
            self._hold(delay)
