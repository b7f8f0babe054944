"""Durable span-metrics state: a write-ahead log of recorded calls and periodic snapshots.

Why: the metrics are cumulative. If a restart (or ``kill -9``) reset them to zero, every total in
Prometheus would be wrong and remote write would have nothing to resend. So each batch of calls
is appended to the WAL *before* the OTLP Export call that carried it returns (a ``write()`` to the
file is enough against a killed process; ``fsync`` covers power loss, per policy), snapshots
bound the WAL, and a restart loads the snapshot and replays the WAL after it.

Layout under ``<data_dir>/state/``::

    lock              flock()ed while one llmpulse process owns the directory
    snapshot.json     every series' cumulative values, plus ``next_segment``
    wal-<n>.log       one line per recorded batch: ``<crc32 hex> <body>``, the body being
                      ``P<base64 pickle of the call rows>`` or (written by llmpulse before
                      the pickle lines, and still for rows with other than builtin types)
                      ``<JSON array of the call rows>``; the CRC covers the body

A checkpoint rotates to a new WAL segment *under the aggregate's lock* (so the snapshot holds
exactly the batches journaled before the rotation), writes the snapshot atomically (tmp, fsync,
rename), then deletes the older segments. A crash at any point leaves either the old snapshot and
all segments after it, or the new one: never a gap, never a batch counted twice.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import fcntl
import io
import json
import logging
import os
import pickle
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from llmpulse._zlib import crc32
from llmpulse.call import LLMCall
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import _contract as c
from llmpulse.spanmetrics._aggregate import SeriesSnapshot, SpanMetrics, journal_rows

log = logging.getLogger("llmpulse.state")

FsyncPolicy = Literal["never", "interval", "always"]
SNAPSHOT_VERSION = 1
#: the LLMCall fields span metrics read, in WAL column order (the rest never reaches a series);
#: ``_aggregate.journal_rows`` reads them in this order
_FIELDS = (
    "dialect",
    "operation",
    "provider",
    "request_model",
    "response_model",
    "service_name",
    "dimensions",
    "duration_s",
    "error_class",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "streaming",
    "ttft_s",
    "cost_usd",
)
_BY_NAME = {d.name: d for d in c.ALL}


class StateDirInUse(RuntimeError):
    """Another llmpulse process holds this data directory (two writers would corrupt the WAL)."""


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
#: first byte of a pickled body (a JSON body starts with ``[``)
_PICKLED = b"P"


class _NotBuiltin(Exception):
    """A row holds something other than None, bool, int, float, str, dict, list or tuple."""


class _Pickler(pickle.Pickler):
    """Pickles exact builtin types only, so that the rows read back are the rows written.

    The C pickler writes exact ``None``/``bool``/``int``/``float``/``str``/``dict``/``list``/
    ``tuple`` without asking ``reducer_override``; anything else (a ``str`` subclass, an enum)
    lands here and the batch is written as JSON instead, which is what it always was.
    """

    def reducer_override(self, obj: Any) -> Any:
        raise _NotBuiltin(type(obj).__name__)


class _Unpickler(pickle.Unpickler):
    """Reads builtin values only: a pickle naming any class or function is refused (it could
    only come from a damaged or forged file), so loading a line never runs code."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"WAL rows hold builtin values only, not {module}.{name}")


def encode_batch(calls: Sequence[LLMCall]) -> bytes:
    """One WAL line: CRC-32 of the body, a space, the body, a newline.

    The body is the call rows pickled (protocol 5) and base64-encoded behind ``P``: the journal
    runs before every Export returns, and JSON spent ~3 µs per call, most of it writing floats
    and the dimensions dict as text; the pickle takes a quarter of that. Rows pickle cannot
    write as plain builtins get the JSON body of earlier versions (``decode_batch`` reads both).
    """
    rows = journal_rows(calls)  # tuples: JSON writes each as the same array a list would give
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, 5).dump(rows)
    except _NotBuiltin:
        body = _ENCODE(rows).encode()
    else:
        body = _PICKLED + binascii.b2a_base64(buffer.getbuffer(), newline=False)
    return b"%08x %s\n" % (crc32(body), body)


