"""A persistent FIFO of export requests for one forward target, bounded in bytes.

Layout under ``<data_dir>/forward/<target>/``: numbered segment files of records, and a
``cursor`` file naming the first record not yet delivered. A record is one ``writev()`` of a
17-byte header (magic, payload length, CRC-32, signal, item count) and the serialized
``Export*ServiceRequest``; it is in the OS page cache when ``put`` returns, so a killed process
(``kill -9``) loses nothing it acknowledged (``fsync`` adds power-loss safety). The cursor moves
only after the target accepted a record: a crash between the two re-sends that record, so
delivery is at-least-once. The cursor is one 20-byte in-place write with a CRC (a rename per
acknowledgement costs milliseconds on some filesystems); a cursor found torn is ignored and the
queue re-sends from its oldest segment: duplicates, never loss.

Several senders may take records at once (``take``: a read-ahead cursor hands each record to one
of them; ``take_batch``: the next record and those right after it of its signal, to be sent as
one export) and acknowledge them in any order. The durable cursor moves only over the contiguous
run of acknowledged records from the oldest one, and segments are deleted only behind it, so a
restart re-sends everything after it: a record acknowledged ahead of an older one still in flight
is sent twice if the process dies before the older one is acknowledged. ``size_bytes`` counts
every byte after the durable cursor (what a restart would re-send and what the disk holds),
``requests`` the records not acknowledged yet.

The disk is the record of what is pending. The queue also keeps the newest records it wrote in
memory (up to ``memory_bytes``: the ``bytes`` objects it was given, not copies), so a sender that
keeps up sends them without reading back and re-checking what it has just written; a record that
did not fit, and every record after a restart, is read from disk and checked against its CRC.

On open, the records after the cursor are scanned; a torn tail (a write cut by a crash, whose
request was therefore never acknowledged to its client) is cut off and counted.

>>> queue = DiskQueue(tmp_path / "q", capacity_bytes=1 << 20)
>>> queue.put("traces", 3, payload)
>>> entry = queue.take(timeout=1.0)
>>> queue.ack(entry)
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from llmpulse._zlib import crc32
from llmpulse.otlp import SIGNALS, Signal

_HEADER = struct.Struct("<4sIIBI")
_CURSOR = struct.Struct("<QQI")
_CURSOR_HEAD = struct.Struct("<QQ")
_CRC = struct.Struct("<I")
_MAGIC = b"LPQ1"
_SIGNAL_CODES: dict[Signal, int] = {s: i for i, s in enumerate(SIGNALS)}
_SEGMENT_SUFFIX = ".seg"


class QueueInUse(RuntimeError):
    """Another process holds the queue directory (two processes must never share one queue)."""


class UnreadableRecord(OSError):
    """A damaged record (or segment) where ``take`` was to read next; see ``skip_unreadable``."""

    def __init__(self, message: str, position: tuple[int, int], skips: int) -> None:
        super().__init__(message)
        self.position = position
        #: the queue's count of skips when it was met (a record written later at the same place
        #: after a skip is another record)
        self.skips = skips


@dataclass(frozen=True, slots=True)
class Entry:
    """One queued request, as the sender sees it."""

    segment: int
    offset: int
    end: int
    signal: Signal
    items: int
    payload: bytes

    @property
    def size(self) -> int:
        return self.end - self.offset


class DiskQueue:
    """Append by one writer; taken by several readers, acknowledged in any order (thread-safe)."""

    def __init__(
        self,
        directory: Path,
        capacity_bytes: int,
        *,
        segment_bytes: int = 16 << 20,
        fsync: bool = False,
        memory_bytes: int = 16 << 20,
    ) -> None:
        self.directory = directory
        self.capacity_bytes = capacity_bytes
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        #: newest pending records still in memory, by (segment, offset); at most ``memory_bytes``
        self._memory_bytes = memory_bytes
        self._recent: dict[tuple[int, int], Entry] = {}
        self._recent_bytes = 0
        self._cond = threading.Condition()
        self._closed = False
        #: records cut off as unreadable when the queue was opened
        self.corrupt_records = 0
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise QueueInUse(
                f"forward queue {directory} is used by another llmpulse process: give each process "
                "its own --data-dir"
            ) from None
        self._cursor = self._read_cursor()
        #: read-ahead cursor: the next record ``take`` hands out (the durable one is ``_cursor``)
        self._read = self._cursor
        self._read_lock = threading.Lock()
        #: records taken and not yet behind the durable cursor, in queue order:
        #: (segment, offset, cursor segment after it, cursor offset after it, bytes)
        self._taken: deque[tuple[int, int, int, int, int]] = deque()
        #: positions in ``_taken`` already acknowledged (out of order, ahead of an older one)
        self._acked: set[tuple[int, int]] = set()
        self._in_flight = 0
        self._skips = 0
        self._cursor_fd = os.open(directory / "cursor", os.O_RDWR | os.O_CREAT, 0o644)
        self._pending_bytes = 0
        self._pending_requests = 0
        self._recover()
        segments = self._segments()
        self._first_segment = segments[0] if segments else self._cursor[0]
        self._tail_id = segments[-1] if segments else max(self._cursor[0], 1)
        self._tail_fd = self._open_segment(self._tail_id)
        self._tail_size = os.fstat(self._tail_fd).st_size

    # -- state on disk -------------------------------------------------------------------------
    def _segment_path(self, segment: int) -> Path:
        return self.directory / f"{segment:012d}{_SEGMENT_SUFFIX}"

    def _open_segment(self, segment: int) -> int:
        return os.open(self._segment_path(segment), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _segments(self) -> list[int]:
        found = []
        for path in self.directory.iterdir():
            if path.suffix == _SEGMENT_SUFFIX and path.stem.isdigit():
                found.append(int(path.stem))
        return sorted(found)

    def _read_cursor(self) -> tuple[int, int]:
        try:
            data = (self.directory / "cursor").read_bytes()
        except FileNotFoundError:
            data = b""
        if len(data) == _CURSOR.size:
            segment, offset, crc = _CURSOR.unpack(data)
            if crc32(data[:16]) == crc and self._segment_path(segment).exists():
                return int(segment), int(offset)
        segments = self._segments()  # no cursor yet, or a torn one: start at the oldest record
        return (segments[0] if segments else 1), 0

    def _write_cursor(self) -> None:
        head = _CURSOR_HEAD.pack(*self._cursor)
        os.pwrite(self._cursor_fd, head + _CRC.pack(crc32(head)), 0)
        if self._fsync:
            os.fsync(self._cursor_fd)

    def _recover(self) -> None:
        """Count what is pending after the cursor; cut a torn tail off the last segment."""
        for stale in (s for s in self._segments() if s < self._cursor[0]):
            self._segment_path(stale).unlink(missing_ok=True)
        self._pending_requests, self._pending_bytes = self._scan(self._cursor, cut=True)

    def _scan(self, start: tuple[int, int], *, cut: bool = False) -> tuple[int, int]:
        """Requests and bytes of the intact records from ``start`` on. An unreadable record ends
        its segment (counted in ``corrupt_records`` when ``cut``, and cut off the last segment)."""
        requests = nbytes = 0
        segments = [s for s in self._segments() if s >= start[0]]
        for index, segment in enumerate(segments):
            path = self._segment_path(segment)
            offset = start[1] if segment == start[0] else 0
            with open(path, "rb") as handle:
                handle.seek(offset)
                while True:
                    header = handle.read(_HEADER.size)
                    if not header:
                        break
                    size = self._check(handle, header)
                    if size is None:
                        if cut:
                            self.corrupt_records += 1
                            if index == len(segments) - 1:
                                os.truncate(path, offset)
                        break
                    nbytes += size
                    requests += 1
                    offset += size
        return requests, nbytes

    @staticmethod
    def _check(handle: BinaryIO, header: bytes) -> int | None:
        """The record's size if it is whole and intact, else ``None`` (the handle moves past it)."""
        if len(header) < _HEADER.size:
            return None
        magic, length, crc, code, _items = _HEADER.unpack(header)
        length = int(length)
        if magic != _MAGIC or code >= len(SIGNALS):
            return None
        payload = handle.read(length)
        if len(payload) != length or crc32(payload) != crc:
            return None
        return _HEADER.size + length

    # -- writer --------------------------------------------------------------------------------
    @property
    def size_bytes(self) -> int:
        return self._pending_bytes

    @property
    def requests(self) -> int:
        return self._pending_requests

    def has_room(self, nbytes: int) -> bool:
        """Whether a request of about ``nbytes`` fits; an empty queue takes any one request."""
        return self._pending_requests == 0 or self._pending_bytes + nbytes <= self.capacity_bytes

    def put(self, signal: Signal, items: int, payload: bytes) -> None:
        """Append a request; it is durable against a process crash when this returns."""
        if type(payload) is not bytes:  # kept in memory until sent: must not change under us
            payload = bytes(payload)
        header = _HEADER.pack(_MAGIC, len(payload), crc32(payload), _SIGNAL_CODES[signal], items)
        size = _HEADER.size + len(payload)
        with self._cond:
            if self._closed:
                raise OSError("the forward queue is closed")
            if self._tail_size > 0 and self._tail_size + size > self._segment_bytes:
                fd = self._open_segment(self._tail_id + 1)  # an error here changes nothing
                os.close(self._tail_fd)
                self._tail_id, self._tail_fd, self._tail_size = self._tail_id + 1, fd, 0
            offset = self._tail_size
            self._append(header, payload, size)
            self._tail_size += size
            self._pending_bytes += size
            self._pending_requests += 1
            if self._recent_bytes + size <= self._memory_bytes:
                entry = Entry(self._tail_id, offset, offset + size, signal, items, payload)
                self._recent[(self._tail_id, offset)] = entry
                self._recent_bytes += size
            self._cond.notify()

    def _append(self, header: bytes, payload: bytes, size: int) -> None:
        """One ``writev`` of the record (header and payload are not joined into a copy first)."""
        try:
            written = os.writev(self._tail_fd, (header, payload))
            while written < size:  # a short write (disk nearly full): the rest, or the error
                written += os.write(self._tail_fd, (header + payload)[written:])
            if self._fsync:
                os.fsync(self._tail_fd)
        except OSError:
            # leave no torn record behind for the next one to follow; if even that fails, the
            # reader meets the torn bytes as an unreadable record (dropped and counted)
            try:
                os.ftruncate(self._tail_fd, self._tail_size)
            except OSError:
                with suppress(OSError):
                    self._tail_size = os.fstat(self._tail_fd).st_size
            raise

    # -- readers -------------------------------------------------------------------------------
    def take(self, timeout: float | None = None) -> Entry | None:
        """The oldest request not yet handed out (each one to one caller), or ``None`` after
        ``timeout``. Several senders may take at once; each acknowledges its own entry, in any order."""
        batch = self.take_batch(timeout)
        return batch[0] if batch else None

    def take_batch(
        self, timeout: float | None = None, max_bytes: int = 0, wait_s: float = 0.0
    ) -> list[Entry]:
        """``take``, and with it the requests queued right after that one, of its signal, while
        their payloads come to at most ``max_bytes`` together; after the first, up to ``wait_s``
        for more to arrive. Sent as one export (a protobuf message concatenated to another of its
        type is the two merged), they cost one call instead of several: the per-call cost of a
        gRPC or HTTP send is most of what sending costs. Each entry is acknowledged on its own.
        Empty after ``timeout`` with nothing queued."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._read_lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            return []
        try:  # one reader at a time moves the read-ahead cursor; the writer is not held up
            first = self._take_next(deadline, None)
            if first is None:
                return []
            batch = [first]
            size = len(first.payload)
            until = time.monotonic() + wait_s

            def fits(entry: Entry) -> bool:
                return entry.signal == first.signal and size + len(entry.payload) <= max_bytes

            while size < max_bytes:
                try:
                    entry = self._take_next(until, fits)
                except OSError:  # a damaged record: the next ``take`` meets it and skips it
                    break
                if entry is None:
                    break
                batch.append(entry)
                size += len(entry.payload)
            return batch
        finally:
            self._read_lock.release()

    def _take_next(self, deadline: float | None, accept: Callable[[Entry], bool] | None) -> Entry | None:
        """The next request, handed out if ``accept`` takes it (else it stays next), waiting
        until ``deadline`` for one; ``None`` if there is none. Holds ``_read_lock``."""
        with self._cond:
            while self._pending_requests - self._in_flight == 0 and not self._closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            if self._pending_requests - self._in_flight == 0 or self._closed:
                return None
            segment, offset = self._read
            entry = self._recent.get((segment, offset))
        if entry is None:
            entry, segment = self._read_disk(segment, offset)
        with self._cond:
            if entry is None or self._closed or (accept is not None and not accept(entry)):
                return None
            self._read = (entry.segment, entry.end)
            self._in_flight += 1
            self._taken.append((entry.segment, entry.offset, entry.segment, entry.end, entry.size))
            return entry

    def _read_disk(self, segment: int, offset: int) -> tuple[Entry | None, int]:
        """The record at ``(segment, offset)``, or at the start of the next segment when that is
        the end of a finished one; ``(None, segment)`` if there is none (yet)."""
        while True:
            path = self._segment_path(segment)
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    header = handle.read(_HEADER.size)
                    if header:
                        magic, length, crc, code, items = _HEADER.unpack_from(header.ljust(_HEADER.size))
                        payload = handle.read(length)
                        if magic == _MAGIC and len(payload) == length and crc32(payload) == crc:
                            end = offset + _HEADER.size + length
                            return Entry(segment, offset, end, SIGNALS[code], items, payload), segment
            except OSError as exc:
                raise UnreadableRecord(f"cannot read {path}: {exc}", (segment, offset), self._skips) from exc
            if header:
                message = f"unreadable record in {path} at offset {offset}"
                raise UnreadableRecord(message, (segment, offset), self._skips)
            # end of a finished segment: the next record starts the next segment
            with self._cond:
                if segment >= self._tail_id:
                    return None, segment
                segment, offset = segment + 1, 0
                self._read = (segment, 0)
                recent = self._recent.get((segment, offset))
            if recent is not None:
                return recent, segment

    def peek(self, timeout: float | None = None) -> Entry | None:
        """For one reader in strict order: the oldest request taken and not acknowledged (the
        same one until ``ack``), else the next one ``take`` gives, or ``None`` after ``timeout``."""
        with self._cond:
            for segment, offset, _s, _e, _size in self._taken:
                if (segment, offset) not in self._acked:
                    entry = self._recent.get((segment, offset))
                    if entry is not None:
                        return entry
                    return self._read_disk(segment, offset)[0]
        return self.take(timeout)

    def ack(self, *entries: Entry) -> None:
        """Mark ``entries`` delivered (or given up). The durable cursor moves only past the
        contiguous run of acknowledged records from the oldest one, once for all of them (a
        batch sent as one export writes the cursor once); an entry acknowledged ahead of an
        older one still in flight is sent again after a crash (at-least-once)."""
        with self._cond:
            if self._closed:
                return
            for entry in entries:
                if self._recent.pop((entry.segment, entry.offset), None) is not None:
                    self._recent_bytes -= entry.size
                self._in_flight -= 1
                self._pending_requests -= 1
                self._acked.add((entry.segment, entry.offset))
            self._advance()

    def _advance(self) -> None:
        """Move the durable cursor over the acknowledged records at the head of ``_taken``;
        free their bytes, write the cursor, delete the segments left behind. Holds ``_cond``."""
        taken, acked = self._taken, self._acked
        moved = False
        while taken and (taken[0][0], taken[0][1]) in acked:
            segment, offset, after_segment, after_offset, size = taken.popleft()
            acked.discard((segment, offset))
            self._cursor = (after_segment, after_offset)
            self._pending_bytes -= size
            moved = True
        if not moved:
            return
        self._write_cursor()
        if self._cursor[0] > self._first_segment:  # finished segments can go
            for segment in self._segments():
                if segment < self._cursor[0]:
                    self._segment_path(segment).unlink(missing_ok=True)
            self._first_segment = self._cursor[0]

    def skip_unreadable(self, failed: UnreadableRecord | None = None) -> int:
        """After ``take`` failed on a damaged record: give up the rest of its segment and return
        how many requests that discarded (they are counted as dropped, reason ``corrupt``).
        With ``failed`` (the error ``take`` raised), only the first of several senders that met
        the same record skips. Requests already taken are unaffected; the durable cursor jumps
        the gap once they are acknowledged."""
        with self._read_lock, self._cond:
            if self._closed or (
                failed is not None and (failed.position, failed.skips) != (self._read, self._skips)
            ):
                return 0
            self._skips += 1
            segment, offset = self._read
            self._recent.clear()  # the disk decides what is left
            self._recent_bytes = 0
            if segment >= self._tail_id:
                os.ftruncate(self._tail_fd, offset)
                self._tail_size = offset
            else:
                self._read = (segment + 1, 0)
                self._taken.append((segment, offset, segment + 1, 0, 0))  # the gap, "acknowledged"
                self._acked.add((segment, offset))
            before = self._pending_requests
            requests, nbytes = self._scan(self._read)
            self._pending_requests = requests + self._in_flight
            self._pending_bytes = nbytes + sum(t[4] for t in self._taken)
            self._advance()
            return before - self._pending_requests

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._recent.clear()
            os.close(self._tail_fd)
            os.close(self._cursor_fd)
            os.close(self._lock_fd)  # releases the flock
            self._cond.notify_all()
