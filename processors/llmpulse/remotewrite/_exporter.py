"""The remote-write exporter: every ``send_interval_s`` the aggregate (and the llmpulse_*
self-metrics) is encoded once and queued on disk for each target; one writer per target sends
its queue in order (one consumer keeps each series' samples in order), with the retry rules of
``_sender.py``. Expired series are queued with their final value and a stale marker.

Timestamps: every queued snapshot gets a timestamp strictly above every earlier one, also across
restarts (the highest one handed out is kept in ``remote-write/clock``), so no series ever goes
back in time, whatever the wall clock does. Several replicas or workers never write the same
series: ``llmpulse_instance`` is always an external label.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

from llmpulse.config import RemoteWriteConfig, RemoteWriteTargetConfig
from llmpulse.remotewrite._encode import Encoded, Encoder, restamp, split_records
from llmpulse.remotewrite._queue import SAMPLES_PER_RECORD, DiskQueue, Kind, Segment
from llmpulse.remotewrite._sender import (
    AiohttpTransport,
    Backoff,
    Response,
    Transport,
    TransportError,
    compress,
    request_headers,
    retryable,
    ssl_context,
    too_old,
)
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SeriesSnapshot, SpanMetrics

log = logging.getLogger("llmpulse.remotewrite")
TransportFactory = Callable[[RemoteWriteTargetConfig], Transport]
_GAVE_UP = Response(0, {}, "")


def default_transport(target: RemoteWriteTargetConfig) -> Transport:
    return AiohttpTransport(ssl_context(target))


def self_metric_families(registry: CollectorRegistry) -> Iterable[Metric]:
    """The registry's llmpulse_* families only: the span metrics are encoded from the aggregate
    directly, and collecting them through prometheus-client too would build them twice."""
    # prometheus-client has no public list of names; _names_to_collectors is the map
    # restricted_registry() itself is meant to be fed from.
    names = [n for n in list(registry._names_to_collectors) if n.startswith("llmpulse_")]
    return registry.restricted_registry(names).collect()


class TargetWriter:
    """Sends one target's queue, oldest segment first, one request at a time."""

    def __init__(
        self,
        config: RemoteWriteConfig,
        target: RemoteWriteTargetConfig,
        queue: DiskQueue,
        transport: Transport,
        metrics: SelfMetrics,
        next_ts: Callable[[int], int],
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.target = target
        self.name = target.display_name()
        self.queue = queue
        self.transport = transport
        self.backoff = Backoff(config.retry)
        self._next_ts = next_ts
        self._wall = wall_clock
        self._wake = asyncio.Event()
        self._progress: dict[int, int] = {}  # segment seq → offset of the first unsent record
        self._restamped: set[int] = set()
        self.sending: Segment | None = None
        self._highest_ms = 0
        self._failing_since: float | None = None
        m, t = metrics, {"target": self.name}
        self._sent = m.rw_samples_sent.labels(**t)
        self._retried = m.rw_samples_retried.labels(**t)
        self._failed = m.rw_samples_failed.labels(**t)
        self._dropped = m.rw_samples_dropped
        self._queue_samples = m.rw_queue_samples.labels(**t)
        self._queue_bytes = m.rw_queue_bytes.labels(**t)
        self._highest = m.rw_highest_sent_timestamp.labels(**t)
        self._last_success = m.rw_last_success.labels(**t)
        m.rw_queue_capacity_bytes.labels(**t).set(queue.capacity_bytes)
        self.update_gauges()

    # -- queue side (event loop) ---------------------------------------------------------------
    def update_gauges(self) -> None:
        self._queue_samples.set(self.queue.samples)
        self._queue_bytes.set(self.queue.bytes)

    def drop(self, seg: Segment, reason: str, samples: int | None = None) -> None:
        self._progress.pop(seg.seq, None)
        samples = seg.samples if samples is None else samples
        self._dropped.labels(target=self.name, reason=reason).inc(samples)
        log.warning(
            "remote write to %s: %d queued samples from %s dropped (%s)",
            self.name,
            samples,
            time.strftime("%H:%M:%S", time.localtime(seg.ts_ms / 1000)),
            reason,
        )

    def append(self, kind: Kind, ts_ms: int, encoded: Encoded) -> None:
        self.queue.append(kind, ts_ms, encoded.data, encoded.samples)
        cutoff = int((self._wall() - self.config.max_sample_age_s) * 1000)
        for seg in self.queue.drop_older_than(cutoff, keep=self.sending):
            self.drop(seg, "too_old")
        self.queue.thin(self.sending, self.drop)
        self.update_gauges()
        self._wake.set()

    def notify(self) -> None:
        self._wake.set()

    # -- sending ---------------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            seg = self.queue.head()
            if seg is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._deliver(seg, None)

    async def flush(self, deadline: float) -> None:
        """Send what is queued until done or ``deadline`` (monotonic); the rest stays on disk."""
        while (seg := self.queue.head()) is not None and time.monotonic() < deadline:
            if not await self._deliver(seg, deadline):
                return

    async def _deliver(self, seg: Segment, deadline: float | None) -> bool:
        """Send one segment; False when the deadline stopped it (it stays queued)."""
        self.sending = seg
        try:
            if self._too_old(seg):
                if seg.kind == "snap":
                    self.queue.remove(seg)
                    self.drop(seg, "too_old")
                    return True
                seg = self._restamp(seg, self._progress.pop(seg.seq, 0))
            try:
                data = seg.read()
            except FileNotFoundError:
                self.queue.remove(seg)
                return True
            per_record = SAMPLES_PER_RECORD[seg.kind]
            per_request = max(1, self.config.max_samples_per_request // per_record)
            bounds = list(split_records(data, self._progress.get(seg.seq, 0)))
            for i in range(0, len(bounds), per_request):
                start, end = bounds[i][0], bounds[min(i + per_request, len(bounds)) - 1][1]
                samples = (min(i + per_request, len(bounds)) - i) * per_record
                give_up = (lambda: self._too_old(seg)) if seg.kind == "snap" else None
                response = await self._post(data[start:end], samples, deadline, give_up)
                if response is None:
                    self._progress[seg.seq] = start
                    return False
                if response is _GAVE_UP:  # aged out while the receiver was away: newer totals follow
                    self.queue.remove(seg)
                    self.drop(seg, "too_old", (len(bounds) - i) * per_record)
                    return True
                if 200 <= response.status < 300:
                    self._sent.inc(samples)
                    self._highest_ms = max(self._highest_ms, seg.ts_ms + per_record - 1)
                    self._highest.set(self._highest_ms / 1000)
                    self._last_success.set(self._wall())
                elif seg.kind == "final" and too_old(response.text) and seg.seq not in self._restamped:
                    # Final values exist nowhere else: stamp them now instead of losing them.
                    self._restamp(seg, start)
                    self._retried.inc(samples)
                    return True
                else:
                    self._reject(seg, samples, response)
                self._progress[seg.seq] = end
            self.queue.remove(seg)
            self._progress.pop(seg.seq, None)
            self._restamped.discard(seg.seq)
            return True
        finally:
            self.sending = None
            self.update_gauges()

    def _too_old(self, seg: Segment) -> bool:
        return self._wall() * 1000 - seg.ts_ms > self.config.max_sample_age_s * 1000

    def _restamp(self, seg: Segment, offset: int) -> Segment:
        data = seg.read()[offset:]
        samples = sum(1 for _ in split_records(data)) * SAMPLES_PER_RECORD[seg.kind]
        ts = self._next_ts(SAMPLES_PER_RECORD[seg.kind])
        new = self.queue.replace(seg, ts, restamp(data, ts), samples)
        self._progress.pop(seg.seq, None)
        self._restamped.add(seg.seq)
        log.info(
            "remote write to %s: %d final samples re-stamped (too old for the receiver)", self.name, samples
        )
        return new

    def _reject(self, seg: Segment, samples: int, response: Response) -> None:
        self._failed.inc(samples)
        self._dropped.labels(target=self.name, reason="rejected").inc(samples)
        # The receiver's own words, as they came: they name the series or limit at fault.
        log.error(
            "remote write to %s refused %d samples with HTTP %d (dropped, not retried): %s",
            self.name,
            samples,
            response.status,
            response.text.strip()[:4096],
        )

    async def _post(
        self, body: bytes, samples: int, deadline: float | None, give_up: Callable[[], bool] | None = None
    ) -> Response | None:
        """POST until the receiver answers other than 5xx/429; None if ``deadline`` comes first,
        ``_GAVE_UP`` if ``give_up()`` says the batch is no longer worth sending."""
        payload = compress(body)
        attempt = 0
        while True:
            timeout = self.target.timeout_s
            if deadline is not None:
                timeout = min(timeout, max(0.05, deadline - time.monotonic()))
            wait: float | None = None
            try:
                response = await self.transport.post(
                    self.target.url, payload, request_headers(self.target), timeout
                )
                if not retryable(response.status):
                    if self._failing_since is not None:
                        log.info(
                            "remote write to %s works again after %.0fs",
                            self.name,
                            time.monotonic() - self._failing_since,
                        )
                        self._failing_since = None
                    return response
                reason = f"HTTP {response.status}: {response.text.strip()[:512]}"
                wait = self.backoff.retry_after(response.headers.get("retry-after"))
            except (TransportError, OSError) as exc:
                reason = str(exc)
            if wait is None:
                wait = self.backoff.delay(attempt)
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            if attempt == 0 or attempt % 20 == 0:
                log.warning(
                    "remote write to %s failed (%s); retrying in %.1fs (attempt %d)",
                    self.name,
                    reason,
                    wait,
                    attempt + 1,
                )
            attempt += 1
            if deadline is not None and time.monotonic() + wait >= deadline:
                return None
            await asyncio.sleep(wait)
            if give_up is not None and give_up():
                return _GAVE_UP
            self._retried.inc(samples)


class RemoteWriteExporter:
    """Remote-writes the span metrics and self-metrics to every configured target.

    >>> rw = RemoteWriteExporter(config.remote_write, data_dir=Path("data"), instance="pod-a",
    ...                          spanmetrics=metrics, selfmetrics=selfmetrics)
    >>> await rw.start()
    >>> rw.expired(metrics.expire())     # stale markers for series that went idle
    >>> await rw.stop()                  # last snapshot, final send, the rest stays on disk
    """

    def __init__(
        self,
        config: RemoteWriteConfig,
        *,
        data_dir: Path,
        instance: str,
        spanmetrics: SpanMetrics,
        selfmetrics: SelfMetrics,
        fsync: bool = False,
        transport_factory: TransportFactory | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.directory = data_dir / "remote-write"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._spanmetrics = spanmetrics
        self._registry = selfmetrics.registry
        self._wall = wall_clock
        self.encoder = Encoder({**config.external_labels, "llmpulse_instance": instance})
        factory = transport_factory or default_transport
        capacity = int(config.queue_capacity_mib * (1 << 20))
        self.writers = [
            TargetWriter(
                config,
                target,
                DiskQueue(self.directory / target.display_name().replace(":", "_"), capacity, fsync=fsync),
                factory(target),
                selfmetrics,
                self._next_ts,
                wall_clock,
            )
            for target in config.targets
        ]
        self._clock_path = self.directory / "clock"
        self._last_ts = max([self._read_clock(), *(w.queue.newest_ts_ms() for w in self.writers)])
        self._tasks: list[asyncio.Task[None]] = []
        self._ticker: asyncio.Task[None] | None = None
        self._produce_lock = asyncio.Lock()
        self._pending_finals: list[SeriesSnapshot] = []

    # -- timestamps ------------------------------------------------------------------------------
    def _read_clock(self) -> int:
        try:
            return int(self._clock_path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _next_ts(self, width: int = 1) -> int:
        """A timestamp above every one handed out before (also before a restart); ``width``
        consecutive milliseconds are reserved (a final value and its stale marker)."""
        ts = max(int(self._wall() * 1000), self._last_ts + 1)
        self._last_ts = ts + width - 1
        tmp = self._clock_path.with_suffix(".tmp")
        tmp.write_text(f"{self._last_ts}\n")
        os.replace(tmp, self._clock_path)
        return ts

    # -- producing ---------------------------------------------------------------------------------
    def _encode(self, ts: int) -> Encoded:
        a = self.encoder.encode_snapshot(self._spanmetrics.snapshot(), ts)
        b = self.encoder.encode_families(self_metric_families(self._registry), ts)
        return Encoded(a.data + b.data, a.series + b.series, a.samples + b.samples)

    async def enqueue_snapshot(self) -> None:
        """Queue expired series' finals, then the whole aggregate, at fresh timestamps, for
        every target. One at a time: queue order must be timestamp order."""
        async with self._produce_lock:
            finals, self._pending_finals = self._pending_finals, []
            if finals:
                ts = self._next_ts(2)
                encoded = self.encoder.encode_final(finals, ts)
                for writer in self.writers:
                    writer.append("final", ts, encoded)
            ts = self._next_ts()
            encoded = await asyncio.to_thread(self._encode, ts)
            for writer in self.writers:
                writer.append("snap", ts, encoded)

    def expired(self, snaps: Sequence[SeriesSnapshot]) -> None:
        """Expired series (from the housekeeping task): their final values and stale markers go
        out with the next snapshot, queued just before it."""
        if snaps:
            self.encoder.forget(snaps)
            self._pending_finals.extend(snaps)

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._ticker is not None:
            return
        for writer in self.writers:
            self._tasks.append(asyncio.create_task(writer.run(), name=f"remote-write-{writer.name}"))
        self._ticker = asyncio.create_task(self._tick(), name="remote-write-ticker")
        log.info(
            "remote write to %s every %gs (queues in %s)",
            ", ".join(w.name for w in self.writers),
            self.config.send_interval_s,
            self.directory,
        )

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.config.send_interval_s)
            try:
                await self.enqueue_snapshot()
            except OSError as exc:  # disk full: keep running; the aggregate still has the totals
                log.error("remote write: cannot queue a snapshot: %s", exc)

    async def stop(self) -> None:
        """Queue a last snapshot, send for up to ``flush_timeout_s``; the rest stays on disk."""
        if self._ticker is None:
            await self._close_transports()
            return
        self._ticker.cancel()
        for task in self._tasks:
            task.cancel()
        for task in (self._ticker, *self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._ticker = None
        self._tasks.clear()
        try:
            await self.enqueue_snapshot()
        except OSError as exc:
            log.error("remote write: cannot queue the last snapshot: %s", exc)
        timeout = self.config.flush_timeout_s
        deadline = time.monotonic() + timeout
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(w.flush(deadline) for w in self.writers)), timeout + 0.5)
        for writer in self.writers:
            if writer.queue.samples:
                log.info(
                    "remote write to %s: %d samples stay queued on disk for the next start",
                    writer.name,
                    writer.queue.samples,
                )
        await self._close_transports()

    async def _close_transports(self) -> None:
        for writer in self.writers:
            await writer.transport.close()