def decode_batch(line: bytes) -> list[LLMCall] | None:
    """The calls of one WAL line (either body), or None when it is torn or corrupt."""
    crc, _, body = line.rstrip(b"\n").partition(b" ")
    try:
        if int(crc, 16) != crc32(body):
            return None
        if body[:1] == _PICKLED:
            rows = _Unpickler(io.BytesIO(binascii.a2b_base64(body[1:]))).load()
        else:
            rows = json.loads(body)
        return [LLMCall(**dict(zip(_FIELDS, row, strict=True))) for row in rows]
    except (ValueError, TypeError, EOFError, IndexError, KeyError, AttributeError, pickle.UnpicklingError):
        # binascii.Error is a ValueError; a damaged pickle raises any of the others
        return None


class StateStore:
    """Makes a ``SpanMetrics`` aggregate survive restarts and crashes.

    >>> store = StateStore(data_dir / "state", spanmetrics, selfmetrics)
    >>> store.open()               # restore snapshot + replay WAL, then journal every batch
    >>> await store.start()        # periodic fsync and checkpoints
    >>> await store.close()        # final checkpoint, release the directory
    """

    def __init__(
        self,
        directory: Path,
        metrics: SpanMetrics,
        selfmetrics: SelfMetrics,
        *,
        fsync: FsyncPolicy = "interval",
        fsync_interval_s: float = 1.0,
        checkpoint_interval_s: float = 60.0,
        max_wal_bytes: int = 64 << 20,
    ) -> None:
        self.directory = directory
        self._metrics = metrics
        self._wal_gauge = selfmetrics.state_wal_bytes
        self._fsync = fsync
        self._fsync_interval = fsync_interval_s
        self._checkpoint_interval = checkpoint_interval_s
        self._max_wal = max_wal_bytes
        self._fd_lock = threading.Lock()
        self._checkpoint_lock = threading.Lock()
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._segment = 0
        self._wal_bytes = 0  # in segments not yet covered by the snapshot
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self.replayed_batches = 0
        self.corrupt_lines = 0

    # -- start-up ------------------------------------------------------------------------------
    def open(self) -> None:
        """Take the directory, restore the snapshot, replay the WAL, start journaling."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        snapshot = self.directory / "snapshot.json"
        next_segment = 0
        if snapshot.exists():
            next_segment = self._restore(snapshot)
        segments = self._segments()
        for number, path in segments:
            if number >= next_segment:
                self._replay(path)
        self._segment = max([next_segment, *(n + 1 for n, _ in segments)])
        self._fd = self._open_segment(self._segment)
        self._metrics.journal = self._journal
        # Start from a compact state: replayed segments fold into a fresh snapshot.
        self.checkpoint()
        if self.replayed_batches or self.corrupt_lines:
            log.info(
                "state restored from %s: %d WAL batch(es) replayed, %d torn/corrupt line(s) skipped",
                self.directory,
                self.replayed_batches,
                self.corrupt_lines,
            )

    def _take_lock(self) -> None:
        fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StateDirInUse(
                f"{self.directory} is used by another llmpulse process (pid {holder}); give each "
                "replica or worker its own --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _restore(self, path: Path) -> int:
        try:
            doc = json.loads(path.read_bytes())
            if doc.get("version") != SNAPSHOT_VERSION:
                raise ValueError(f"unknown snapshot version {doc.get('version')!r}")
        except (OSError, ValueError) as exc:
            raise RuntimeError(
                f"cannot read the span-metrics snapshot {path}: {exc}; move it aside to start from "
                "zero (counters will reset)"
            ) from exc
        snaps: list[SeriesSnapshot] = []
        for row in doc["series"]:
            d = _BY_NAME.get(row["m"])
            labels = tuple((k, v) for k, v in row["l"])
            if d is None or (d.kind == "histogram" and len(row["b"]) != len(d.buckets) + 1):
                log.warning(
                    "snapshot series %s%s no longer fits the metric contract; skipped", row["m"], labels
                )
                continue
            if d.kind == "histogram":
                snaps.append(
                    SeriesSnapshot(d, labels, bucket_counts=tuple(row["b"]), total=row["s"], count=row["c"])
                )
            else:
                snaps.append(SeriesSnapshot(d, labels, value=row["v"]))
        self._metrics.restore(snaps)
        return int(doc["next_segment"])

    def _replay(self, path: Path) -> None:
        with path.open("rb") as f:
            for line in f:
                calls = decode_batch(line)
                if calls is None:
                    # A torn last line is a batch whose Export never returned: the client retries it.
                    self.corrupt_lines += 1
                    continue
                self._metrics.record(calls, journal=False)
                self.replayed_batches += 1
                self._wal_bytes += len(line)

    def _segments(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.directory.glob("wal-*.log"):
            with contextlib.suppress(ValueError):
                found.append((int(path.stem.removeprefix("wal-")), path))
        return sorted(found)

    def _open_segment(self, number: int) -> int:
        return os.open(
            self.directory / f"wal-{number:010d}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
        )

    # -- the journal (called by SpanMetrics.record under its lock) ----------------------------
    def _journal(self, calls: Sequence[LLMCall]) -> None:
        line = encode_batch(calls)
        with self._fd_lock:
            if self._fd is None:
                raise RuntimeError("state store is closed")
            os.write(self._fd, line)
            if self._fsync == "always":
                os.fsync(self._fd)
            self._wal_bytes += len(line)
            self._dirty = True

    @property
    def wal_bytes(self) -> int:
        return self._wal_bytes

    # -- checkpoints --------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Snapshot the aggregate, rotate the WAL and delete the segments the snapshot covers."""
        with self._checkpoint_lock:
            old: list[int | None] = [None]

            def rotate() -> None:  # under the aggregate's lock: no batch in between
                with self._fd_lock:
                    old[0] = self._fd
                    self._segment += 1
                    self._fd = self._open_segment(self._segment)
                    self._wal_bytes = 0
                    self._dirty = False

            snaps = self._metrics.snapshot(under_lock=rotate)
            self._write_snapshot(snaps, self._segment)
            if old[0] is not None:
                os.close(old[0])
            for number, path in self._segments():
                if number < self._segment:
                    path.unlink(missing_ok=True)
            self._wal_gauge.set(self._wal_bytes)

    def _write_snapshot(self, snaps: list[SeriesSnapshot], next_segment: int) -> None:
        rows: list[dict[str, Any]] = []
        for s in snaps:
            row: dict[str, Any] = {"m": s.metric.name, "l": [list(p) for p in s.labels]}
            if s.metric.kind == "histogram":
                row.update(b=list(s.bucket_counts), s=s.total, c=s.count)
            else:
                row["v"] = s.value
            rows.append(row)
        doc = {
            "version": SNAPSHOT_VERSION,
            "next_segment": next_segment,
            "written": time.time(),
            "series": rows,
        }
        path = self.directory / "snapshot.json"
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(json.dumps(doc, separators=(",", ":")).encode())
            f.flush()
            if self._fsync != "never":
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if self._fsync != "never":
            _fsync_dir(self.directory)

    def sync(self) -> None:
        """fsync the current WAL segment (the ``interval`` policy calls this on a timer)."""
        with self._fd_lock:
            if self._fd is not None and self._dirty:
                os.fsync(self._fd)
                self._dirty = False
        self._wal_gauge.set(self._wal_bytes)

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="llmpulse-state")

    async def _run(self) -> None:
        tick = min(self._fsync_interval, 1.0) if self._fsync == "interval" else 1.0
        last_checkpoint = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            try:
                if self._fsync == "interval":
                    await asyncio.to_thread(self.sync)
                else:
                    self._wal_gauge.set(self._wal_bytes)
                due = time.monotonic() - last_checkpoint >= self._checkpoint_interval
                if due or self._wal_bytes >= self._max_wal:
                    await asyncio.to_thread(self.checkpoint)
                    last_checkpoint = time.monotonic()
            except OSError as exc:  # disk trouble: keep serving, the WAL still has the batches
                log.error("state checkpoint failed: %s", exc)

    async def close(self) -> None:
        """Final checkpoint (a clean restart replays nothing) and release the directory."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._fd is not None:
            try:
                self.checkpoint()
            except OSError as exc:
                log.error("final state checkpoint failed (the WAL keeps the data): %s", exc)
        self.release()

    def release(self) -> None:
        """Stop journaling and let another process take the directory (no checkpoint)."""
        if self._metrics.journal == self._journal:
            self._metrics.journal = None
        with self._fd_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
